// Human output shared by passthrough and release: the devices, refusals, plan and outcome.
import { renderSteps } from '../mutate/steps.js';
import type { Style } from '../output.js';
import type { ApplyReport } from '../mutate/apply.js';
import type { Refusal } from './preflight.js';

export interface DeviceView {
  address: string;
  reason: string;
  classId: string;
  name: string;
  driver: string | null;
  iommuGroup: number | null;
}

export interface ChangeView {
  action: 'passthrough' | 'release';
  dryRun: boolean;
  devices: DeviceView[];
  steps: { title: string; action: string }[];
  applied: ApplyReport | null;
  /** Nothing to do: every device is already where it was asked to be. */
  noop: boolean;
  refusals?: Refusal[];
  /** The refusals stopped the run (false when --force went past them). */
  blocked?: boolean;
  bridges?: string[];
  target?: string;
}

const REASON: Record<string, string> = { requested: 'named', slot: 'same slot', group: 'same IOMMU group', managed: 'taken together' };

/** The devices a passthrough or release changes, with their driver, group and why they are in the set. */
export function renderDevices(d: Pick<ChangeView, 'action' | 'devices' | 'bridges' | 'target'>, s: Style): string[] {
  const out = [s.bold(d.action === 'passthrough' ? `Devices for ${d.target ?? 'passthrough'}:` : 'Devices to release:')];
  for (const v of d.devices) {
    out.push(`  ${v.address}  ${v.name} [${v.classId.slice(0, 4)}]`);
    out.push(s.dim(`      driver ${v.driver ?? 'none'} · group ${v.iommuGroup ?? 'none'} · ${REASON[v.reason] ?? v.reason}`));
  }
  if (d.bridges?.length) out.push(s.dim(`  bridges in the group stay with their driver: ${d.bridges.join(', ')}`));
  return out;
}

function refusals(rs: readonly Refusal[], blocked: boolean, s: Style): string[] {
  const out = [blocked ? s.red(s.bold('Refused:')) : s.yellow(s.bold('Forced past:'))];
  for (const r of rs) {
    out.push(`  ${r.message}`);
    if (blocked) out.push(s.dim(r.force ? `    --force would ${r.force}` : '    --force cannot override this'));
  }
  return out;
}

function outcome(a: ApplyReport, d: ChangeView, s: Style): string[] {
  if (a.ok) return [s.green(`Done: ${a.steps.length} steps applied and verified.`)];
  const failed = a.steps.find((x) => x.status === 'failed');
  const out = [s.red(`Failed: ${failed?.error ?? 'a step failed'}`)];
  if (a.rollback?.ok) out.push(`Rolled back: the ${d.action === 'passthrough' ? 'devices are on their original drivers' : 'devices stay as they were'} again.`);
  else {
    out.push(s.red('Rollback incomplete:'));
    for (const e of a.rollback?.errors ?? []) out.push(`  ${e}`);
    out.push('Run `gpuvirt release --all` to retry, and `gpuvirt status` to see the state.');
  }
  return out;
}

export function renderChange(d: ChangeView, s: Style): string {
  const out = renderDevices(d, s);
  const blocked = d.blocked ?? false;
  if (d.refusals?.length) out.push('', ...refusals(d.refusals, blocked, s));
  if (d.noop) out.push('', 'Nothing to do: every device is already there.');
  else if (!d.applied) {
    out.push('', s.bold(d.dryRun ? 'Plan (dry run, nothing changed):' : blocked ? 'Plan (not applied):' : 'Plan:'));
    out.push(...renderSteps(d.steps, s.dim));
  } else out.push('', ...outcome(d.applied, d, s));
  return `${out.join('\n')}\n`;
}
