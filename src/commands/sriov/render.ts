import type { ApplyReport } from '../../mutate/apply.js';
import { renderSteps, type StepJson } from '../../mutate/steps.js';
import type { Style } from '../../output.js';
import type { PfJson } from './status.js';

export interface SriovChangeData {
  action: 'enable' | 'disable';
  pf: PfJson;
  adapter: string;
  requested: number;
  dryRun: boolean;
  /** Why the change cannot or may not be made; non-empty means nothing was done. */
  errors: string[];
  notes: string[];
  steps: StepJson[];
  applied: ApplyReport | null;
  /** What to do about the kernel's answer when a write failed. */
  hint: string | null;
  /** The PF as it is after the change. */
  after: PfJson | null;
}

export function renderSriovChange(d: SriovChangeData, s: Style): string {
  const out = [`${s.bold(d.pf.address)}  ${d.pf.name}: ${d.pf.numVfs} of ${d.pf.totalVfs} VFs now (${d.adapter} path)`];
  for (const n of d.notes) out.push(s.dim(`  note: ${n}`));
  if (d.errors.length) {
    out.push(s.red(s.bold('Not done:')));
    for (const e of d.errors) out.push(`  ${e}`);
    return `${out.join('\n')}\n`;
  }
  if (!d.steps.length) {
    out.push(d.action === 'enable' ? `Nothing to do: ${d.requested} VFs are already there.` : 'Nothing to do: no VFs are enabled.');
    return `${out.join('\n')}\n`;
  }
  if (!d.applied) {
    out.push(s.bold(d.dryRun ? 'Plan (dry run, nothing changed):' : 'Plan:'));
    out.push(...renderSteps(d.steps, s.dim));
    return `${out.join('\n')}\n`;
  }
  if (d.applied.ok) {
    out.push(s.green(`Done: ${d.applied.steps.length} steps applied and verified.`));
    for (const vf of d.after?.vfs ?? []) out.push(`  VF ${String(vf.index).padStart(2)}  ${vf.address}  driver ${vf.driver ?? 'none'} · group ${vf.iommuGroup ?? 'none'}`);
  } else {
    const failed = d.applied.steps.find((x) => x.status === 'failed');
    out.push(s.red(`Failed: ${failed?.error ?? 'a step failed'}`));
    if (d.hint) out.push(`  ${d.hint}`);
    out.push(d.applied.rollback?.ok ? `Rolled back: ${d.pf.address} has its ${d.pf.numVfs} VFs again.` : s.red(`Rollback incomplete: ${(d.applied.rollback?.errors ?? []).join('; ')}`));
  }
  return `${out.join('\n')}\n`;
}
