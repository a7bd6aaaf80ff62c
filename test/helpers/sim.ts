// A fixture machine under the simulated kernel, and a way to run gpuvirt commands on it.
import { afterEach } from 'vitest';
import { main } from '../../src/cli.js';
import type { Prompter } from '../../src/context.js';
import type { Exec, ExecResult } from '../../src/host/exec.js';
import type { Host } from '../../src/host/host.js';
import { linkName, readAttr } from '../../src/host/host.js';
import { paths } from '../../src/host/paths.js';
import { makeSimHost, type SimHost } from '../../src/sim/host.js';
import { captureIO } from './io.js';

/** The simulated machines' clock: every run happens at the same moment, so plans compare equal. */
const CLOCK = '2026-06-01T12:00:00.000Z';

export const FIXTURES = new URL('../fixtures/sysfs/', import.meta.url).pathname;

const live: SimHost[] = [];
/** What strict test doubles found wrong in this test: stubs never used, questions never expected. */
const strictProblems: string[] = [];
const strictChecks: (() => void)[] = [];
afterEach(() => {
  while (strictChecks.length) strictChecks.pop()!();
  while (live.length) live.pop()!.cleanup();
  const found = strictProblems.splice(0);
  if (found.length) throw new Error(`strict test doubles: ${found.join('; ')}`);
});

/** Programs other than modprobe (initramfs rebuilds, systemctl) that a test allows, recorded. */
export class TestExec implements Exec {
  readonly calls: string[][] = [];
  constructor(private readonly sim: Exec, readonly allowed: Record<string, ExecResult | (() => ExecResult)> = {}) {}
  async run(argv: readonly string[]): Promise<ExecResult> {
    this.calls.push([...argv]);
    const key = argv.join(' ');
    const answer = this.allowed[key];
    if (answer !== undefined) return typeof answer === 'function' ? answer() : answer;
    return this.sim.run(argv);
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed, for --json runs. */
  doc: any;
}

export interface RunOptions {
  tty?: boolean;
  /** The answer to a confirmation; a function also sees what was on the screen when it was asked. */
  answer?: boolean | ((screen: string) => boolean);
  /** Runs against this host and exec seam instead of the machine's own (a dying or faulty run). */
  seams?: (host: Host, exec: Exec) => { host: Host; exec: Exec };
  /** Receives the engine's signal handler, to deliver a signal during apply. */
  signals?: (deliver: (signal: string) => void) => void;
  /** Replaces waiting (a bounded wait in simulated time). */
  sleep?: (ms: number) => Promise<void>;
}

export interface Machine extends SimHost {
  testExec: TestExec;
  run(argv: string[], opts?: RunOptions): Promise<RunResult>;
  /** driver and driver_override of each address, as the kernel shows them now. */
  drivers(addresses: string[]): Record<string, { driver: string | null; override: string | null }>;
}

/**
 * A fixture machine. Its doubles are strict: a program stub the test set up but no run called,
 * and a question a run asked without the test giving an answer, fail the test. `lenient` is for
 * tables that share stubs across tests that do not all reach them (the change contract).
 */
export function machine(name: string, allowedPrograms: Record<string, ExecResult | (() => ExecResult)> = {}, opts: { lenient?: boolean } = {}): Machine {
  const sim = makeSimHost(FIXTURES + name);
  live.push(sim);
  const testExec = new TestExec(sim.exec, allowedPrograms);
  if (!opts.lenient) {
    strictChecks.push(() => {
      const called = new Set(testExec.calls.map((c) => c.join(' ')));
      for (const key of Object.keys(allowedPrograms)) if (!called.has(key)) strictProblems.push(`\`${key}\` was stubbed on ${name} but never run`);
    });
  }
  return {
    ...sim,
    testExec,
    async run(argv, opts = {}) {
      const io = captureIO({ tty: opts.tty ?? false });
      const prompt: Prompter = {
        confirm: async (question) => {
          if (opts.answer === undefined) {
            strictProblems.push(`\`gpuvirt ${argv.join(' ')}\` asked "${question}", which the test did not expect`);
            return false;
          }
          return typeof opts.answer === 'function' ? opts.answer(io.stdout) : opts.answer;
        },
        select: async (_m, choices) => choices[0]!.value,
      };
      const seams = opts.seams ? opts.seams(sim.host, testExec) : { host: sim.host, exec: testExec };
      const signals = opts.signals ? (handler: (s: string) => void) => (opts.signals!(handler), () => undefined) : undefined;
      const code = await main([...argv, '--root', sim.root], {
        io, env: {}, platform: 'linux', prompt, makeHost: () => seams.host, makeExec: () => seams.exec, signals, clock: () => new Date(CLOCK), ...(opts.sleep ? { sleep: opts.sleep } : {}),
      });
      let doc: unknown = null;
      if (argv.includes('--json')) doc = JSON.parse(io.stdout);
      return { code, stdout: io.stdout, stderr: io.stderr, doc };
    },
    drivers(addresses) {
      return Object.fromEntries(addresses.map((a) => {
        const o = readAttr(sim.host, paths.pciAttr(a, 'driver_override'));
        return [a, { driver: linkName(sim.host, paths.pciAttr(a, 'driver')), override: o === '(null)' ? null : o }];
      }));
    },
  };
}
