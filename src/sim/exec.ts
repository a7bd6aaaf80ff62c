// The exec seam for a simulated machine. Strict, like a test stub: it runs only the programs
// it models (`modprobe <module>`, `modprobe -r <module>`) against the SimKernel, and throws for
// any other argv so an unexpected command fails the test instead of passing silently.
// Calls and injected failures live in the kernel's sidecar, shared with a spawned CLI.
import type { Exec, ExecResult } from '../host/exec.js';
import type { SimKernel } from './kernel.js';
import { consume, type ExecRecord, storedRegex } from './state.js';

export interface ExecFailureRule {
  /** The exact argv, or a pattern tested against argv joined with spaces. */
  argv: readonly string[] | RegExp;
  exitCode: number;
  stdout?: string;
  stderr?: string;
  /** How many calls fail; every matching call when absent. */
  times?: number;
}

export class SimExec implements Exec {
  constructor(readonly kernel: SimKernel) {}

  async run(argv: readonly string[]): Promise<ExecResult> {
    const line = argv.join(' ');
    const injected = this.kernel.withState((k) =>
      consume(k.state.execFailures, (r) => (r.regex ? storedRegex(r.regex).test(line) : r.argv === line)),
    );
    const result: ExecResult = injected
      ? { exitCode: injected.exitCode, stdout: injected.stdout, stderr: injected.stderr }
      : this.simulate(argv);
    this.kernel.withState((k) => k.state.execs.push({ argv: [...argv], exitCode: result.exitCode }));
    return result;
  }

  private simulate(argv: readonly string[]): ExecResult {
    const [file, ...args] = argv;
    const valid = (m: string | undefined): m is string => m !== undefined && /^[A-Za-z0-9_-]+$/.test(m);
    if (file === 'modprobe' && args.length === 1 && valid(args[0])) return this.kernel.modprobe(args[0]);
    if (file === 'modprobe' && args.length === 2 && args[0] === '-r' && valid(args[1])) {
      return this.kernel.modprobeRemove(args[1]);
    }
    throw new Error(`sim-exec: no simulation for \`${argv.join(' ')}\``);
  }

  /** Makes matching calls return this result instead of running. */
  failOn(rule: ExecFailureRule): void {
    const { argv, exitCode, stdout = '', stderr = '', times } = rule;
    this.kernel.withState((k) =>
      k.state.execFailures.push({
        argv: argv instanceof RegExp ? argv.source : argv.join(' '),
        ...(argv instanceof RegExp ? { regex: { source: argv.source, flags: argv.flags } } : {}),
        exitCode, stdout, stderr, remaining: times ?? null,
      }),
    );
  }

  /** Every call so far, from every process on this root. */
  get calls(): ExecRecord[] {
    return this.kernel.withState((k) => k.state.execs);
  }
}
