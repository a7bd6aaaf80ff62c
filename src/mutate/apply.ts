// Runs a plan step by step, checking each, and on the first failure undoes what was done:
// configuration files come back from their backups (here), device state through the
// caller's `restore`, which drives devices back to their recorded state.
import type { Exec } from '../host/exec.js';
import { type Host, linkName } from '../host/host.js';
import { paths } from '../host/paths.js';
import { errnoOf } from '../errors.js';
import { describeStep, type Step } from './steps.js';

export interface StepReport {
  index: number;
  title: string;
  action: string;
  status: 'done' | 'failed';
  error?: string;
  /** The kernel's errno when a write failed (EBUSY, ERANGE, ...). */
  errno?: string;
}

export interface RollbackReport {
  ok: boolean;
  /** What was undone, in order. */
  actions: string[];
  errors: string[];
}

export interface ApplyReport {
  ok: boolean;
  steps: StepReport[];
  rollback: RollbackReport | null;
}

export interface ApplyEnv {
  host: Host;
  exec: Exec;
  /** Progress lines for a human (stderr); not called in JSON mode. */
  progress?: (line: string) => void;
  /** Identifies this run's backups: backups/<runId>/<path>. */
  runId: string;
  /** Replaces the real timer while polling (tests). */
  sleep?: (ms: number) => Promise<void>;
  /** Show the steps as a listr2 task list on this terminal stream instead of plain lines. */
  terminal?: NodeJS.WriteStream;
}

/** The apply environment for a command: plain progress lines on stderr, a task list on a terminal, nothing in JSON mode. */
export function applyEnvFor(ctx: { host: Host; exec: Exec; json: boolean; io: { err(text: string): void } }, id = runId()): ApplyEnv {
  if (ctx.json) return { host: ctx.host, exec: ctx.exec, runId: id };
  return {
    host: ctx.host,
    exec: ctx.exec,
    runId: id,
    progress: (line) => ctx.io.err(`${line}\n`),
    terminal: process.stderr.isTTY ? process.stderr : undefined,
  };
}

type Failure = { index: number; error: unknown } | null;

/** Runs the steps in order until one fails; reports go into `reports`. */
async function runAll(steps: readonly Step[], env: ApplyEnv, undo: FileUndo[], reports: StepReport[]): Promise<Failure> {
  if (env.terminal) return runAllListr(steps, env, undo, reports, env.terminal);
  for (const [index, step] of steps.entries()) {
    try {
      await runStep(step, env, undo);
    } catch (error) {
      env.progress?.(`  FAILED  ${step.title}: ${describeError(error)}`);
      return { index, error };
    }
    reports.push({ index, title: step.title, action: describeStep(step), status: 'done' });
    env.progress?.(`  ok      ${step.title}`);
  }
  return null;
}

/** The same, drawn by listr2 on a terminal (loaded only then). */
async function runAllListr(steps: readonly Step[], env: ApplyEnv, undo: FileUndo[], reports: StepReport[], stream: NodeJS.WriteStream): Promise<Failure> {
  const { Listr, ListrLogger, ProcessOutput } = await import('listr2');
  let failure: Failure = null;
  const list = new Listr(
    steps.map((step, index) => ({
      title: step.title,
      task: async () => {
        try {
          await runStep(step, env, undo);
        } catch (error) {
          failure = { index, error };
          throw new Error(describeError(error));
        }
        reports.push({ index, title: step.title, action: describeStep(step), status: 'done' });
      },
    })),
    { exitOnError: true, registerSignalListeners: false, rendererOptions: { logger: new ListrLogger({ processOutput: new ProcessOutput(stream, stream) }) } },
  );
  await list.run().catch(() => undefined);
  return failure;
}

/** A name for this run's backup folder: sortable, and safe in a path. */
export function runId(now = new Date()): string {
  return now.toISOString().replace(/[:.]/g, '-');
}

const ERRNO_TEXT: Record<string, string> = {
  EBUSY: 'device or resource busy',
  ENODEV: 'no such device (or the driver does not match it)',
  EINVAL: 'invalid argument',
  ENOENT: 'no such file or directory',
  ERANGE: 'out of range',
  EACCES: 'permission denied (or no such attribute)',
  EPERM: 'operation not permitted',
  EEXIST: 'already exists',
  ENOMEM: 'not enough memory or MMIO space',
  EIO: 'input/output error',
};

export function describeError(err: unknown): string {
  const errno = errnoOf(err);
  if (errno && ERRNO_TEXT[errno]) return `${errno} (${ERRNO_TEXT[errno]})`;
  return err instanceof Error ? err.message : String(err);
}

interface FileUndo {
  path: string;
  previous: string | null;
}

/** Performs one step; file steps record what they replaced in `undo`. */
export async function runStep(step: Step, env: ApplyEnv, undo: FileUndo[] = []): Promise<void> {
  const { host } = env;
  switch (step.kind) {
    case 'write':
      host.writeAttr(step.path, step.value);
      return;
    case 'exec': {
      const r = await env.exec.run(step.argv);
      if (r.exitCode !== 0) {
        const detail = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ');
        throw new Error(`${step.argv[0]} exited with status ${r.exitCode}${detail ? `: ${detail}` : ''}`);
      }
      return;
    }
    case 'file':
    case 'remove-file': {
      undo.push({ path: step.path, previous: host.readText(step.path) });
      if (step.kind === 'file') host.writeFile(step.path, step.content, step.mode);
      else host.removeFile(step.path);
      return;
    }
    case 'verify-driver': {
      const now = linkName(host, paths.pciAttr(step.address, 'driver'));
      if (now !== step.driver) throw new Error(`${step.address} is bound to ${now ?? 'no driver'}, not ${step.driver ?? 'no driver'} (dmesg may say why)`);
      return;
    }
    case 'verify-not-driver': {
      const now = linkName(host, paths.pciAttr(step.address, 'driver'));
      if (now === step.not) throw new Error(`${step.address} is still bound to ${step.not}`);
      return;
    }
    case 'verify-exists':
      if (!host.exists(step.path)) throw new Error(`${step.path} does not exist`);
      return;
    case 'verify-not-exists':
      if (host.exists(step.path)) throw new Error(`${step.path} still exists`);
      return;
    case 'verify-text': {
      const words = new Set((host.readText(step.path) ?? '').split(/[\s"']+/));
      const missing = step.contains.filter((w) => !words.has(w));
      const present = step.absent.filter((a) => [...words].some((w) => w === a || w.startsWith(`${a}=`)));
      if (missing.length || present.length) {
        throw new Error(`${step.path}: ${[...missing.map((w) => `${w} missing`), ...present.map((w) => `${w} still there`)].join(', ')}`);
      }
      return;
    }
    case 'wait-vfs':
      await waitVfs(host, step.pf, step.count, step.timeoutMs, env.sleep ?? defaultSleep);
      return;
  }
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** VFs come and go asynchronously (disable sleeps ~1 s in the kernel): poll sriov_numvfs and the virtfn links. */
async function waitVfs(host: Host, pf: string, count: number, timeoutMs: number, sleep: (ms: number) => Promise<void>): Promise<void> {
  const interval = 100;
  let last = -1;
  let stable = 0;
  for (let waited = 0; ; waited += interval) {
    const num = Number((host.readText(paths.pciAttr(pf, 'sriov_numvfs')) ?? '').trim());
    const links = (host.list(paths.pciDevice(pf)) ?? []).filter((e) => /^virtfn\d+$/.test(e));
    const present = links.filter((l) => host.exists(paths.pciAttr(pf, l))).length;
    if (num === count && links.length === count && present === count) return;
    stable = num === last ? stable + 1 : 0;
    last = num;
    // A driver may enable fewer VFs than asked; once the count holds still for a second, that is its answer.
    if (count > 0 && num > 0 && num !== count && stable >= 10) throw new Error(`${pf} reports ${num} VFs, not the ${count} asked: its driver enabled fewer`);
    if (waited >= timeoutMs) {
      throw new Error(`${pf} reports ${num} VFs with ${present} VF devices after ${Math.round(timeoutMs / 1000)} s, expected ${count}`);
    }
    await sleep(interval);
  }
}

function restoreFiles(host: Host, undo: FileUndo[], report: RollbackReport): void {
  for (const u of [...undo].reverse()) {
    try {
      if (u.previous === null) host.removeFile(u.path);
      else host.writeFile(u.path, u.previous);
      report.actions.push(u.previous === null ? `removed ${u.path}` : `restored ${u.path}`);
    } catch (err) {
      report.ok = false;
      report.errors.push(`could not restore ${u.path}: ${describeError(err)}`);
    }
  }
}

/** Runs the program undos of every step that ran, newest first. */
async function undoPrograms(done: readonly Step[], env: ApplyEnv, report: RollbackReport): Promise<void> {
  for (const step of [...done].reverse()) {
    for (const u of step.undo ?? []) {
      if (u.kind !== 'run') continue;
      try {
        const r = await env.exec.run(u.argv);
        if (r.exitCode !== 0) throw new Error(`exited with status ${r.exitCode}`);
        report.actions.push(`ran ${u.argv.join(' ')}`);
      } catch (err) {
        report.ok = false;
        report.errors.push(`${u.argv.join(' ')}: ${describeError(err)}`);
      }
    }
  }
}

/**
 * Executes `steps` in order. On failure, restores the files this run changed and calls
 * `restore` (which must bring devices back to their recorded state and say what it did).
 */
export async function applySteps(
  steps: readonly Step[],
  env: ApplyEnv,
  restore: () => Promise<RollbackReport>,
): Promise<ApplyReport> {
  const reports: StepReport[] = [];
  const undo: FileUndo[] = [];
  const failure = await runAll(steps, env, undo, reports);
  if (failure) {
    const { index, error: err } = failure;
    const step = steps[index]!;
    const error = `${describeStep(step)}: ${describeError(err)}`;
    reports.push({ index, title: step.title, action: describeStep(step), status: 'failed', error, ...(errnoOf(err) ? { errno: errnoOf(err) } : {}) });
    const rollback: RollbackReport = { ok: true, actions: [], errors: [] };
    restoreFiles(env.host, undo, rollback);
    // The failed program too: it may have done part of its work (grubby on some entries).
    await undoPrograms(steps.slice(0, index + 1), env, rollback);
    const devices = await restore();
    rollback.actions.push(...devices.actions);
    rollback.errors.push(...devices.errors);
    rollback.ok = rollback.ok && devices.ok;
    for (const a of rollback.actions) env.progress?.(`  undone  ${a}`);
    return { ok: false, steps: reports, rollback };
  }
  return { ok: true, steps: reports, rollback: null };
}
