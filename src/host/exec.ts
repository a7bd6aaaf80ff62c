// The one seam through which gpuvirt runs external programs. execa is loaded only when a
// program is really run (it costs tens of milliseconds to import).
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

export class RealExec implements Exec {
  async run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const [file, ...args] = argv;
    if (!file) throw new Error('exec: empty argv');
    const { execa } = await import('execa');
    const r = await execa(file, args, {
      reject: false,
      input: opts.input,
      timeout: opts.timeoutMs ?? 600_000,
      stripFinalNewline: false,
      env: { LC_ALL: 'C' },
    });
    if (r.failed && r.exitCode === undefined) {
      throw new GpuvirtError('E_EXEC', `could not run ${file}: ${r.shortMessage ?? 'unknown error'}`, {
        exitCode: ExitCode.failed,
      });
    }
    return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
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
