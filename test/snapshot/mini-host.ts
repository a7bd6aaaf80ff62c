// A small host laid out as the kernel lays it out, for snapshot tests: a GPU slot behind a
// root port, an SR-IOV NIC behind a chain of bridges deep enough for tar paths and link targets
// past 100 bytes, write-only attributes (0200), device memory and a binary config space, and
// personal data (processes, mounts, network, hostname, EDID) that a snapshot must leave out.
import { chmodSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { extract, type Header } from 'tar-stream';
import { makeTree, type Entry } from '../helpers/tree.js';

const DEVICES = 'sys/devices/pci0000:00';
const CHAIN = ['0000:00:1c.0', '0000:02:00.0', '0000:03:01.0', '0000:04:00.0', '0000:05:00.0'];

interface Fn {
  addr: string;
  dir: string;
  vendor: string;
  device: string;
  cls: string;
  driver?: string;
  group: number;
}

const fns: Fn[] = [
  { addr: '0000:00:00.0', dir: `${DEVICES}/0000:00:00.0`, vendor: '8086', device: '4660', cls: '060000', group: 0 },
  { addr: '0000:00:01.0', dir: `${DEVICES}/0000:00:01.0`, vendor: '8086', device: '460d', cls: '060400', driver: 'pcieport', group: 1 },
  { addr: '0000:01:00.0', dir: `${DEVICES}/0000:00:01.0/0000:01:00.0`, vendor: '10de', device: '2204', cls: '030000', driver: 'nvidia', group: 2 },
  { addr: '0000:01:00.1', dir: `${DEVICES}/0000:00:01.0/0000:01:00.1`, vendor: '10de', device: '1aef', cls: '040300', driver: 'snd_hda_intel', group: 2 },
  ...CHAIN.map((addr, i) => ({
    addr, dir: `${DEVICES}/${CHAIN.slice(0, i + 1).join('/')}`, vendor: '8086', device: '7ab8', cls: '060400', driver: 'pcieport', group: 3,
  })),
  { addr: '0000:06:00.0', dir: `${DEVICES}/${CHAIN.join('/')}/0000:06:00.0`, vendor: '8086', device: '1533', cls: '020000', driver: 'igb', group: 4 },
  { addr: '0000:06:10.0', dir: `${DEVICES}/${CHAIN.join('/')}/0000:06:10.0`, vendor: '8086', device: '1520', cls: '020000', driver: 'igbvf', group: 5 },
];

export const GPU = fns[2]!;
export const PF = fns.find((f) => f.addr === '0000:06:00.0')!;
export const VF = fns.find((f) => f.addr === '0000:06:10.0')!;
export const WRITE_ONLY = ['bind', 'unbind', 'new_id', 'remove_id', 'uevent', 'reset', 'remove', 'rescan', 'drivers_probe'];
/** Config space with a recognisable header and a "serial number" past it. */
export const CONFIG = Buffer.concat([Buffer.from([0xde, 0x10, 0x04, 0x22, 0x07, 0x05, 0x10, 0x00]), Buffer.alloc(56, 0x81), Buffer.from('SERIAL-NUMBER-0042')]);

const rel = (from: string, to: string) => {
  const a = from.split('/').slice(0, -1);
  const b = to.split('/');
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => '..'), ...b.slice(i)].join('/');
};

function deviceEntries(f: Fn, t: Record<string, Entry>, modes: Record<string, number>): void {
  const d = f.dir;
  for (const [k, v] of [['vendor', f.vendor], ['device', f.device], ['class', f.cls], ['subsystem_vendor', f.vendor], ['subsystem_device', '0000']]) {
    t[`${d}/${k}`] = `0x${v}\n`;
    modes[`${d}/${k}`] = 0o444;
  }
  t[`${d}/driver_override`] = '(null)\n';
  t[`${d}/uevent`] = `PCI_SLOT_NAME=${f.addr}\n`;
  for (const w of ['remove', 'rescan']) t[`${d}/${w}`] = '';
  modes[`${d}/remove`] = modes[`${d}/rescan`] = 0o200;
  t[`${d}/power/autosuspend_delay_ms`] = '100\n';
  t[`${d}/power/runtime_status`] = 'active\n';
  t[`${d}/msi_irqs/40`] = 'msix\n';
  t[`${d}/pci_bus/0000:09/cpuaffinity`] = 'ff\n';
  t[`${d}/firmware_node`] = { link: '../../LNXSYSTM:00/LNXSYBUS:00/PNP0A08:00/device:01' };
  t[`${d}/subsystem`] = { link: rel(`${d}/subsystem`, 'sys/bus/pci') };
  t[`sys/bus/pci/devices/${f.addr}`] = { link: rel(`sys/bus/pci/devices/${f.addr}`, d) };
  t[`sys/kernel/iommu_groups/${f.group}/devices/${f.addr}`] = { link: rel(`sys/kernel/iommu_groups/${f.group}/devices/${f.addr}`, d) };
  t[`sys/kernel/iommu_groups/${f.group}/type`] = 'DMA\n';
  t[`${d}/iommu_group`] = { link: rel(`${d}/iommu_group`, `sys/kernel/iommu_groups/${f.group}`) };
  if (f.driver) {
    const drv = `sys/bus/pci/drivers/${f.driver}`;
    t[`${d}/driver`] = { link: rel(`${d}/driver`, drv) };
    t[`${drv}/${f.addr}`] = { link: rel(`${drv}/${f.addr}`, d) };
    for (const w of ['bind', 'unbind', 'new_id', 'remove_id', 'uevent']) {
      t[`${drv}/${w}`] = '';
      modes[`${drv}/${w}`] = 0o200;
    }
    if (f.driver !== 'pcieport') t[`${drv}/module`] = { link: rel(`${drv}/module`, `sys/module/${f.driver}`) };
  }
}

/** The mini host's root directory (removed after the test). */
export function miniHost(): string {
  const t: Record<string, Entry> = {};
  const modes: Record<string, number> = {};
  for (const f of fns) deviceEntries(f, t, modes);
  const gpu = GPU.dir;
  Object.assign(t, {
    [`${gpu}/boot_vga`]: '1\n', [`${gpu}/reset_method`]: 'flr bus\n', [`${gpu}/reset`]: '', [`${gpu}/resource0`]: 'BAR0-MEMORY',
    [`${gpu}/resource1_wc`]: 'BAR1', [`${gpu}/rom`]: 'VBIOS', [`${gpu}/vpd`]: 'VPD-SERIAL', [`${gpu}/drm/card0/card0-HDMI-A-1/edid`]: 'EDID-SERIAL',
    [`${gpu}/hwmon/hwmon3/name`]: 'nvidia\n', [`${PF.dir}/sriov_totalvfs`]: '7\n', [`${PF.dir}/sriov_numvfs`]: '1\n',
    [`${PF.dir}/virtfn0`]: { link: '../0000:06:10.0' }, [`${VF.dir}/physfn`]: { link: '../0000:06:00.0' },
    [`${PF.dir}/net/eth0/address`]: '52:54:00:12:34:56\n',
    'sys/bus/pci/drivers_probe': '', 'sys/bus/pci/rescan': '', 'sys/bus/pci/drivers_autoprobe': '1\n',
    'sys/class/iommu/dmar0': { link: '../../devices/virtual/iommu/dmar0' },
    'sys/devices/virtual/iommu/dmar0/intel-iommu/ecap': 'f020df\n',
    'sys/devices/virtual/iommu/dmar0/devices/0000:01:00.0': { link: `../../../../pci0000:00/0000:00:01.0/0000:01:00.0` },
    'sys/firmware/acpi/tables/DMAR': 'DMAR-TABLE-BYTES', 'sys/firmware/acpi/tables/APIC': 'APIC', 'sys/firmware/acpi/tables/dynamic/SSDT1': 'x',
    'sys/module/vfio/parameters/enable_unsafe_noiommu_mode': 'N\n', 'sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts': 'N\n',
    'sys/module/kvm_intel/parameters/nested': 'Y\n', 'sys/module/nvidia/initstate': 'live\n', 'sys/module/nvidia/parameters/NVreg_Foo': '1\n',
    'sys/module/ext4/parameters/bar': '1\n', 'sys/class/net/eth0': { link: `../../devices/pci0000:00/${CHAIN.join('/')}/0000:06:00.0/net/eth0` },
    'proc/cmdline': 'BOOT_IMAGE=/vmlinuz-6.1.0-18-amd64 root=UUID=1234 ro quiet intel_iommu=on iommu=pt\n',
    'proc/cpuinfo': 'processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU\nflags\t\t: fpu vmx\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx\n',
    'proc/modules': 'nvidia 1 0 - Live 0x0\nvfio_pci 1 0 - Live 0x0\nvfio 1 0 - Live 0x0\nvfio_iommu_type1 1 0 - Live 0x0\n',
    'proc/interrupts': '           CPU0\n 40:          0  IR-PCI-MSIX-0000:01:00.0    0-edge      nvidia\n',
    'proc/sys/kernel/osrelease': '6.1.0-18-amd64\n', 'proc/1/cmdline': 'secret-process', 'proc/mounts': '/dev/sda1 /home ext4 rw 0 0\n',
    'proc/net/route': 'Iface\tDestination\n', 'etc/hostname': 'my-secret-host\n', 'dev/kvm': '', 'dev/vfio/vfio': '', 'dev/vfio/2': '',
    'boot/config-6.1.0-18-amd64': '#\n# Linux/x86 6.1.0 Kernel Configuration\n#\nCONFIG_EXT4_FS=y\nCONFIG_INTEL_IOMMU=y\n# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\nCONFIG_VFIO_PCI=m\n',
    'lib/modules/6.1.0-18-amd64/modules.dep': 'kernel/fs/ext4/ext4.ko:\nkernel/drivers/vfio/vfio.ko:\nkernel/drivers/vfio/pci/vfio-pci.ko: kernel/drivers/vfio/vfio.ko\nkernel/drivers/vfio/vfio_iommu_type1.ko:\nupdates/dkms/nvidia.ko:\n',
    'lib/modules/6.1.0-18-amd64/modules.builtin': 'kernel/fs/ext4/ext4.ko\nkernel/drivers/pci/pcieport.ko\n',
    'etc/default/grub': 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"\nGRUB_CMDLINE_LINUX=""\n',
    'etc/default/grub.d/50-gpu.cfg': 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX iommu=pt"\n', 'etc/default/grub.d/README': 'not read',
    'etc/os-release': { link: '../usr/lib/os-release' }, 'usr/lib/os-release': 'ID=debian\nVERSION_ID="12"\n',
    'etc/initramfs-tools/modules': 'vfio\n', bin: { link: 'usr/bin' }, 'usr/bin/update-initramfs': '#!/bin/sh\n',
    'usr/share/misc/pci.ids': '# header\n10de  NVIDIA Corporation\n\t1aef  GA102 High Definition Audio Controller\n\t\t1043 87b3  sub\n\t2204  GA102 [GeForce RTX 3090]\n\t2206  GA102 [GeForce RTX 3080]\n1af4  Red Hat, Inc.\n\t1041  Virtio network\n8086  Intel Corporation\n\t1533  I210 Gigabit Network Connection\n\t1520  I350 Ethernet Controller Virtual Function\n\t7ab8  Alder Lake PCH-S PCI Express Root Port\nC 02  Network controller\n\t00  Ethernet controller\nC 03  Display controller\n\t00  VGA compatible controller\n\t\t00  VGA controller\nC 04  Multimedia controller\n\t03  Audio device\nC 06  Bridge\n\t00  Host bridge\n\t04  PCI bridge\nC 0c  Serial bus controller\n',
  });
  const root = makeTree(t);
  writeFileSync(`${root}/${gpu}/config`, CONFIG);
  Object.assign(modes, {
    [`${gpu}/reset`]: 0o200, [`${gpu}/resource0`]: 0o600, [`${gpu}/resource1_wc`]: 0o600, [`${gpu}/rom`]: 0o600, [`${gpu}/vpd`]: 0o600,
    'sys/bus/pci/drivers_probe': 0o200, 'sys/bus/pci/rescan': 0o200, 'sys/firmware/acpi/tables/DMAR': 0o400, 'sys/firmware/acpi/tables/APIC': 0o400,
    'usr/bin/update-initramfs': 0o755, 'dev/kvm': 0o660, 'proc/cmdline': 0o444,
  });
  for (const [p, m] of Object.entries(modes)) chmodSync(`${root}/${p}`, m);
  return root;
}

export interface TarMember {
  header: Header;
  data: Buffer;
}

/** Every member of a .tar.gz by name (directories without their trailing slash). */
export async function readTarGz(archive: Buffer): Promise<Map<string, TarMember>> {
  const ex = extract();
  ex.end(gunzipSync(archive));
  const members = new Map<string, TarMember>();
  for await (const entry of ex) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    members.set(entry.header.name.replace(/\/$/, ''), { header: entry.header, data: Buffer.concat(chunks) });
  }
  return members;
}

/** Directories in test/fixtures/sysfs, which another generator fills. */
export function fixtureTrees(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => statSync(`${dir}/${n}`).isDirectory());
  } catch {
    return [];
  }
}
