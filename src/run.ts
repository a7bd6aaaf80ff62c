// Runs one command once its arguments are known: resolves the root, builds the host and the
// exec seam, runs, renders, and maps every outcome and error to an exit status. cli.ts calls
// it once argv is parsed. Nothing here imports commander, so that path stays small.
import { type Stats, fstatSync, realpathSync, statSync, writeSync } from 'node:fs';
import pkg from '../package.json' with { type: 'json' };
import type { AnyCommand } from './commands/command.js';
import type { Ctx, IO, Prompter } from './context.js';
import { Elsewhere, ExitCode, GpuvirtError, usageError } from './errors.js';
import { inquirerPrompter } from './mutate/guard.js';
import { RealExec, RefusingExec, type Exec } from './host/exec.js';
import { FsHost } from './host/fs-host.js';
import type { Host } from './host/host.js';
import { ReadOnlyHost } from './host/read-only.js';
import { readAttr } from './host/host.js';
import { paths } from './host/paths.js';
import { jsonDocument, jsonError, makeStyle, type DocumentMeta, type ErrorJson, type Outcome } from './output.js';
import { PciNames } from './pci/names.js';
import { escapeControls, escapeData, escapeField } from './validate.js';

export interface Deps {
  io: IO;
  env: Readonly<Record<string, string | undefined>>;
  platform: NodeJS.Platform;
  /** Replaces the FsHost/exec that would be built from --root (tests, simulated kernels). */
  makeHost?: (root: string) => Host;
  makeExec?: (root: string) => Exec;
  prompt?: Prompter;
  /** Replaces the process's signal handlers during apply (tests). */
  signals?: Ctx['signals'];
  /** Replaces the clock (tests: plans with times in them compare equal, and so do the documents' timestamps). */
  clock?: () => Date;
  /** Replaces waiting (tests: a bounded wait runs without real time passing). */
  sleep?: (ms: number) => Promise<void>;
}

/** A command chosen from argv, with its arguments and every option (global ones included). */
export interface Selected {
  def: AnyCommand;
  args: string[];
  opts: Record<string, unknown>;
}

/**
 * Writes all of `text` to a file descriptor with write(2). process.stdout is not used on the
 * way out: creating it loads Node's stream modules, a few ms of a short command's start.
 * - A reader that went away (EPIPE) ends the output quietly, as it ends `ls | head`.
 * - A non-blocking descriptor that is full (EAGAIN) gets the rest, and everything after it,
 *   through the stream, which waits for the reader and keeps the order.
 * - Any other failure (ENOSPC, EIO) of stdout is the command's failure, E_OUTPUT, not a bug;
 *   one of stderr is dropped: there is nowhere left to say it.
 */
function fdWriter(fd: 1 | 2): (text: string) => void {
  let closed = false;
  let viaStream = false;
  const stream = () => (fd === 1 ? process.stdout : process.stderr);
  return (text) => {
    if (closed || text === '') return;
    if (viaStream) return void stream().write(text);
    let buf = Buffer.from(text);
    try {
      while (buf.length > 0) buf = buf.subarray(writeSync(fd, buf));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        viaStream = true;
        stream().write(buf);
        return;
      }
      closed = true;
      if (code === 'EPIPE' || fd === 2) return;
      throw new GpuvirtError('E_OUTPUT', `cannot write to standard output: ${code ?? (err as Error).message}`, { exitCode: ExitCode.failed, cause: err });
    }
  };
}

/**
 * Whether stdout is a terminal, and how wide. Asking process.stdout creates it, and with it
 * Node's stream modules (and for a pipe its net module), which cost a short command more than
 * its work; a terminal is always a character device, so a pipe or a file is told by fstat alone.
 */
function stdoutTerminal(): { isTTY: boolean; columns: number } {
  try {
    if (!fstatSync(1).isCharacterDevice()) return { isTTY: false, columns: 80 };
  } catch {
    return { isTTY: false, columns: 80 };
  }
  return { isTTY: Boolean(process.stdout.isTTY), columns: process.stdout.columns ?? 80 };
}

/**
 * stdout and stderr of this process. Whether stdout is a terminal (and how wide) is asked only
 * when something needs it (text output), and answered without process.stdout where it can be.
 */
export function defaultIO(env: Deps['env']): IO {
  let term: { isTTY: boolean; columns: number } | undefined;
  const terminal = () => (term ??= stdoutTerminal());
  return {
    out: fdWriter(1),
    err: fdWriter(2),
    get isTTY() {
      return terminal().isTTY;
    },
    get stdinTTY() {
      return Boolean(process.stdin.isTTY);
    },
    get color() {
      // NO_COLOR counts when set to something (no-color.org): an empty value leaves colour on.
      return terminal().isTTY && !env.NO_COLOR && env.TERM !== 'dumb';
    },
    get columns() {
      return terminal().columns;
    },
  };
}

function resolveRoot(opt: unknown, env: Deps['env']): string {
  const root = typeof opt === 'string' ? opt : env.GPUVIRT_ROOT || '/';
  let stat: Stats;
  try {
    stat = statSync(root);
  } catch {
    throw usageError(`--root ${root}: no such directory`);
  }
  if (!stat.isDirectory()) throw usageError(`--root ${root}: not a directory`);
  // `/.`, `//`, a link to `/`: the real machine, with the rules of the real machine. (The
  // native realpath(3): Node's own walks the path in JavaScript, an lstat per component.)
  return realpathSync.native(root) === '/' ? '/' : root;
}

/** GPUVIRT_SIMULATE=1 acts on a tree, never on this machine: without a root it is refused. */
function checkSimulation(root: string, env: Deps['env']): void {
  if (env.GPUVIRT_SIMULATE === '1' && root === '/') {
    throw usageError('GPUVIRT_SIMULATE=1 needs --root DIR (a tree other than /): the simulated kernel never acts on this machine');
  }
}

/** Any error as a GpuvirtError: one that is not is a bug, reported as such. */
export function asGpuvirtError(err: unknown): GpuvirtError {
  if (err instanceof GpuvirtError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new GpuvirtError('E_INTERNAL', `unexpected error: ${detail}`, {
    exitCode: ExitCode.internal,
    hint: 'this is a bug in gpuvirt; please report it with the output of `GPUVIRT_DEBUG=1 gpuvirt ...`',
    cause: err,
  });
}

/**
 * Reports a failure (a JSON error document, or one line and a hint on stderr) and returns its
 * exit status. `shown`: the message is already on the terminal (commander printed it).
 */
export function reportFailure(raw: unknown, err: GpuvirtError, how: { io: IO; env: Deps['env']; json: boolean; command: string; shown?: boolean; meta?: DocumentMeta; help?: string }): number {
  const { io, json } = how;
  // Output that failed cannot carry the report of its own failure: that goes to stderr.
  let onStderr = !json || err.code === 'E_OUTPUT';
  if (!onStderr) {
    try {
      io.out(jsonError(how.command, err, how.meta ?? documentMeta(null)));
    } catch {
      onStderr = true;
    }
  }
  if (onStderr && !how.shown) {
    io.err(`gpuvirt: ${escapeField(err.message)}\n`);
    if (err.hint) io.err(`  hint: ${escapeField(err.hint)}\n`);
    if (how.help) io.err(`  ${how.help}\n`);
  }
  if (how.env.GPUVIRT_DEBUG && raw instanceof Error) io.err(`${raw.stack}\n`);
  return err.exitCode;
}

/**
 * Where a document comes from. The host is named by its machine-id(5) when the root has one,
 * and by its hostname only at root /: under another root this machine's name would be wrong.
 */
export function documentMeta(at: { host: Host; root: string; hostname?: string } | null, now: () => Date = () => new Date()): DocumentMeta {
  const host = at && {
    machineId: readAttr(at.host, paths.machineId) || null,
    hostname: at.hostname ?? null,
    kernel: readAttr(at.host, paths.osrelease),
  };
  return { tool: { name: 'gpuvirt', version: pkg.version }, host, timestamp: now().toISOString() };
}

/** The documents' clock: the test's, else SOURCE_DATE_EPOCH (seconds, as for reproducible builds), else the time. */
export function clockOf(deps: Pick<Partial<Deps>, 'clock' | 'env'>): () => Date {
  if (deps.clock) return deps.clock;
  const epoch = deps.env?.SOURCE_DATE_EPOCH;
  return epoch && /^\d+$/.test(epoch) ? () => new Date(Number(epoch) * 1000) : () => new Date();
}

/** Why a failed outcome failed: the command's own error, else what a change's data says (its refusals, its failed step), else a generic one. */
function outcomeError(name: string, outcome: Outcome<unknown>, exitCode: number): ErrorJson {
  const e = outcome.error;
  if (e) return { code: e.code, message: e.message, hint: e.hint ?? null, exitCode };
  const d = (outcome.data ?? {}) as { refusals?: { message?: string }[]; blocked?: boolean; applied?: { ok?: boolean; steps?: { status?: string; error?: string }[] } | null; hint?: unknown; msg?: unknown };
  const refusals = Array.isArray(d.refusals) ? d.refusals.filter((r) => typeof r?.message === 'string') : [];
  if (d.blocked && refusals.length) {
    const more = refusals.length > 1 ? ` (and ${refusals.length - 1} more in data.refusals)` : '';
    return { code: exitCode === ExitCode.unsupported ? 'E_UNSUPPORTED' : 'E_REFUSED', message: `refused: ${refusals[0]!.message}${more}`, hint: null, exitCode };
  }
  const failed = d.applied && d.applied.ok === false ? d.applied.steps?.find((s) => s.status === 'failed') : undefined;
  if (failed) return { code: 'E_APPLY_FAILED', message: failed.error ?? 'a step failed', hint: typeof d.hint === 'string' ? d.hint : null, exitCode };
  // A command whose data says in one line why it failed (host diff and assert: `msg`).
  if (typeof d.msg === 'string' && d.msg) return { code: 'E_FAILED', message: d.msg, hint: null, exitCode };
  return { code: 'E_FAILED', message: `gpuvirt ${name} did not succeed: see data`, hint: null, exitCode };
}

/** A root's host and exec seam: the real ones (FsHost; programs run only when the root is /). */
export type OpenHost = (root: string) => Promise<{ host: Host; exec: Exec }>;

export function openHost(deps: Partial<Deps>): OpenHost {
  return async (root) => {
    // A replaced host (a test's fake) never gets the real exec seam, even at root /.
    if (deps.makeHost || deps.makeExec) {
      return { host: deps.makeHost ? deps.makeHost(root) : new FsHost(root), exec: deps.makeExec ? deps.makeExec(root) : new RefusingExec(root) };
    }
    if (root === '/') return { host: new FsHost(root), exec: new RealExec() };
    return { host: new ReadOnlyHost(new FsHost(root), root), exec: new RefusingExec(root) };
  };
}

/** Runs the selected command and returns its exit status; never throws. */
export async function execute(selected: Selected, json: boolean, deps: Partial<Deps> & Pick<Deps, 'io' | 'env'>, open: OpenHost = openHost(deps)): Promise<number> {
  const { def, args, opts } = selected;
  const { io, env } = deps;
  let at: { host: Host; root: string; hostname?: string } | null = null;
  try {
    const root = resolveRoot(opts.root, env);
    checkSimulation(root, env);
    const platform = deps.platform ?? process.platform;
    if (def.linuxOnly && platform !== 'linux' && root === '/') {
      throw new GpuvirtError('E_NOT_LINUX', `gpuvirt ${def.name} needs a Linux host (this is ${platform})`, {
        exitCode: ExitCode.unsupported,
        hint: 'generate and profile validation work on any OS; --root DIR reads a Linux snapshot',
      });
    }
    const { host, exec } = await open(root);
    // The kernel's own hostname, and only when the root is this machine.
    at = { host, root, hostname: json && root === '/' ? readAttr(host, paths.procHostname) ?? undefined : undefined };
    const names = new PciNames(root === '/' ? [host] : [host, new FsHost('/')]);
    const ctx: Ctx = {
      host, exec, io, names, env, json, prompt: deps.prompt ?? inquirerPrompter, pid: process.pid, clock: deps.clock ?? (() => new Date()), ...(deps.sleep ? { sleep: deps.sleep } : {}),
      style: () => makeStyle(io.color && opts.color !== false), signals: deps.signals,
      terminal: () => (process.stderr.isTTY ? process.stderr : undefined),
    };
    const parsed = def.parse(args, opts);
    const outcome = strictOutcome(await def.run(parsed, ctx), opts.strict === true);
    const exitCode = outcome.exitCode ?? (outcome.ok ? ExitCode.ok : ExitCode.failed);
    if (json) io.out(jsonDocument(def.name, outcome, documentMeta(at, clockOf(deps)), outcome.ok ? null : outcomeError(def.name, outcome, exitCode)));
    else {
      const style = await ctx.style();
      io.out(def.render(escapeData(outcome.data), style, ctx));
      for (const w of outcome.warnings) io.err(`gpuvirt: warning: ${escapeControls(w)}
`);
      if (outcome.error?.code === 'E_STRICT') io.err(`gpuvirt: ${outcome.error.message}\n`);
    }
    return exitCode;
  } catch (raw) {
    if (raw instanceof Elsewhere) throw raw;
    return reportFailure(raw, asGpuvirtError(raw), { io, env, json, command: def.name, meta: documentMeta(at, clockOf(deps)) });
  }
}

/** --strict: a command that succeeded with warnings (its own or those inside its data) fails, exit 1. */
export function strictOutcome<D>(outcome: Outcome<D>, strict: boolean): Outcome<D> {
  const count = outcome.warnings.length + (outcome.dataWarnings ?? 0);
  if (!strict || !outcome.ok || count === 0) return outcome;
  const message = `--strict: ${count} warning${count > 1 ? 's' : ''}, so this run fails`;
  return { ...outcome, ok: false, exitCode: ExitCode.failed, error: { code: 'E_STRICT', message, hint: 'without --strict, warnings do not change the exit status' } };
}
