// The emulated machines, shared by the host (which builds the QEMU command line from it) and
// the guest (which knows from it where each device is). Bus numbers are the ones SeaBIOS
// gives the root ports in slot order (reference: real-kernel-findings, "Emulated topology").

export type MachineName = 'intel' | 'amd' | 'none';
export const MACHINES: readonly MachineName[] = ['intel', 'amd', 'none'];

export interface MachineSpec {
  name: MachineName;
  summary: string;
  /** The guest CPU's vendor: decides which IOMMU parameter doctor asks for. */
  cpuVendor: 'GenuineIntel' | 'AuthenticAMD';
  iommu: 'intel' | 'amd' | null;
  cmdline: string[];
  /** Runs the nested-VM scenarios: its image carries a QEMU and a kernel for a VM inside it. */
  nested: boolean;
}

export const MACHINE_SPECS: Record<MachineName, MachineSpec> = {
  intel: { name: 'intel', summary: 'q35 + Intel VT-d (intel-iommu, interrupt remapping)', cpuVendor: 'GenuineIntel', iommu: 'intel', cmdline: ['intel_iommu=on'], nested: true },
  // iommu=pt: QEMU 7.2's AMD-Vi does not translate DMA well enough for the emulated nvme, whose
  // probe then times out (60 s). VFIO groups and domains are the same either way.
  amd: { name: 'amd', summary: 'q35 + AMD-Vi (amd-iommu, interrupt remapping)', cpuVendor: 'AuthenticAMD', iommu: 'amd', cmdline: ['iommu=pt'], nested: false },
  none: { name: 'none', summary: 'q35 without an IOMMU', cpuVendor: 'GenuineIntel', iommu: null, cmdline: [], nested: false },
};

/** Where each emulated device sits in the guest (full PCI addresses). */
export const DEV = {
  /** The boot display (vgaarb's default device): a real host's iGPU or console GPU. */
  bootVga: '0000:00:09.0',
  /** The "GPU": a display function and its HDMI-audio-like HDA function in one slot, on root port rp1. */
  gpu: '0000:01:00.0',
  gpuAudio: '0000:01:00.1',
  /** An SR-IOV physical function (QEMU nvme with sriov_max_vfs). */
  nvme: '0000:02:00.0',
  /** A NIC alone in its group. */
  nic: '0000:03:00.0',
  /** A PCIe-to-PCI bridge: everything behind it shares one group. */
  bridge: '0000:04:00.0',
  bridgedNic: '0000:05:01.0',
  bridgedEdu: '0000:05:02.0',
  /** A device no host driver claims, alone in its group. */
  edu: '0000:06:00.0',
} as const;

/** The drivers the kernel binds at boot (what `release` must give back). */
export const BOOT_DRIVERS: Record<string, string | null> = {
  [DEV.bootVga]: 'bochs-drm',
  [DEV.gpu]: 'bochs-drm',
  [DEV.gpuAudio]: 'snd_hda_intel',
  [DEV.nvme]: 'nvme',
  [DEV.nic]: 'e1000e',
  [DEV.bridgedNic]: 'e1000',
  [DEV.bridgedEdu]: null,
  [DEV.edu]: null,
};

/** QEMU -device arguments for the devices above (the IOMMU comes first, separately). */
export function deviceArgs(): string[] {
  const d = (spec: string) => ['-device', spec];
  return [
    ...d('VGA,bus=pcie.0,addr=0x9'),
    ...d('pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x2'),
    ...d('bochs-display,bus=rp1,addr=0x0.0x0,multifunction=on'),
    ...d('ich9-intel-hda,bus=rp1,addr=0x0.0x1'),
    ...d('pcie-root-port,id=rp2,bus=pcie.0,chassis=2,addr=0x3'),
    ...d('nvme-subsys,id=nvmesubsys0,nqn=gpuvirt-e2e'),
    ...d('nvme,bus=rp2,serial=gpuvirt-e2e-0,subsys=nvmesubsys0,sriov_max_vfs=4,sriov_vq_flexible=8,sriov_vi_flexible=4,max_ioqpairs=10,msix_qsize=6'),
    ...d('pcie-root-port,id=rp3,bus=pcie.0,chassis=3,addr=0x4'),
    ...d('e1000e,bus=rp3,romfile='),
    ...d('pcie-root-port,id=rp4,bus=pcie.0,chassis=4,addr=0x5'),
    ...d('pcie-pci-bridge,id=br1,bus=rp4,addr=0x0'),
    ...d('e1000,bus=br1,addr=0x1,romfile='),
    ...d('edu,bus=br1,addr=0x2'),
    ...d('pcie-root-port,id=rp5,bus=pcie.0,chassis=5,addr=0x6'),
    ...d('edu,bus=rp5,addr=0x0'),
  ];
}
