// The one seam through which gpuvirt runs external programs: spawned directly (no shell), in
// the C locale (their output is parsed), stdin from `input` or else empty, output collected whole.
import { GpuvirtError, ExitCode } from '../errors.js';

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string;
  timeoutMs?: number;
}

export interface Exec {
  run(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
}

/** How long a program that ignores SIGTERM at its timeout gets before SIGKILL. */
const KILL_AFTER_MS = 5_000;
/**
 * How long, once a program has exited, its output pipes may stay open. What it wrote is in the
 * pipes by then and read at once; a pipe still open after this is held by a process it started
 * and left running (a daemon that kept its stdout), which would otherwise hold the run.
 */
const DRAIN_MS = 200;
/** How much output (stdout and stderr together) a program may give: every caller parses it whole. */
const MAX_OUTPUT_BYTES = 100 * 1024 * 1024;

export class RealExec implements Exec {
  constructor(private readonly limits: { maxOutputBytes?: number } = {}) {}

  async run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const [file, ...args] = argv;
    if (!file) throw new Error('exec: empty argv');
    const failed = (why: string, cause?: unknown) => new GpuvirtError('E_EXEC', `could not run ${file}: ${why}`, { exitCode: ExitCode.failed, cause });
    const timeoutMs = opts.timeoutMs ?? 600_000;
    const maxOutput = this.limits.maxOutputBytes ?? MAX_OUTPUT_BYTES;
    // Loaded here: node:child_process brings Node's stream and net modules, which a read-only command never needs.
    const { spawn } = await import('node:child_process');
    return new Promise<ExecResult>((resolve, reject) => {
      const child = spawn(file, args, {
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        env: { ...process.env, LC_ALL: 'C' },
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      /** Why the run failed before the program ended (a timeout, too much output); null while it has not. */
      let stopped: string | null = null;
      let settled = false;
      let killer: NodeJS.Timeout | undefined;
      let drain: NodeJS.Timeout | undefined;
      const stop = (why: string) => {
        if (stopped !== null) return;
        stopped = why;
        child.kill('SIGTERM');
        killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
      };
      const collect = (into: Buffer[]) => (b: Buffer) => {
        if (stopped !== null) return;
        size += b.length;
        if (size > maxOutput) stop(`its output passed ${maxOutput} bytes`);
        else into.push(b);
      };
      child.stdout!.on('data', collect(out));
      child.stderr!.on('data', collect(err));
      const timer = setTimeout(() => stop(`timed out after ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}`), timeoutMs);
      /** The one end of a run: the first of exit, close and a spawn error; its timers cleared. */
      const settle = (end: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(killer);
        clearTimeout(drain);
        end();
      };
      const finish = (code: number | null, signal: NodeJS.Signals | null) => settle(() => {
        if (stopped !== null) reject(failed(stopped));
        else if (code === null) reject(failed(`killed by ${signal ?? 'a signal'}`));
        else resolve({ exitCode: code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
      child.on('error', (e: NodeJS.ErrnoException) => settle(() => {
        reject(failed(e.code === 'ENOENT' ? 'no such program' : e.code === 'EACCES' ? 'permission denied' : e.message, e));
      }));
      // 'close': the program has exited and its output is all read. A pipe another process
      // still holds is let go DRAIN_MS after the program's exit, with what was read.
      child.on('close', finish);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        // setImmediate: after one more poll of the pipes, even when this process was busy for the whole wait.
        drain = setTimeout(() => setImmediate(() => {
          if (settled) return;
          child.stdout!.destroy();
          child.stderr!.destroy();
          finish(code, signal);
        }), DRAIN_MS);
      });
      if (opts.input !== undefined) {
        // A program that exits without reading its input closes the pipe: that is its business.
        child.stdin!.on('error', () => undefined);
        child.stdin!.end(opts.input);
      }
    });
  }
}

/**
 * Used whenever the host root is not `/`: the files are a copy or a fixture, so running a
 * real program (modprobe, update-grub, ...) would change the wrong machine. It refuses.
 */
export class RefusingExec implements Exec {
  constructor(private readonly root: string) {}
  async run(argv: readonly string[]): Promise<ExecResult> {
    throw new GpuvirtError(
      'E_EXEC_UNDER_ROOT',
      `will not run \`${argv.join(' ')}\` on this machine while --root is ${this.root}`,
      { exitCode: ExitCode.unsupported, hint: 'programs run only against the real host (root /)' },
    );
  }
}
