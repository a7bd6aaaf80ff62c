// Every host path gpuvirt knows, as an absolute path on the host. The Host resolves them
// under its root, so these are the only place the kernel's file layout is spelled out.
// Attribute names are the kernel's own (Documentation/ABI/testing/sysfs-bus-pci).

const PCI = '/sys/bus/pci';

export const paths = {
  pciDevices: `${PCI}/devices`,
  pciDevice: (addr: string) => `${PCI}/devices/${addr}`,
  pciAttr: (addr: string, attr: string) => `${PCI}/devices/${addr}/${attr}`,
  pciDrivers: `${PCI}/drivers`,
  pciDriver: (name: string) => `${PCI}/drivers/${name}`,
  pciDriverAttr: (name: string, attr: 'bind' | 'unbind' | 'new_id' | 'remove_id') => `${PCI}/drivers/${name}/${attr}`,
  pciDriversProbe: `${PCI}/drivers_probe`,

  iommuGroups: '/sys/kernel/iommu_groups',
  iommuGroupDevices: (group: number) => `/sys/kernel/iommu_groups/${group}/devices`,
  classIommu: '/sys/class/iommu',
  /** intel-iommu exposes its capability registers here (drivers/iommu/intel/iommu.c). */
  intelIommuEcap: (unit: string) => `/sys/class/iommu/${unit}/intel-iommu/ecap`,
  acpiTables: '/sys/firmware/acpi/tables',
  acpiTable: (sig: string) => `/sys/firmware/acpi/tables/${sig}`,
  sysModule: (name: string) => `/sys/module/${name}`,
  moduleParam: (name: string, param: string) => `/sys/module/${name}/parameters/${param}`,
  sysBlock: '/sys/block',
  cpuOnline: '/sys/devices/system/cpu/online',
  hugepagesDir: '/sys/kernel/mm/hugepages',
  sysClassNet: '/sys/class/net',
  procDir: '/proc',
  procPid: (pid: string | number) => `/proc/${pid}`,
  procNetRoute: '/proc/net/route',
  procNetIpv6Route: '/proc/net/ipv6_route',
  procNetIfInet6: '/proc/net/if_inet6',
  procSwaps: '/proc/swaps',
  /** The NVIDIA driver's per-GPU file; its "Device Minor" names /dev/nvidiaN. */
  nvidiaGpuInfo: (addr: string) => `/proc/driver/nvidia/gpus/${addr}/information`,

  procCmdline: '/proc/cmdline',
  procCpuinfo: '/proc/cpuinfo',
  procModules: '/proc/modules',
  procInterrupts: '/proc/interrupts',
  procMounts: '/proc/mounts',
  osrelease: '/proc/sys/kernel/osrelease',
  /** The UTS hostname, as uname -n gives it. */
  procHostname: '/proc/sys/kernel/hostname',

  devKvm: '/dev/kvm',
  devVfio: '/dev/vfio',
  devVfioGroup: (group: number) => `/dev/vfio/${group}`,

  osRelease: ['/etc/os-release', '/usr/lib/os-release'],
  /** systemd's machine-id(5): the host's stable identity in JSON documents. */
  machineId: '/etc/machine-id',
  etcDefaultGrub: '/etc/default/grub',
  etcKernelCmdline: '/etc/kernel/cmdline',
  proxmoxBootUuids: '/etc/kernel/proxmox-boot-uuids',
  kernelstubConfig: '/etc/kernelstub/configuration',
  loaderEntryDirs: ['/boot/loader/entries', '/efi/loader/entries', '/boot/efi/loader/entries'],
  grub2Dirs: ['/boot/grub2', '/boot/efi/EFI/fedora', '/boot/efi/EFI/redhat'],
  kernelConfig: (release: string) => `/boot/config-${release}`,
  modulesDep: (release: string) => `/lib/modules/${release}/modules.dep`,
  modulesBuiltin: (release: string) => `/lib/modules/${release}/modules.builtin`,

  /** Files gpuvirt owns for boot-time passthrough; each is rewritten whole from the state. */
  persist: {
    udevRule: '/etc/udev/rules.d/41-gpuvirt-passthrough.rules',
    modprobe: '/etc/modprobe.d/gpuvirt-passthrough.conf',
    initramfsToolsHook: '/etc/initramfs-tools/hooks/gpuvirt-passthrough',
    dracut: '/etc/dracut.conf.d/gpuvirt-passthrough.conf',
    mkinitcpio: '/etc/mkinitcpio.conf.d/gpuvirt-passthrough.conf',
  },
  initramfsTools: '/etc/initramfs-tools',
  initramfsToolsModules: '/etc/initramfs-tools/modules',
  etcModules: '/etc/modules',
  modulesLoadDir: '/etc/modules-load.d',
  setupFiles: {
    modulesLoad: '/etc/modules-load.d/gpuvirt-vfio.conf',
    dracut: '/etc/dracut.conf.d/gpuvirt-vfio.conf',
    mkinitcpio: '/etc/mkinitcpio.conf.d/gpuvirt-vfio.conf',
  },
  grubCfg: ['/boot/grub/grub.cfg', '/boot/grub2/grub.cfg'],
  efiDir: '/sys/firmware/efi',
  dracutConf: ['/etc/dracut.conf', '/etc/dracut.conf.d'],
  mkinitcpioConf: '/etc/mkinitcpio.conf',
  binDirs: ['/usr/sbin', '/usr/bin', '/sbin', '/bin'],

  sriovPersist: {
    udevRule: '/etc/udev/rules.d/42-gpuvirt-sriov.rules',
    gimOptions: '/etc/modprobe.d/gpuvirt-gim.conf',
    nvidiaUnit: '/etc/systemd/system/gpuvirt-nvidia-sriov.service',
  },
  /** NVIDIA's vGPU host package puts its VF tool here (vGPU user guide). */
  nvidiaSriovManage: '/usr/lib/nvidia/sriov-manage',
  mdevBus: '/sys/class/mdev_bus',
  mdevDevices: '/sys/bus/mdev/devices',

  pciIds: ['/usr/share/misc/pci.ids', '/usr/share/hwdata/pci.ids', '/usr/share/pci.ids'],
  /** systemd's PCI names, regenerated from pci.ids with each udev release (udev/hwdb.d). */
  pciHwdb: ['/usr/lib/udev/hwdb.d/20-pci-vendor-model.hwdb', '/lib/udev/hwdb.d/20-pci-vendor-model.hwdb'],

  stateDir: '/var/lib/gpuvirt',
  stateFile: '/var/lib/gpuvirt/state.json',
  backupDir: '/var/lib/gpuvirt/backups',
  lockFile: '/run/gpuvirt.lock',
} as const;
