// The text every mutating command shares: refusals, the plan, and the outcome as the host shows
// it at the end. A command adds its own header (devices, diffs, the PF) above.
import { renderSteps } from '../mutate/steps.js';
import type { Style } from '../output.js';
import { planShown } from './engine.js';
import type { ChangeData } from './types.js';

const MAX_FACTS = 12;

export function renderRefusals(d: ChangeData, s: Style): string[] {
  if (!d.refusals.length) return [];
  const out = ['', d.blocked ? s.red(s.bold('Refused:')) : s.yellow(s.bold('Forced past:'))];
  for (const r of d.refusals) {
    out.push(`  ${r.message}`);
    if (d.blocked) out.push(s.dim(r.force ? `    --force would ${r.force}` : '    --force cannot override this'));
  }
  if (d.blocked) {
    const unforceable = d.refusals.filter((r) => r.force === null).length;
    out.push(unforceable ? s.dim(`  ${unforceable} of these cannot be overridden: nothing will be changed.`) : s.dim('  Every refusal above is shown: --force goes past all of them.'));
  }
  return out;
}

function factLines(d: ChangeData, s: Style, which: 'expected' | 'changed'): string[] {
  const rows = d.facts.filter((f) => (which === 'expected' ? 'expected' in f : f.now !== f.before));
  const out = rows.slice(0, MAX_FACTS).map((f) => s.dim(`  ${f.fact}: ${f.before ?? 'none'} → ${f.now ?? 'none'}`));
  if (rows.length > MAX_FACTS) out.push(s.dim(`  … and ${rows.length - MAX_FACTS} more (--json lists them all)`));
  return out;
}

export function renderOutcome(d: ChangeData, s: Style): string[] {
  const a = d.applied;
  if (!a) return [];
  if (a.ok) return [s.green(`Done: ${a.steps.length} steps applied and verified; the host now shows:`), ...factLines(d, s, 'expected')];
  const failed = a.steps.find((x) => x.status === 'failed');
  const out = [d.interrupted ? s.yellow(`Interrupted by ${d.interrupted}: the change was undone.`) : s.red(`Failed: ${failed?.error ?? 'a step failed'}`)];
  const rb = a.rollback;
  if (rb?.ok) out.push(`Rolled back: the host shows what it showed before (${d.facts.length} facts read again).`);
  else if (rb) {
    out.push(s.red('Rollback incomplete:'));
    for (const e of [...rb.errors, ...rb.differences]) out.push(`  ${e}`);
    out.push('`gpuvirt recover` tries the undo again; `gpuvirt status` shows what gpuvirt manages.');
  }
  return out;
}

/** The whole text of a change result; the plan is left out when it was shown before the question. */
export function renderChangeText(d: ChangeData, s: Style, header: string[], nothingToDo: string): string {
  if (planShown.has(d)) return `${renderOutcome(d, s).join('\n')}\n`;
  const out = [...header, ...renderRefusals(d, s)];
  if (d.noop && !d.blocked) out.push('', nothingToDo);
  else if (!d.applied) {
    out.push('', s.bold(d.dryRun ? 'Plan (dry run, nothing changed):' : d.blocked ? 'Plan (not applied):' : 'Plan:'));
    out.push(...renderSteps(d.steps, s.dim));
  } else out.push('', ...renderOutcome(d, s));
  return `${out.join('\n')}\n`;
}
