// Bringing devices back to a recorded driver: the rollback of a failed passthrough and the
// work of `release`. The steps are planned from each device's live state, so a restore after
// a half-done change (or a crash) does only what is still needed.
import type { Exec } from '../host/exec.js';
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import { describeError, runStep } from '../mutate/apply.js';
import type { UndoOutcome as RollbackReport } from '../change/undo.js';
import { describeStep, type Step } from '../mutate/steps.js';
import { readDetails, readFunction } from '../detect/pci.js';
import { planRestore, type DeviceNow, type RestoreTarget } from './plan.js';
import type { ManagedDevice } from '../state.js';

export function loadedDrivers(host: Host): Set<string> {
  return new Set(host.list(paths.pciDrivers) ?? []);
}

export interface Wanted {
  address: string;
  want: RestoreTarget['want'];
  wantOverride: string | null;
  wantModule: string | null;
}

export function wantedFromState(d: ManagedDevice): Wanted {
  if (d.originalKnown === false) return { address: d.address, want: 'default', wantOverride: null, wantModule: null };
  return { address: d.address, want: d.originalDriver, wantOverride: d.originalOverride, wantModule: d.originalModule };
}

/** Driver, override and group of each address that still exists, as the kernel shows them now. */
export function liveDevices(host: Host, addresses: readonly string[]): DeviceNow[] {
  return addresses
    .filter((a) => host.exists(paths.pciDevice(a)))
    .map((address) => {
      const fn = readFunction(host, address);
      return { address, driver: fn.driver, driverOverride: readDetails(host, address).driverOverride, iommuGroup: fn.iommuGroup };
    });
}

export function restoreTargets(host: Host, wanted: readonly Wanted[]): RestoreTarget[] {
  const live = new Map(liveDevices(host, wanted.map((w) => w.address)).map((d) => [d.address, d]));
  return wanted.filter((w) => live.has(w.address)).map((w) => ({ ...w, ...live.get(w.address)! }));
}

export function planRestoreFromLive(host: Host, wanted: readonly Wanted[]): Step[] {
  return planRestore(restoreTargets(host, wanted), loadedDrivers(host));
}

/**
 * Runs restore steps, continuing past failures (a rollback must try everything), and reports
 * what it did. Used where there is nothing further to fall back to.
 */
export async function runBestEffort(host: Host, exec: Exec, steps: readonly Step[]): Promise<RollbackReport> {
  const report: RollbackReport = { ok: true, actions: [], errors: [] };
  let failed = false;
  for (const step of steps) {
    const checks = step.kind === 'wait-vfs' || step.kind.startsWith('verify-');
    // A check after a failed action would only wait for what cannot happen (a wait-vfs times out).
    if (checks && failed) continue;
    if (!checks) failed = false;
    try {
      await runStep(step, { host, exec });
      report.actions.push(step.title);
    } catch (err) {
      failed = true;
      report.ok = false;
      report.errors.push(`${describeStep(step)}: ${describeError(err)}`);
    }
  }
  return report;
}
