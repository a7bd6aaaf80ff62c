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

export class RealExec implements Exec {
  async run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const [file, ...args] = argv;
    if (!file) throw new Error('exec: empty argv');
    const failed = (why: string) => new GpuvirtError('E_EXEC', `could not run ${file}: ${why}`, { exitCode: ExitCode.failed });
    const timeoutMs = opts.timeoutMs ?? 600_000;
    // Loaded here: node:child_process brings Node's stream and net modules, which a read-only command never needs.
    const { spawn } = await import('node:child_process');
    return new Promise<ExecResult>((resolve, reject) => {
      const child = spawn(file, args, {
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        env: { ...process.env, LC_ALL: 'C' },
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout!.on('data', (b: Buffer) => out.push(b));
      child.stderr!.on('data', (b: Buffer) => err.push(b));
      let timedOut = false;
      let killer: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGTERM');
        killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        clearTimeout(killer);
      };
      child.on('error', (e: NodeJS.ErrnoException) => {
        done();
        reject(failed(e.code === 'ENOENT' ? 'no such program' : e.code === 'EACCES' ? 'permission denied' : e.message));
      });
      // 'close': the program has exited and its output is all read.
      child.on('close', (code, signal) => {
        done();
        if (timedOut) reject(failed(`timed out after ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}`));
        else if (code === null) reject(failed(`killed by ${signal ?? 'a signal'}`));
        else resolve({ exitCode: code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
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
