// Undoing a change: the undo of every step that started, newest first, each kind of undo done
// once, the programs that read restored files last; then the facts are read again and compared
// with how they were before. A rollback is reported as complete only when the host shows it.
import type { Ctx } from '../context.js';
import type { Step } from '../mutate/steps.js';
import { factKey, factLabel, readFact, type Fact } from './facts.js';
import { performUndo, undoKey, type Undo } from './undo.js';

export interface RollbackReport {
  ok: boolean;
  /** What was undone, in order. */
  actions: string[];
  errors: string[];
  /** Facts that differ from before the change after the undo: each one makes the rollback incomplete. */
  differences: string[];
}

/** The undos for steps 0..started, in the order they run. */
export function undoOrder(steps: readonly Step[], started: number): Undo[] {
  const seen = new Set<string>();
  const early: Undo[] = [];
  const late: Undo[] = [];
  for (let i = started; i >= 0; i--) {
    for (const u of steps[i]?.undo ?? []) {
      const key = undoKey(u);
      if (seen.has(key)) continue;
      seen.add(key);
      (u.kind === 'run' && u.late ? late : early).push(u);
    }
  }
  return [...early, ...late];
}

export async function rollback(
  ctx: Pick<Ctx, 'host' | 'exec' | 'json' | 'io'>,
  steps: readonly Step[],
  started: number,
  before: ReadonlyMap<string, string | null>,
  facts: readonly Fact[],
): Promise<RollbackReport> {
  const report: RollbackReport = { ok: true, actions: [], errors: [], differences: [] };
  for (const u of undoOrder(steps, started)) {
    const r = await performUndo(ctx.host, ctx.exec, u);
    report.actions.push(...r.actions);
    report.errors.push(...r.errors);
    if (!ctx.json) for (const a of r.actions) ctx.io.err(`  undone  ${a}\n`);
  }
  for (const f of facts) {
    const was = before.get(factKey(f)) ?? null;
    const now = readFact(ctx.host, f);
    if (now !== was) report.differences.push(`${factLabel(f)} is ${now ?? 'none'}, was ${was ?? 'none'}`);
  }
  report.ok = report.errors.length === 0 && report.differences.length === 0;
  return report;
}
