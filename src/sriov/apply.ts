// Applying an SR-IOV plan: lock, journal the PF's original state, run the steps, and on
// failure bring the PF back to its original VF count and autoprobe setting.
import type { Ctx } from '../context.js';
import { applySteps, runId, type ApplyReport } from '../mutate/apply.js';
import { acquireLock } from '../mutate/lock.js';
import type { Step } from '../mutate/steps.js';
import { runBestEffort } from '../passthrough/restore.js';
import { readState, writeState, type SriovRecord } from '../state.js';
import { readPf, type PfInfo } from './detect.js';
import { planSriovRestore } from './plan.js';
import { explainErrno } from './vendors.js';

export interface SriovApplyResult {
  report: ApplyReport;
  /** What to do about the kernel's answer, when a sysfs write failed with a known errno. */
  hint: string | null;
}

/**
 * `record` is what the state should say on success (null: forget the PF); the original count
 * and autoprobe in it are the rollback target.
 */
export async function applySriov(ctx: Ctx, pf: PfInfo, steps: Step[], record: SriovRecord, keep: boolean, dropVfs: string[] = []): Promise<SriovApplyResult> {
  const { host, exec } = ctx;
  const unlock = acquireLock(host, `sriov ${pf.address}`);
  try {
    const state = readState(host);
    const previous = state.sriov?.[pf.address];
    state.sriov = { ...state.sriov, [pf.address]: { ...record, status: 'applying' } };
    writeState(host, state);
    const progress = ctx.json ? undefined : (line: string) => ctx.io.err(`${line}\n`);
    const rollback = async () => {
      const live = readPf(host, pf.address);
      if (!live) return { ok: false, actions: [], errors: [`${pf.address} is gone`] };
      return runBestEffort(host, exec, planSriovRestore(live, { numVfs: record.originalNumVfs, driversAutoprobe: record.originalAutoprobe }));
    };
    const report = await applySteps(steps, { host, exec, progress, runId: runId() }, rollback);
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
