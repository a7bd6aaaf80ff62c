// Vendor knowledge for SR-IOV GPUs: which path creates VFs on this PF, which counts are
// legal, and what to tell the user when the running driver cannot do it.
// Facts: shared host-facts section E (AMD GIM, NVIDIA sriov-manage, Intel i915/xe).
import type { Host } from '../host/host.js';
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import type { PfInfo } from './detect.js';
import { legalVfCounts } from '../sharing/families.js';

export type AdapterId = 'generic' | 'amd-gim' | 'intel' | 'nvidia';

export interface Adapter {
  id: AdapterId;
  label: string;
  /** Why this adapter was chosen. */
  reason: string;
}

export function chooseAdapter(pf: PfInfo): Adapter {
  if (pf.driver === 'gim') return { id: 'amd-gim', label: 'AMD MxGPU (GIM)', reason: 'the PF is bound to AMD\'s gim driver, which creates VFs itself at load time' };
  if (pf.vendorId === '10de' && pf.driver === 'nvidia') {
    return { id: 'nvidia', label: 'NVIDIA vGPU', reason: 'NVIDIA PFs get their VFs from the vendor\'s sriov-manage tool' };
  }
  if (pf.vendorId === '8086' && pf.classId.startsWith('03') && (pf.driver === 'i915' || pf.driver === 'xe')) {
    return { id: 'intel', label: `Intel ${pf.driver}`, reason: `Intel GPU on ${pf.driver}` };
  }
  return { id: 'generic', label: 'generic sysfs', reason: 'sriov_numvfs on the PF, as the kernel documents (pci-iov-howto)' };
}

/** PF drivers known to have no sriov_configure: sriov_numvfs returns ENOENT on them. */
const NO_SYSFS_SRIOV: Record<string, string> = {
  'pci-stub': 'pci-stub has no SR-IOV support: bind the PF to its own driver (or pci-pf-stub) first',
  gim: 'AMD\'s gim driver creates VFs at load time from its vf_num option, not through sysfs',
};

export interface Validation {
  errors: string[];
  notes: string[];
}

function intelProblems(host: Host, pf: PfInfo): string[] {
  if (pf.driver === 'i915') {
    if (readAttr(host, paths.moduleParam('i915', 'max_vfs')) === null) {
      return ['upstream i915 cannot create VFs: install the i915 SR-IOV module (i915-sriov-dkms) or an Intel LTS kernel, boot with `i915.enable_guc=3 i915.max_vfs=7`, then run this again'];
    }
    if (pf.sriov.totalVfs === 0) return ['i915 offers no VFs: boot with `i915.enable_guc=3 i915.max_vfs=7` (and `intel_iommu=on`)'];
  }
  if (pf.driver === 'xe' && pf.sriov.totalVfs === 0) {
    return ['xe offers no VFs (its max_vfs is 0): boot with `xe.max_vfs=N` or set it through xe\'s configfs, then run this again'];
  }
  return [];
}

export function validateEnable(host: Host, pf: PfInfo, adapter: Adapter, numVfs: number): Validation {
  const errors: string[] = [];
  const notes: string[] = [];
  if (!Number.isInteger(numVfs) || numVfs < 1) errors.push('--vfs must be a whole number from 1 (use `sriov disable` for 0)');
  if (!pf.driver) errors.push(`${pf.address} has no driver: the kernel configures SR-IOV through the PF's driver (sriov_numvfs would fail with ENOENT)`);
  if (adapter.id === 'intel') errors.push(...intelProblems(host, pf));
  if (adapter.id === 'generic' && pf.driver && NO_SYSFS_SRIOV[pf.driver]) errors.push(`${pf.driver} on ${pf.address}: ${NO_SYSFS_SRIOV[pf.driver]}`);
  if (adapter.id === 'generic' && pf.driver === 'vfio-pci' && readAttr(host, paths.moduleParam('vfio_pci', 'enable_sriov')) !== 'Y') {
    errors.push(`${pf.address} is on vfio-pci, which creates VFs only with its enable_sriov=1 option (and then needs a user-space PF driver)`);
  }
  if (numVfs > pf.sriov.totalVfs && pf.sriov.totalVfs > 0) errors.push(`${pf.address} offers at most ${pf.sriov.totalVfs} VFs (sriov_totalvfs); ${numVfs} asked`);
  if (adapter.id === 'amd-gim') {
    // Legal counts where the vendor ties them to a mode (MI300X partitions: 1 or 8), from the facts table.
    const legal = legalVfCounts(pf.vendorId, pf.deviceId);
    if (legal && !legal.includes(numVfs)) errors.push(`this GPU (${pf.vendorId}:${pf.deviceId}) runs ${legal.join(' or ')} VFs, one per partition mode; ${numVfs} asked`);
    notes.push('GIM reads vf_num when it loads: gpuvirt writes the option and reloads gim, which recreates the VFs of every GIM GPU');
  }
  if (adapter.id === 'nvidia') {
    if (!host.exists(paths.nvidiaSriovManage)) errors.push(`${paths.nvidiaSriovManage} is missing: install NVIDIA's vGPU host driver, which provides it`);
    if (numVfs !== pf.sriov.totalVfs) errors.push(`sriov-manage enables all ${pf.sriov.totalVfs} VFs of an NVIDIA GPU; pass --vfs ${pf.sriov.totalVfs}`);
    notes.push('each NVIDIA VF hosts one vGPU: pick its type afterwards (gpuvirt sriov status lists them)');
  }
  return { errors, notes };
}

/** Kernel errnos of sriov_numvfs, with what to do about each (drivers/pci/iov.c; real-kernel-findings). */
export function explainErrno(errno: string | undefined, pf: PfInfo): string | null {
  switch (errno) {
    case 'EBUSY':
      return 'VFs are already enabled or in use: disable them first (stop the VMs that use them)';
    case 'ERANGE':
      return `more VFs than ${pf.address} offers (sriov_totalvfs is ${pf.sriov.totalVfs})`;
    case 'ENOENT':
      return `the PF driver (${pf.driver ?? 'none'}) cannot configure SR-IOV through sysfs: ${(pf.driver && NO_SYSFS_SRIOV[pf.driver]) ?? 'bind the PF to a driver that can, or use the vendor\'s tool'}`;
    case 'ENOMEM':
      return 'the firmware reserved no MMIO space for the VF BARs: enable SR-IOV and "Above 4G decoding" in the firmware setup, or boot with `pci=realloc`';
    case 'EINVAL':
      return 'the kernel rejected the value';
    default:
      return null;
  }
}
