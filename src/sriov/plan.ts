// Pure planning of SR-IOV changes through sysfs (drivers/pci/iov.c sriov_numvfs_store): a
// non-zero count can only be changed by writing 0 first, VFs meant for vfio-pci are kept
// from host drivers by sriov_drivers_autoprobe=0 (which only affects VFs enabled after it),
// and every change is read back, since a driver may enable fewer VFs than asked.
import { paths } from '../host/paths.js';
import type { Step } from '../mutate/steps.js';
import { planBind } from '../passthrough/plan.js';
import { vfAddress, type PfInfo } from './detect.js';

/** Disabling sleeps about 1 s in the kernel and enabling many VFs takes seconds more. */
export const VF_TIMEOUT_MS = 30_000;

export interface EnableRequest {
  numVfs: number;
  bind: 'vfio-pci' | null;
  vfioLoaded: boolean;
}

export function planDisableSteps(pf: PfInfo): Step[] {
  if (pf.sriov.numVfs === 0) return [];
  return [
    { kind: 'write', path: paths.pciAttr(pf.address, 'sriov_numvfs'), value: '0', title: `disable the ${pf.sriov.numVfs} VFs of ${pf.address}` },
    { kind: 'wait-vfs', pf: pf.address, count: 0, timeoutMs: VF_TIMEOUT_MS, title: `the VFs of ${pf.address} are gone` },
  ];
}

export function vfAddresses(pf: PfInfo, count: number): string[] {
  if (pf.offset === null || pf.stride === null) return [];
  return Array.from({ length: count }, (_, i) => vfAddress(pf.address, pf.offset!, pf.stride!, i));
}

/** Autoprobe only affects VFs enabled after it changes: turn it off before creating VFs for vfio-pci. */
export function autoprobeOffStep(pf: PfInfo): Step[] {
  if (pf.sriov.driversAutoprobe === false) return [];
  return [{ kind: 'write', path: paths.pciAttr(pf.address, 'sriov_drivers_autoprobe'), value: '0', title: `keep host drivers off the new VFs of ${pf.address}` }];
}

/** Binds the VFs a PF will have to `req.bind`; after a fresh enable with autoprobe off they have no driver. */
export function bindVfSteps(pf: PfInfo, req: EnableRequest, fresh: boolean): Step[] {
  if (!req.bind) return [];
  const existing = new Map(pf.vfs.map((v) => [v.address, v]));
  const vfs = vfAddresses(pf, req.numVfs).map((address) => {
    const known = fresh ? undefined : existing.get(address);
    return { address, driver: known?.driver ?? null, driverOverride: null, iommuGroup: known?.iommuGroup ?? null };
  });
  // The groups of VFs that do not exist yet are unknown, so the per-group check is left out.
  return planBind(vfs, req.bind, req.vfioLoaded).filter((s) => s.kind !== 'verify-exists');
}

/** The generic sysfs path: 0 first when changing a non-zero count, then the count, then the binding. */
export function planEnableSteps(pf: PfInfo, req: EnableRequest): Step[] {
  if (pf.sriov.numVfs === req.numVfs) return bindVfSteps(pf, req, false);
  return [
    ...planDisableSteps(pf),
    ...(req.bind ? autoprobeOffStep(pf) : []),
    { kind: 'write', path: paths.pciAttr(pf.address, 'sriov_numvfs'), value: String(req.numVfs), title: `enable ${req.numVfs} VFs on ${pf.address}` },
    { kind: 'wait-vfs', pf: pf.address, count: req.numVfs, timeoutMs: VF_TIMEOUT_MS, title: `${req.numVfs} VFs of ${pf.address} are there` },
    ...bindVfSteps(pf, req, true),
  ];
}

export interface SriovRestore {
  numVfs: number;
  driversAutoprobe: boolean | null;
}

/** Back to a recorded count and autoprobe setting, from whatever state the PF is in now. */
export function planSriovRestore(pf: PfInfo, want: SriovRestore): Step[] {
  const steps: Step[] = [];
  const needCount = pf.sriov.numVfs !== want.numVfs;
  if (needCount) steps.push(...planDisableSteps(pf));
  if (want.driversAutoprobe !== null && pf.sriov.driversAutoprobe !== want.driversAutoprobe) {
    steps.push({ kind: 'write', path: paths.pciAttr(pf.address, 'sriov_drivers_autoprobe'), value: want.driversAutoprobe ? '1' : '0', title: `restore sriov_drivers_autoprobe of ${pf.address}` });
  }
  if (needCount && want.numVfs > 0) {
    steps.push({ kind: 'write', path: paths.pciAttr(pf.address, 'sriov_numvfs'), value: String(want.numVfs), title: `re-enable ${want.numVfs} VFs on ${pf.address}` });
    steps.push({ kind: 'wait-vfs', pf: pf.address, count: want.numVfs, timeoutMs: VF_TIMEOUT_MS, title: `${want.numVfs} VFs of ${pf.address} are there` });
  }
  return steps;
}
