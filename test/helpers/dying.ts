// A host and exec seam that die like a process killed with SIGKILL: from a chosen moment on,
// every write and every program fails, so nothing the dying run tries afterwards (its rollback,
// its journal) reaches the host. What reached it before stays, as after a real kill -9.
import type { Exec, ExecResult } from '../../src/host/exec.js';
import type { Host } from '../../src/host/host.js';
import { PROGRESS } from '../../src/change/journal.js';

const MUTATIONS = new Set(['writeAttr', 'writeFile', 'createExclusive', 'removeFile', 'mkdirp', 'removeEmptyDir']);

export interface Death {
  /** Dies once the journal names this step as started... */
  atStep: number;
  /** ...after this many more host writes or program runs (0: before the step does anything). */
  after: number;
  dead: boolean;
  /** Fail only the first mutation of the step, with EIO, instead of dying (a fault, not a kill). */
  faultOnly?: boolean;
  faulted?: boolean;
  /** Called instead of any fault when the step starts (to deliver a signal there). */
  onStep?: () => void;
}

function killed(): Error {
  return Object.assign(new Error('killed'), { code: 'EIO' });
}

/** The host and exec seam of a run that dies (or faults) as `death` says. */
export function dying(host: Host, exec: Exec, death: Death): { host: Host; exec: Exec } {
  let armed = false;
  let left = death.after;
  const mutate = (): void => {
    if (death.dead) throw killed();
    if (!armed) return;
    if (left > 0) {
      left--;
      return;
    }
    armed = false;
    if (death.faultOnly) death.faulted = true;
    else death.dead = true;
    throw killed();
  };
  const h = new Proxy(host, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (!MUTATIONS.has(String(prop))) return value.bind(target);
      return (...args: unknown[]) => {
        if (prop === 'writeFile' && args[0] === PROGRESS && !death.dead) {
          const r = value.apply(target, args);
          if (String(args[1]).trim() === String(death.atStep)) {
            if (death.onStep) death.onStep();
            else armed = true;
          }
          return r;
        }
        mutate();
        return value.apply(target, args);
      };
    },
  });
  return {
    host: h,
    exec: {
      async run(argv: readonly string[]): Promise<ExecResult> {
        mutate();
        return exec.run(argv);
      },
    },
  };
}
