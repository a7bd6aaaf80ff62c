// A scenario is one story told to the real kernel (a passthrough, a refusal, a fault) with
// named checks. Names are declared up front so the host knows every check before the guest
// boots, and a check the guest never reached fails by name instead of vanishing.
import * as fs from 'node:fs';
import type { MachineName } from '../topology.js';
import { describeRun, gpuvirt, gpuvirtWithin, STATE_FILE, type Run } from './commands.js';
import type { CheckResult } from './protocol.js';
import { dmesgTail, forceState, snapshot } from './sysfs.js';

export interface Scenario {
  id: string;
  machines: readonly MachineName[];
  checks: readonly string[];
  /** Checks that fail today because of a known gpuvirt bug, with the bug: the host runs them as
   *  expected failures, so the suite turns red when the bug is fixed and the entry must go. */
  knownBugs?: Readonly<Record<string, string>>;
  run(t: Test): void | Promise<void>;
}

/** Checked after every scenario: the next one must start from the boot state. */
export const LEFT_AS_FOUND = 'leaves every device as it found it (driver, driver_override, SR-IOV VF count and autoprobe)';

export function checkNames(s: Scenario): string[] {
  return [...s.checks, LEFT_AS_FOUND];
}

const MAX_DETAIL = 8000;

export class Test {
  private readonly decided = new Set<string>();
  private readonly runs: Run[] = [];
  private readonly cleanups: (() => void)[] = [];
  private readonly started = Date.now();

  constructor(readonly machine: MachineName, readonly scenario: Scenario, private readonly emit: (r: CheckResult) => void) {}

  /** gpuvirt with --json; kept so a failing check can show what gpuvirt said. */
  gpuvirt<D>(...args: string[]): Run<D> {
    const r = gpuvirt<D>(...args);
    this.runs.push(r);
    return r;
  }

  /** gpuvirt with --json, killed after `timeoutMs` (a run the kernel could block). */
  gpuvirtWithin<D>(timeoutMs: number, ...args: string[]): Run<D> {
    const r = gpuvirtWithin<D>(timeoutMs, ...args);
    this.runs.push(r);
    return r;
  }

  /** Runs `fn`; a throw fails the check with its message, a returned string is the pass detail. */
  check(name: string, fn: () => string | void): boolean {
    if (!this.scenario.checks.includes(name) && name !== LEFT_AS_FOUND) throw new Error(`check "${name}" is not declared by scenario ${this.scenario.id}`);
    if (this.decided.has(name)) throw new Error(`check "${name}" decided twice in scenario ${this.scenario.id}`);
    this.decided.add(name);
    try {
      const detail = fn() ?? '';
      this.report(name, 'pass', detail);
      return true;
    } catch (err) {
      const runs = this.runs.slice(-2).map(describeRun).join('\n\n');
      const detail = `${err instanceof Error ? err.message : String(err)}\n\n${runs}\n\ndmesg (tail):\n${dmesgTail()}`;
      this.report(name, 'fail', detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL)}…` : detail);
      return false;
    }
  }

  /** The same for a check that has to wait (a run killed from outside). */
  async checkAsync(name: string, fn: () => Promise<string | void>): Promise<boolean> {
    let detail: string | void = undefined;
    let error: unknown = null;
    try {
      detail = await fn();
    } catch (err) {
      error = err;
    }
    return this.check(name, () => {
      if (error) throw error;
      return detail;
    });
  }

  /** Runs after the scenario whatever happened (removing an injected fault, say). */
  cleanup(fn: () => void): void {
    this.cleanups.push(fn);
  }

  finish(error: unknown): void {
    for (const fn of this.cleanups.reverse()) {
      try {
        fn();
      } catch {
        // the "left as found" check reports what stayed wrong
      }
    }
    const why = error ? `not reached: the scenario stopped: ${error instanceof Error ? error.stack ?? error.message : String(error)}` : 'not reached: the scenario ended without deciding it';
    for (const name of this.scenario.checks) if (!this.decided.has(name)) this.report(name, 'fail', why);
  }

  private report(check: string, status: CheckResult['status'], detail: string): void {
    this.emit({ scenario: this.scenario.id, check, status, detail, ms: Date.now() - this.started });
  }
}

export async function runScenario(machine: MachineName, s: Scenario, emit: (r: CheckResult) => void): Promise<void> {
  const before = snapshot();
  const t = new Test(machine, s, emit);
  let error: unknown = null;
  try {
    await s.run(t);
  } catch (err) {
    error = err;
  }
  t.finish(error);
  const left = t.check(LEFT_AS_FOUND, () => {
    const after = snapshot();
    const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((a) => JSON.stringify(before[a]) !== JSON.stringify(after[a]));
    if (changed.length) throw new Error(changed.map((a) => `${a}: was ${JSON.stringify(before[a])}, now ${JSON.stringify(after[a])}`).join('\n'));
  });
  if (!left) {
    forceState(before);
    fs.rmSync(STATE_FILE, { force: true });
  }
}
