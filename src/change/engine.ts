// The change engine: the one place that decides the order in which a mutating command checks,
// shows, asks, journals, applies, verifies, undoes and reports. A command only builds a
// ChangePlan from the facts (src/change/types.ts); everything a user relies on for safety is
// here, once:
//   root check → lock → interrupted run? → facts → plan → whole plan shown → question →
//   journal → each step applied and verified (signals finish the step in flight) →
//   on failure, undo of every step that started, newest first → facts read again → report.
import { escapeData } from '../validate.js';
import type { Ctx } from '../context.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import type { Outcome } from '../output.js';
import { requireRoot } from '../mutate/guard.js';
import { describeError, type StepReport } from '../mutate/apply.js';
import { stepJson, type Step } from '../mutate/steps.js';
import { readState, stateFileStep, stateText } from '../state.js';
import { readFact, factKey, factLabel, type Fact, type FactReading } from './facts.js';
import { acquireLock } from './lock.js';
import { clearJournal, interruptedError, JOURNAL, readJournal, writeJournal, type Journal } from './journal.js';
import { runSteps, type Interrupt } from './progress.js';
import { rollback } from './rollback.js';
import type { ApplyReport, ChangeData, ChangeOptions, ChangePlan, ChangeResult } from './types.js';
import { blockingRefusals } from './types.js';

/** Results whose plan was already printed, before the question: their final rendering leaves it out. */
export const planShown = new WeakSet<object>();

/** The parent directories of `path` that do not exist yet, deepest first. */
function missingDirs(host: Ctx['host'], path: string): string[] {
  const out: string[] = [];
  for (let dir = path.slice(0, path.lastIndexOf('/')); dir && !host.exists(dir); dir = dir.slice(0, dir.lastIndexOf('/'))) out.push(dir);
  return out;
}

/** The file steps' undo, taken from the files as they are now; a file keeps its mode. */
function withFileUndo(host: Ctx['host'], steps: readonly Step[]): Step[] {
  const seen = new Set<string>();
  return steps.map((step) => {
    if (step.kind !== 'file' && step.kind !== 'remove-file') return step;
    const content = host.readText(step.path);
    const mode = content === null ? null : (host.stat?.(step.path)?.mode ?? null);
    const out = step.kind === 'file' && step.mode === undefined && mode !== null ? { ...step, mode } : step;
    if (seen.has(step.path)) return out;
    seen.add(step.path);
    const dirs = content === null ? missingDirs(host, step.path) : [];
    return { ...out, undo: [...(step.undo ?? []), { kind: 'restore-file', path: step.path, content, mode, ...(dirs.length ? { dirs } : {}) }] };
  });
}

/** The plan's steps, and the state file rewritten last when the plan changes gpuvirt's record. */
function withStateStep<V>(ctx: Ctx, plan: ChangePlan<V>): Step[] {
  if (!plan.state || !plan.steps.length) return plan.steps;
  const now = readState(ctx.host);
  const next = plan.state(structuredClone(now));
  if (stateText(next) === stateText(now)) return plan.steps;
  return [...plan.steps, stateFileStep(next, 'update gpuvirt\'s record of what it manages')];
}

/** Facts compared before and after a rollback: what the plan promises, and every file it writes. */
function watched<V>(plan: ChangePlan<V>, steps: readonly Step[]): Fact[] {
  const all = new Map<string, Fact>();
  for (const f of [...(plan.expect ?? []).map((e) => e.fact), ...(plan.watch ?? [])]) all.set(factKey(f), f);
  for (const s of steps) if (s.kind === 'file' || s.kind === 'remove-file') all.set(`file:${s.path}`, { kind: 'file', path: s.path });
  return [...all.values()];
}

function readAll(host: Ctx['host'], facts: readonly Fact[]): Map<string, string | null> {
  return new Map(facts.map((f) => [factKey(f), readFact(host, f)]));
}

/** Asks on a terminal; elsewhere only --yes goes ahead. Ctrl-C or a closed stdin cancels. */
async function confirm(ctx: Ctx, yes: boolean, question: string): Promise<void> {
  if (yes) return;
  if (ctx.json || !ctx.io.isTTY || ctx.io.stdinTTY === false) {
    throw new GpuvirtError('E_CONFIRM', 'not changing the host without confirmation: no terminal to ask on', {
      exitCode: ExitCode.usage,
      hint: 'pass --yes to apply the plan shown, or --dry-run to print it',
    });
  }
  let answer: boolean;
  try {
    answer = await ctx.prompt.confirm(question);
  } catch {
    answer = false;
  }
  if (!answer) throw new GpuvirtError('E_CANCELLED', 'cancelled; nothing was changed', { exitCode: ExitCode.cancelled });
}

function unexpected(expect: NonNullable<ChangePlan<unknown>['expect']>, now: Map<string, string | null>): string[] {
  return expect
    .filter((e) => now.get(factKey(e.fact)) !== e.value)
    .map((e) => `${factLabel(e.fact)} is ${now.get(factKey(e.fact)) ?? 'none'}, not ${e.value ?? 'none'}`);
}

/**
 * Runs a mutating command's change. `build` reads the facts and returns the plan; it runs
 * under the lock when the change will be applied, so nothing changes between plan and apply.
 */
export async function runChange<V extends object>(
  ctx: Ctx,
  command: string,
  opts: ChangeOptions,
  build: () => Promise<ChangePlan<V>>,
  showPlan: (data: ChangeResult<V>) => string | Promise<string>,
): Promise<Outcome<ChangeResult<V>>> {
  if (!opts.dryRun) requireRoot(ctx, command);
  const lock = opts.dryRun ? null : await acquireLock(ctx.host, command, ctx.pid);
  try {
    const found = readJournal(ctx.host);
    if (found && !opts.dryRun) throw interruptedError(found);
    const plan = await build();
    const steps = withFileUndo(ctx.host, withStateStep(ctx, plan));
    const refusals = plan.refusals ?? [];
    const blocked = blockingRefusals(refusals, opts.force).length > 0;
    const warnings = [...(plan.warnings ?? [])];
    if (found) warnings.push(`${interruptedError(found).message}: \`gpuvirt recover\` undoes it`);
    if (opts.force && !blocked) warnings.push(...refusals.map((r) => `forced: ${r.message}`));
    const data: ChangeResult<V> = {
      ...plan.view, dryRun: opts.dryRun, refusals, blocked, steps: steps.map(stepJson), noop: steps.length === 0, applied: null, facts: [],
    };
    if (blocked) return { ok: false, data, warnings, exitCode: plan.blockedExit ?? ExitCode.refused };
    if (data.noop || opts.dryRun) return { ok: true, data, warnings };
    if (!opts.yes && !ctx.json && ctx.io.isTTY) {
      ctx.io.out(await showPlan(escapeData(data)));
      planShown.add(data);
    }
    await confirm(ctx, opts.yes, plan.question);
    return await apply(ctx, command, plan, steps, data, warnings);
  } finally {
    lock?.release();
  }
}

async function apply<V>(ctx: Ctx, command: string, plan: ChangePlan<V>, steps: Step[], data: ChangeResult<V>, warnings: string[]): Promise<Outcome<ChangeResult<V>>> {
  const facts = watched(plan, steps);
  const before = readAll(ctx.host, facts);
  const journal: Journal = {
    format: 1, command, pid: ctx.pid ?? process.pid, startedAt: (ctx.clock?.() ?? new Date()).toISOString(), steps,
    before: facts.map((fact) => ({ fact, value: before.get(factKey(fact)) ?? null })),
  };
  journal.dirs = missingDirs(ctx.host, JOURNAL);
  try {
    writeJournal(ctx.host, journal);
  } catch (err) {
    // The host's own refusal (a read-only --root, a path out of the root) already says what to do.
    if (err instanceof GpuvirtError) throw err;
    throw new GpuvirtError('E_JOURNAL', `cannot write the journal ${JOURNAL}: ${describeError(err)}; nothing was changed`, {
      exitCode: ExitCode.failed, hint: 'gpuvirt journals every change before its first write: make room on /var, then run it again', cause: err,
    });
  }
  const interrupt: Interrupt = { signal: null };
  const untrap = (ctx.signals ?? processSignals)((sig) => {
    if (interrupt.signal === null) ctx.io.err(`gpuvirt: ${sig}: finishing the step in flight, then undoing the change\n`);
    interrupt.signal ??= sig;
  });
  let result: { reports: StepReport[]; failed: { index: number; error: unknown } | null; started: number };
  try {
    result = await runSteps(ctx, steps, interrupt);
    let now = readAll(ctx.host, facts);
    if (!result.failed && !interrupt.signal) {
      const wrong = unexpected(plan.expect ?? [], now);
      if (wrong.length) result.failed = { index: -1, error: new Error(`every step passed, but ${wrong.join('; ')}`) };
    }
    const applied: ApplyReport = { ok: !result.failed && !interrupt.signal, steps: result.reports, rollback: null };
    if (result.failed && result.failed.index < 0) {
      applied.steps.push({ index: steps.length, title: 'the host shows what the plan promised', action: 'read the host again', status: 'failed', error: describeError(result.failed.error) });
    }
    if (!applied.ok) {
      applied.rollback = await rollback(ctx, steps, result.started, before, facts);
      now = readAll(ctx.host, facts);
    }
    if (applied.rollback && !applied.rollback.ok) writeJournal(ctx.host, { ...journal, rollbackIncomplete: true }, result.started);
    else clearJournal(ctx.host, journal);
    data.applied = applied;
    data.facts = readings(plan, facts, before, now);
    if (interrupt.signal) {
      data.interrupted = interrupt.signal;
      return { ok: false, data, warnings, exitCode: ExitCode.cancelled };
    }
    return { ok: applied.ok, data, warnings };
  } finally {
    untrap();
  }
}

function readings<V>(plan: ChangePlan<V>, facts: readonly Fact[], before: Map<string, string | null>, now: Map<string, string | null>): FactReading[] {
  const expected = new Map((plan.expect ?? []).map((e) => [factKey(e.fact), e.value]));
  return facts.map((f) => {
    const k = factKey(f);
    return { fact: factLabel(f), before: before.get(k) ?? null, now: now.get(k) ?? null, ...(expected.has(k) ? { expected: expected.get(k)! } : {}) };
  });
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Traps the signals that end a run, so the step in flight finishes and the change is undone. */
export function processSignals(handler: (signal: string) => void): () => void {
  const fns = SIGNALS.map((s) => [s, () => handler(s)] as const);
  for (const [s, fn] of fns) process.on(s, fn);
  return () => {
    for (const [s, fn] of fns) process.off(s, fn);
  };
}

export type { ChangeData, ChangeOptions, ChangePlan, ChangeResult };
