// The facts table: GPU families × sharing mechanism × what the kernel and driver need, one row
// per pair, each with its source. It is data: doctor's sharing verdict and `vgpu` read it, and
// nothing here looks at a host. A device missing from every row is "not in the table", never
// "impossible": only a family's own row may rule a mechanism out.
//
// Device ids are PCI ids (pci.ids names in comments). Kernel versions are major*100+minor.

export type Mechanism = 'sriov' | 'vendor-vfio' | 'mdev' | 'mig' | 'gvt-g';

export interface MigProfile {
  /** nvidia-smi's GPU instance profile name and id (`nvidia-smi mig -lgip`). */
  name: string;
  id: number;
  /** How many of it fit on an empty GPU. */
  instances: number;
}

export interface FamilyRow {
  family: string;
  label: string;
  vendorId: '10de' | '1002' | '8086';
  deviceIds: readonly string[];
  mechanism: Mechanism;
  /** false: this family cannot do this mechanism at all (a documented "no"). */
  supported: boolean;
  /** Host driver (PCI driver name) the mechanism needs on the PF. */
  driver?: string;
  /** Driver branch or package, as the vendor names it. */
  driverBranch?: string;
  kernelMin?: number;
  /** Exclusive: the mechanism is gone from this kernel version on. */
  kernelBelow?: number;
  /** Legal VF counts when the vendor ties them to modes; otherwise 1..maxVfs. */
  legalVfs?: readonly number[];
  maxVfs?: number;
  /** Kernel parameters the mechanism needs at boot. */
  params?: readonly string[];
  migProfiles?: readonly MigProfile[];
  source: string;
}

const PVE_MDEV = 'proxmox/pve-common src/PVE/SysFSTools.pm get_mdev_types ("nvidia driver for kernel 6.8 or higher"); proxmox/qemu-server src/PVE/QemuServer/PCI/Mdev.pm';
const NV_VGPU = 'NVIDIA vGPU user guide, Linux with KVM: vendor-specific VFIO framework on kernel 6.8+ (vGPU 17 and later); NVIDIA/gpu-operator#2594';
/** Sources disagree on Ampere: Proxmox's rule is the kernel, a vgpu-device-manager README the architecture. */
const AMPERE_DOUBT = ' (UNCERTAIN for Ampere: a vgpu-device-manager README says mdev "up to and including Ampere", vendor VFIO from Ada on; host facts decide)';
const MIG_GUIDE = 'NVIDIA MIG user guide, "Supported MIG Profiles" (docs.nvidia.com/datacenter/tesla/mig-user-guide)';

// NVIDIA families whose vGPU runs on SR-IOV VFs (Ampere and later, data-center boards).
const AMPERE_SRIOV = ['2235', '2236', '25b6', '20b0', '20b2', '20b5', '20f1', '20b7']; // A40, A10, A2/A16, A100 x4, A30
const ADA_SRIOV = ['26b9', '26b5', '27b8', '26b1']; // L40S, L40, L4, RTX 6000 Ada
const HOPPER_SRIOV = ['2330', '2331', '2321']; // H100 SXM5, H100 PCIe, H100 NVL
const PRE_AMPERE = ['1eb8', '1db4', '1b38', '1bb3']; // T4, V100 PCIe, P40, P4

const H100_80GB: MigProfile[] = [
  { name: '1g.10gb', id: 19, instances: 7 },
  { name: '1g.10gb+me', id: 20, instances: 1 },
  { name: '1g.20gb', id: 15, instances: 4 },
  { name: '2g.20gb', id: 14, instances: 3 },
  { name: '3g.40gb', id: 9, instances: 2 },
  { name: '4g.40gb', id: 5, instances: 1 },
  { name: '7g.80gb', id: 0, instances: 1 },
];
const A100_40GB: MigProfile[] = [
  { name: '1g.5gb', id: 19, instances: 7 },
  { name: '1g.5gb+me', id: 20, instances: 1 },
  { name: '1g.10gb', id: 15, instances: 4 },
  { name: '2g.10gb', id: 14, instances: 3 },
  { name: '3g.20gb', id: 9, instances: 2 },
  { name: '4g.20gb', id: 5, instances: 1 },
  { name: '7g.40gb', id: 0, instances: 1 },
];

export const FAMILIES: readonly FamilyRow[] = [
  // NVIDIA, SR-IOV based vGPU
  ...[['ampere-dc', 'NVIDIA Ampere data center (A40, A10, A16, A2, A100, A30)', AMPERE_SRIOV, 32],
    ['ada-dc', 'NVIDIA Ada data center (L40S, L40, L4, RTX 6000 Ada)', ADA_SRIOV, 32],
    ['hopper', 'NVIDIA Hopper (H100)', HOPPER_SRIOV, 32]].flatMap(([family, label, ids, vfs]) => [
    { family, label, vendorId: '10de', deviceIds: ids, mechanism: 'sriov', supported: true, driver: 'nvidia', driverBranch: 'NVIDIA vGPU host driver', maxVfs: vfs,
      source: 'NVIDIA vGPU user guide: VFs only through /usr/lib/nvidia/sriov-manage -e (shared host-facts E, NVIDIA)' },
    { family, label, vendorId: '10de', deviceIds: ids, mechanism: 'vendor-vfio', supported: true, driver: 'nvidia', driverBranch: 'NVIDIA vGPU 17 or later', kernelMin: 608,
      source: `${NV_VGPU}; ${PVE_MDEV}; harvester/pcidevices pkg/util/gpuhelper${family === 'ampere-dc' ? AMPERE_DOUBT : ''}` },
    { family, label, vendorId: '10de', deviceIds: ids, mechanism: 'mdev', supported: true, driver: 'nvidia', driverBranch: 'NVIDIA vGPU 16 or earlier', kernelBelow: 608,
      source: `${PVE_MDEV}; harvester/pcidevices testdata (mdev types on an A2 VF)` },
  ] as FamilyRow[]),
  // NVIDIA, mdev on the PF (no SR-IOV)
  { family: 'pre-ampere-dc', label: 'NVIDIA Pascal/Volta/Turing data center (P4, P40, V100, T4)', vendorId: '10de', deviceIds: PRE_AMPERE, mechanism: 'mdev', supported: true,
    driver: 'nvidia', driverBranch: 'NVIDIA vGPU host driver', source: 'kubevirt/user-guide mediated_devices_configuration.md (GRID T4 types); NVIDIA vGPU user guide' },
  { family: 'pre-ampere-dc', label: 'NVIDIA Pascal/Volta/Turing data center (P4, P40, V100, T4)', vendorId: '10de', deviceIds: PRE_AMPERE, mechanism: 'sriov', supported: false,
    source: 'NVIDIA vGPU user guide: SR-IOV vGPU starts with Ampere' },
  { family: 'pre-ampere-dc', label: 'NVIDIA Pascal/Volta/Turing data center (P4, P40, V100, T4)', vendorId: '10de', deviceIds: PRE_AMPERE, mechanism: 'vendor-vfio', supported: false,
    source: 'vendor-specific VFIO places a vGPU on an SR-IOV VF (nvidia/current_vgpu_type); these boards have none' },
  // NVIDIA MIG
  { family: 'a100', label: 'NVIDIA A100 40GB', vendorId: '10de', deviceIds: ['20b0', '20f1'], mechanism: 'mig', supported: true, driver: 'nvidia', migProfiles: A100_40GB, source: MIG_GUIDE },
  { family: 'h100', label: 'NVIDIA H100 80GB', vendorId: '10de', deviceIds: ['2330', '2331'], mechanism: 'mig', supported: true, driver: 'nvidia', migProfiles: H100_80GB, source: MIG_GUIDE },
  { family: 'a30-a100-80', label: 'NVIDIA A30, A100 80GB, H100 NVL', vendorId: '10de', deviceIds: ['20b7', '20b2', '20b5', '2321'], mechanism: 'mig', supported: true, driver: 'nvidia', source: MIG_GUIDE },
  { family: 'no-mig', label: 'NVIDIA boards without MIG (A40, A10, A16, A2, L40S, L40, L4, T4, V100, P40, P4)', vendorId: '10de',
    deviceIds: ['2235', '2236', '25b6', ...ADA_SRIOV, ...PRE_AMPERE], mechanism: 'mig', supported: false, source: MIG_GUIDE },
  // AMD MxGPU
  { family: 'mi300x', label: 'AMD Instinct MI300X', vendorId: '1002', deviceIds: ['74a1'], mechanism: 'sriov', supported: true, driver: 'gim', driverBranch: 'AMD GIM (amd/MxGPU-Virtualization)', legalVfs: [1, 8],
    source: 'amd/MxGPU-Virtualization README (MI300X, 1 VF per GPU; 8 in CPX/NPS4 partition mode); gim_shim/gim_config.c vf_num' },
  { family: 's7150', label: 'AMD FirePro S7150 (legacy GIM)', vendorId: '1002', deviceIds: ['6929', '692f'], mechanism: 'sriov', supported: true, driver: 'gim', driverBranch: 'legacy GIM (GPUOpen MxGPU-Virtualization, kernel 4.4)',
    maxVfs: 16, kernelBelow: 500, source: 'GPUOpen-LibrariesAndSDKs/MxGPU-Virtualization README, docs/gim_runtime_configuration (vf_num 1..16)' },
  // Intel
  { family: 'intel-gen9', label: 'Intel Gen9 iGPU (Skylake to Comet Lake)', vendorId: '8086', deviceIds: ['1912', '1916', '191b', '5912', '5916', '591b', '3e91', '3e92', '3e98', '3e9b', '9bc5', '9bc8'],
    mechanism: 'gvt-g', supported: true, driver: 'i915', params: ['i915.enable_gvt=1'], source: 'pve-docs qm-pci-passthrough.adoc (GVT-g: i915.enable_gvt=1, kvmgt); Documentation/driver-api/vfio-mediated-device.rst' },
  ...([['intel-adl', 'Intel Gen12 iGPU (Alder Lake)', ['4680', '4682', '4688', '468a', '4690', '4692', '4693', '46a6', '46a8', '46aa', '462a', '4626', '4628', '46d0', '46d1', '46d2']],
    ['intel-rpl', 'Intel Gen12 iGPU (Raptor Lake)', ['a780', 'a781', 'a782', 'a783', 'a788', 'a789', 'a78a', 'a78b', 'a720', 'a721', 'a7a0', 'a7a1', 'a7a8', 'a7a9']]] as const).flatMap(([family, label, ids]) => [
    { family, label, vendorId: '8086', deviceIds: ids, mechanism: 'sriov', supported: true, driver: 'i915', driverBranch: 'i915-sriov-dkms (out of tree; upstream i915 has no PF SR-IOV)', maxVfs: 7,
      params: ['intel_iommu=on', 'i915.enable_guc=3', 'i915.max_vfs=7', 'module_blacklist=xe'], source: 'strongtz/i915-sriov-dkms README, docs/block-vfs.md' },
    { family, label, vendorId: '8086', deviceIds: ids, mechanism: 'gvt-g', supported: false, source: 'drivers/gpu/drm/i915/intel_gvt.c is_supported_device(): Broadwell to Comet Lake only' },
  ] as FamilyRow[]),
  { family: 'intel-xe-pf', label: 'Intel GPUs on upstream xe with SR-IOV PF (Battlemage and later)', vendorId: '8086', deviceIds: ['e211', 'e20b', 'e20c', 'e20d', 'e212'], mechanism: 'gvt-g', supported: false,
    source: 'drivers/gpu/drm/i915/intel_gvt.c is_supported_device(): GVT-g is i915-only, Broadwell to Comet Lake' },
  { family: 'intel-xe-pf', label: 'Intel GPUs on upstream xe with SR-IOV PF (Battlemage and later)', vendorId: '8086', deviceIds: ['e211', 'e20b', 'e20c', 'e20d', 'e212'], mechanism: 'sriov', supported: true,
    driver: 'xe', params: ['xe.max_vfs=N'], source: 'drivers/gpu/drm/xe/xe_sriov_pf.c (pci_sriov_set_totalvfs), xe_module.c max_vfs; Documentation/ABI/testing/sysfs-driver-intel-xe-sriov (sriov_admin, 6.19)' },
];

export function rowsFor(vendorId: string, deviceId: string): FamilyRow[] {
  return FAMILIES.filter((r) => r.vendorId === vendorId && r.deviceIds.includes(deviceId));
}

export function rowFor(vendorId: string, deviceId: string, mechanism: Mechanism): FamilyRow | null {
  return rowsFor(vendorId, deviceId).find((r) => r.mechanism === mechanism) ?? null;
}

/** Legal VF counts for a PF's GIM-managed model, or null when the vendor does not tie them to modes. */
export function legalVfCounts(vendorId: string, deviceId: string): readonly number[] | null {
  return rowFor(vendorId, deviceId, 'sriov')?.legalVfs ?? null;
}

/** `6.8.0-45-generic` → 608; null when unreadable. */
export function kernelNumber(release: string | null): number | null {
  const m = release ? /^(\d+)\.(\d+)/.exec(release) : null;
  return m ? Number(m[1]) * 100 + Number(m[2]) : null;
}

export function kernelName(n: number): string {
  return `${Math.floor(n / 100)}.${n % 100}`;
}
