// `gpuvirt recover`: finds the journal of a run that died (or whose rollback could not finish),
// undoes every step that had started, and checks the facts the run was about are as they were.
import { escapeData } from '../validate.js';
import type { Ctx } from '../context.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import type { Outcome } from '../output.js';
import { requireRoot } from '../mutate/guard.js';
import { factKey, factLabel } from './facts.js';
import { clearJournal, readJournal, writeJournal } from './journal.js';
import { acquireLock } from './lock.js';
import { rollback, undoOrder, type RollbackReport } from './rollback.js';
import { describeUndo } from './undo.js';

export interface RecoverData {
  found: boolean;
  dryRun: boolean;
  run: { command: string; pid: number; startedAt: string; step: number; steps: number; rollbackIncomplete: boolean } | null;
  /** What recovery does, in order. */
  undo: string[];
  /** The facts the interrupted run was about, as they were before it. */
  facts: { fact: string; before: string | null }[];
  applied: RollbackReport | null;
}

export async function recover(ctx: Ctx, opts: { dryRun: boolean; yes: boolean }, show: (d: RecoverData) => Promise<string>): Promise<Outcome<RecoverData>> {
  if (!opts.dryRun) requireRoot(ctx, 'recover');
  const lock = opts.dryRun ? null : await acquireLock(ctx.host, 'recover', ctx.pid);
  try {
    const found = readJournal(ctx.host);
    const data: RecoverData = { found: found !== null, dryRun: opts.dryRun, run: null, undo: [], facts: [], applied: null };
    if (!found) return { ok: true, data, warnings: [] };
    const { journal, started } = found;
    const undos = undoOrder(journal.steps, started);
    data.run = { command: journal.command, pid: journal.pid, startedAt: journal.startedAt, step: started + 1, steps: journal.steps.length, rollbackIncomplete: journal.rollbackIncomplete ?? false };
    data.undo = undos.map(describeUndo);
    data.facts = journal.before.map((b) => ({ fact: factLabel(b.fact), before: b.value }));
    if (opts.dryRun) return { ok: true, data, warnings: [] };
    if (!opts.yes) {
      if (ctx.json || !ctx.io.isTTY || ctx.io.stdinTTY === false) {
        throw new GpuvirtError('E_CONFIRM', 'not changing the host without confirmation: no terminal to ask on', { exitCode: ExitCode.usage, hint: 'pass --yes to undo the interrupted run, or --dry-run to see what that does' });
      }
      ctx.io.out(await show(escapeData(data)));
      const yes = await ctx.prompt.confirm(`Undo what the interrupted \`gpuvirt ${journal.command}\` changed?`).catch(() => false);
      if (!yes) throw new GpuvirtError('E_CANCELLED', 'cancelled; nothing was changed', { exitCode: ExitCode.cancelled });
    }
    const before = new Map(journal.before.map((b) => [factKey(b.fact), b.value]));
    data.applied = await rollback(ctx, journal.steps, started, before, journal.before.map((b) => b.fact));
    if (data.applied.ok) clearJournal(ctx.host, journal);
    else writeJournal(ctx.host, { ...journal, rollbackIncomplete: true }, started);
    return { ok: data.applied.ok, data, warnings: [] };
  } finally {
    lock?.release();
  }
}
