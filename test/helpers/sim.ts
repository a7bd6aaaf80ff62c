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
afterEach(() => {
  while (live.length) live.pop()!.cleanup();
});

/** Programs other than modprobe (initramfs rebuilds, systemctl) that a test allows, recorded. */
export class TestExec implements Exec {
  readonly calls: string[][] = [];
  constructor(private readonly sim: Exec, private readonly allowed: Record<string, ExecResult | (() => ExecResult)> = {}) {}
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
}

export interface Machine extends SimHost {
  testExec: TestExec;
  run(argv: string[], opts?: RunOptions): Promise<RunResult>;
  /** driver and driver_override of each address, as the kernel shows them now. */
  drivers(addresses: string[]): Record<string, { driver: string | null; override: string | null }>;
}

export function machine(name: string, allowedPrograms: Record<string, ExecResult | (() => ExecResult)> = {}): Machine {
  const sim = makeSimHost(FIXTURES + name);
  live.push(sim);
  const testExec = new TestExec(sim.exec, allowedPrograms);
  return {
    ...sim,
    testExec,
    async run(argv, opts = {}) {
      const io = captureIO({ tty: opts.tty ?? false });
      const prompt: Prompter = {
        confirm: async () => (typeof opts.answer === 'function' ? opts.answer(io.stdout) : opts.answer ?? false),
        select: async (_m, choices) => choices[0]!.value,
      };
      const seams = opts.seams ? opts.seams(sim.host, testExec) : { host: sim.host, exec: testExec };
      const signals = opts.signals ? (handler: (s: string) => void) => (opts.signals!(handler), () => undefined) : undefined;
      const code = await main([...argv, '--root', sim.root], {
        io, env: {}, platform: 'linux', prompt, makeHost: () => seams.host, makeExec: () => seams.exec, signals, clock: () => new Date(CLOCK),
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
