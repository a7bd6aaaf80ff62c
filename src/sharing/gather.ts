// Gathers each GPU's sharing facts (the imperative part) for verdict.ts. Vendor reads happen
// only where the vendor is present: NVIDIA VF attributes for NVIDIA PFs, the Intel module
// facts when an Intel GPU is there, and nvidia-smi (the only program run) only when an NVIDIA
// GPU of a MIG-capable family is on the nvidia driver. A host without these vendors pays one
// directory listing (the mdev bus).
import type { Exec } from '../host/exec.js';
import { type Host, listIfReadable } from '../host/host.js';
import { paths } from '../host/paths.js';
import type { GpuFacts, HostFacts } from '../doctor/facts.js';
import { iommuActive } from '../doctor/checks.js';
import { kernelNumber, rowsFor } from './families.js';
import { readIntelFacts, readXeProfiles, type IntelFacts } from './intel.js';
import { readMig, type MigReport } from './mig.js';
import { mergeMdevOffers, readMdevParents, readVendorVfio } from './nvidia.js';
import { judgeSharing, type GpuSharingFacts, type StrategyVerdict } from './verdict.js';

export interface GpuSharing {
  address: string;
  facts: GpuSharingFacts;
  strategies: StrategyVerdict[];
}

function firmwareIommu(f: HostFacts): GpuSharingFacts['host']['firmwareIommu'] {
  if (f.firmware.dmar === 'present' || f.firmware.ivrs === 'present') return 'present';
  if (f.firmware.dmar === 'absent' && f.firmware.ivrs === 'absent') return 'absent';
  return 'unknown';
}

/** Whether any GPU needs nvidia-smi: NVIDIA, on nvidia, in a family whose MIG row says yes. */
export function wantsMig(gpus: readonly GpuFacts[]): boolean {
  return gpus.some((g) => !g.physfn && g.vendorId === '10de' && g.driver === 'nvidia' && rowsFor(g.vendorId, g.deviceId).some((r) => r.mechanism === 'mig' && r.supported));
}

export function gpuSharingFacts(host: Host, f: HostFacts, g: GpuFacts, ctx: { intel: IntelFacts | null; mig: MigReport | null; mdevBus: string[] | null }): GpuSharingFacts {
  const rows = rowsFor(g.vendorId, g.deviceId);
  const vfs = f.gpus.filter((x) => x.physfn === g.address);
  const indexed = vfs.map((vf, index) => ({ index, address: vf.address, driver: vf.driver }));
  const mdevTypes = mergeMdevOffers(readMdevParents(host, [g.address, ...vfs.map((x) => x.address)], ctx.mdevBus), g.address);
  const wantMig = !g.physfn && g.vendorId === '10de' && g.driver === 'nvidia' && rows.some((r) => r.mechanism === 'mig' && r.supported);
  let mig: GpuSharingFacts['mig'] = null;
  if (wantMig && ctx.mig) {
    const gpu = ctx.mig.known ? ctx.mig.gpus.find((x) => x.address === g.address) : null;
    mig = !ctx.mig.known ? { known: false, reason: ctx.mig.reason } : gpu ? { known: true, current: gpu.current, pending: gpu.pending, devices: gpu.devices } : { known: false, reason: 'nvidia-smi does not list this GPU' };
  }
  return {
    address: g.address, vendorId: g.vendorId, classId: g.classId, driver: g.driver, physfn: g.physfn, isolation: g.isolation,
    host: {
      iommuActive: iommuActive(f), firmwareIommu: firmwareIommu(f), cpuVendor: f.cpu.vendor,
      vfioAvailable: f.modules.some((m) => m.name === 'vfio_pci' && (m.loaded || m.available)),
      kernel: kernelNumber(f.kernel), cmdline: f.cmdline.params.map((p) => p.key.replace(/-/g, '_')),
      sriovManage: g.vendorId === '10de' && host.exists(paths.nvidiaSriovManage),
    },
    sriov: g.sriov ? { totalVfs: g.sriov.totalVfs, numVfs: g.sriov.numVfs, driversAutoprobe: g.sriov.driversAutoprobe, vfDrivers: vfs.map((x) => x.driver) } : null,
    rows,
    mdevTypes,
    vendorVfio: g.vendorId === '10de' && vfs.length ? readVendorVfio(host, indexed) : null,
    mig,
    intel: g.vendorId === '8086' ? ctx.intel : null,
    xeProfiles: g.vendorId === '8086' && g.driver === 'xe' && g.sriov ? readXeProfiles(host, g.address) : null,
  };
}

/** The sharing verdict of every GPU; `exec` is asked only when an NVIDIA MIG family is present. */
export async function gatherSharing(host: Host, exec: Exec, f: HostFacts): Promise<GpuSharing[]> {
  // modules.dep again, and maybe a module file: only for an Intel GPU that has or could have SR-IOV.
  const intelSriov = f.gpus.some((g) => g.vendorId === '8086' && !g.physfn && (g.sriov || rowsFor(g.vendorId, g.deviceId).some((r) => r.mechanism === 'sriov')));
  const intel = intelSriov ? readIntelFacts(host, f.kernel) : null;
  const mig = wantsMig(f.gpus) ? await readMig(exec) : null;
  const mdevBus = listIfReadable(host, paths.mdevBus);
  return f.gpus.map((g) => {
    const facts = gpuSharingFacts(host, f, g, { intel, mig, mdevBus });
    return { address: g.address, facts, strategies: judgeSharing(facts) };
  });
}
