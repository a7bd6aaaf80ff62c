// Applying the steps one by one, with progress: a listr2 task list on a terminal, plain lines on
// a pipe, nothing in JSON mode. Before each step the journal's progress file names it, and a
// signal that arrived stops the run between steps, never inside one.
import { escapeControls } from '../validate.js';
import type { Ctx } from '../context.js';
import { errnoOf } from '../errors.js';
import { describeError, runStep, type StepReport } from '../mutate/apply.js';
import { describeStep, type Step } from '../mutate/steps.js';
import { markStarted } from './journal.js';

export interface Interrupt {
  signal: string | null;
}

export interface StepsResult {
  reports: StepReport[];
  failed: { index: number; error: unknown } | null;
  /** The last step that started (-1: none). */
  started: number;
}

/** A file step is read back: the write is not trusted on its own. */
function verifyFile(ctx: Ctx, step: Step): void {
  if (step.kind === 'file' && ctx.host.readText(step.path) !== step.content) throw new Error(`${step.path} does not read back as written`);
  if (step.kind === 'remove-file' && ctx.host.readText(step.path) !== null) throw new Error(`${step.path} is still there`);
}

async function one(ctx: Ctx, step: Step, index: number, state: StepsResult): Promise<void> {
  markStarted(ctx.host, index);
  state.started = index;
  try {
    await runStep(step, { host: ctx.host, exec: ctx.exec });
    verifyFile(ctx, step);
  } catch (error) {
    state.failed = { index, error };
    const errno = errnoOf(error);
    state.reports.push({ index, title: step.title, action: describeStep(step), status: 'failed', error: `${describeStep(step)}: ${describeError(error)}`, ...(errno ? { errno } : {}) });
    throw error;
  }
  state.reports.push({ index, title: step.title, action: describeStep(step), status: 'done' });
}

export async function runSteps(ctx: Ctx, steps: readonly Step[], interrupt: Interrupt): Promise<StepsResult> {
  const state: StepsResult = { reports: [], failed: null, started: -1 };
  const terminal = !ctx.json && ctx.io.isTTY ? ctx.terminal?.() : undefined;
  if (terminal) {
    const { Listr, ListrLogger, ProcessOutput } = await import('listr2');
    const list = new Listr(
      steps.map((step, index) => ({
        title: step.title,
        skip: () => interrupt.signal !== null,
        task: () => one(ctx, step, index, state),
      })),
      { exitOnError: true, registerSignalListeners: false, rendererOptions: { logger: new ListrLogger({ processOutput: new ProcessOutput(terminal, terminal) }) } },
    );
    await list.run().catch(() => undefined);
    return state;
  }
  const progress = ctx.json ? () => undefined : (line: string) => ctx.io.err(`${escapeControls(line)}\n`);
  for (const [index, step] of steps.entries()) {
    if (interrupt.signal) break;
    try {
      await one(ctx, step, index, state);
    } catch (error) {
      progress(`  FAILED  ${step.title}: ${describeError(error)}`);
      break;
    }
    progress(`  ok      ${step.title}`);
  }
  return state;
}
