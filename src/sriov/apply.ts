// Applying an SR-IOV plan: lock, journal the PF's original state, run the steps, and on
// failure bring the PF back to its original VF count and autoprobe setting.
import type { Ctx } from '../context.js';
import { applyEnvFor, applySteps, type ApplyReport } from '../mutate/apply.js';
import { acquireLock } from '../mutate/lock.js';
import type { Step } from '../mutate/steps.js';
import { paths } from '../host/paths.js';
import { planBind } from '../passthrough/plan.js';
import { liveDevices, runBestEffort } from '../passthrough/restore.js';
import { readState, writeState, type SriovRecord } from '../state.js';
import { readPf, type PfInfo } from './detect.js';
import { planSriovRestore } from './plan.js';
import { explainErrno } from './vendors.js';

const PASSTHROUGH = ['vfio-pci', 'pci-stub'] as const;

export interface SriovApplyResult {
  report: ApplyReport;
  /** What to do about the kernel's answer, when a sysfs write failed with a known errno. */
  hint: string | null;
}

/**
 * `record` is what the state should say on success (`keep` false: forget the PF). A failure
 * returns the PF to `pf` as it is now, before the run: its VF count, autoprobe setting, and
 * the VFs that were on a passthrough driver.
 */
export async function applySriov(ctx: Ctx, pf: PfInfo, steps: Step[], record: SriovRecord, keep: boolean, dropVfs: string[] = []): Promise<SriovApplyResult> {
  const { host, exec } = ctx;
  const unlock = acquireLock(host, `sriov ${pf.address}`);
  try {
    const state = readState(host);
    const previous = state.sriov?.[pf.address];
    state.sriov = { ...state.sriov, [pf.address]: { ...record, status: 'applying' } };
    writeState(host, state);
    const rollback = async () => {
      const live = readPf(host, pf.address);
      if (!live) return { ok: false, actions: [], errors: [`${pf.address} is gone`] };
      const back = await runBestEffort(host, exec, planSriovRestore(live, { numVfs: pf.sriov.numVfs, driversAutoprobe: pf.sriov.driversAutoprobe }));
      const rebind = PASSTHROUGH.flatMap((drv) => planBind(liveDevices(host, pf.vfs.filter((v) => v.driver === drv).map((v) => v.address)), drv, host.exists(paths.pciDriver(drv))));
      const bound = await runBestEffort(host, exec, rebind);
      return { ok: back.ok && bound.ok, actions: [...back.actions, ...bound.actions], errors: [...back.errors, ...bound.errors] };
    };
    const report = await applySteps(steps, applyEnvFor(ctx), rollback);
    const after = readState(host);
    const sriov = { ...after.sriov };
    if (report.ok) {
      if (keep) sriov[pf.address] = { ...record, status: 'done' };
      else delete sriov[pf.address];
      // VFs that no longer exist are no longer passthrough devices either.
      for (const vf of dropVfs) delete after.devices[vf];
    } else if (report.rollback?.ok) {
      if (previous) sriov[pf.address] = previous;
      else delete sriov[pf.address];
    }
    after.sriov = sriov;
    writeState(host, after);
    const failed = report.steps.find((s) => s.status === 'failed');
    return { report, hint: failed ? explainErrno(failed.errno, pf) : null };
  } finally {
    unlock();
  }
}
