// A change to the host, as data: the plan `--dry-run` prints is the list apply executes.
import type { Undo } from '../change/undo.js';

export interface WriteRetry {
  attempts: number;
  delayMs: number;
  errnos: string[];
}

type StepBody =
  /**
   * One write(2) to a kernel attribute (sysfs). `retry`: while it fails with one of `errnos`,
   * try again `delayMs` later, at most `attempts` writes in all (done once the attribute reads
   * `value`).
   */
  | { kind: 'write'; path: string; value: string; title: string; retry?: WriteRetry }
  /** A program run through the exec seam; a non-zero exit fails the step. */
  | { kind: 'exec'; argv: string[]; title: string }
  /** A configuration file created or replaced atomically, the old one kept as a backup. */
  | {
    kind: 'file'; path: string; content: string; mode?: number; title: string;
    /** A new file takes this file's mode and owner (a backup keeps its original's). */
    like?: string;
    /** The mode of directories made on the way (backups: 0700, only root reads them). */
    dirMode?: number;
  }
  /** A configuration file removed (its content kept as a backup). */
  | { kind: 'remove-file'; path: string; title: string }
  /** Read back that a device is bound to `driver` (null: to no driver), or to anything but `not`. */
  | { kind: 'verify-driver'; address: string; driver: string | null; title: string }
  | { kind: 'verify-not-driver'; address: string; not: string; title: string }
  | { kind: 'verify-exists'; path: string; title: string }
  | { kind: 'verify-not-exists'; path: string; title: string }
  /** Read a file back: every `contains` word is in it and no `absent` word is. */
  | { kind: 'verify-text'; path: string; contains: string[]; absent: string[]; title: string }
  /** Poll (bounded) until the PF reports `count` VFs and every VF device exists. */
  | { kind: 'wait-vfs'; pf: string; count: number; timeoutMs: number; title: string }
  /**
   * Ask nvidia-smi (CSV mode query, `-q -x`) that the GPU's MIG state is as planned: its pending
   * mode, how many GPU instances it has (each with a compute instance), GPU instances gone.
   */
  | { kind: 'verify-mig'; gpu: string; pending?: 'Enabled' | 'Disabled'; gpuInstances?: number; absent?: number[]; title: string };

/**
 * A step, with what undoes it when this or a later step fails or the run is interrupted (the
 * change engine adds the undo of file steps itself, from the file as it is when planned).
 */
export type Step = StepBody & { undo?: Undo[] };

/** The value as the user would type it: newlines shown as \n. */
function shown(value: string): string {
  return value === '\n' ? '"\\n" (clear)' : JSON.stringify(value).slice(1, -1);
}

export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'write': {
      const r = step.retry;
      const again = r ? ` (again while ${r.errnos.join('/')}, at most ${r.attempts} times ${r.delayMs / 1000} s apart)` : '';
      return `write ${shown(step.value)} > ${step.path}${again}`;
    }
    case 'exec':
      return `run ${step.argv.join(' ')}`;
    case 'file':
      return `write file ${step.path}`;
    case 'remove-file':
      return `remove file ${step.path}`;
    case 'verify-driver':
      return `check ${step.address} is bound to ${step.driver ?? 'no driver'}`;
    case 'verify-not-driver':
      return `check ${step.address} is no longer bound to ${step.not}`;
    case 'verify-exists':
      return `check ${step.path} exists`;
    case 'verify-not-exists':
      return `check ${step.path} is gone`;
    case 'verify-text':
      return `check ${step.path} has ${[...step.contains, ...step.absent.map((a) => `no ${a}`)].join(', ')}`;
    case 'wait-vfs':
      return `wait until ${step.pf} has ${step.count} VFs (at most ${Math.round(step.timeoutMs / 1000)} s)`;
    case 'verify-mig': {
      const what = [
        ...(step.pending ? [`MIG mode pending ${step.pending}`] : []),
        ...(step.gpuInstances !== undefined ? [`${step.gpuInstances} GPU instances`] : []),
        ...(step.absent?.length ? [`no GPU instance ${step.absent.join(', ')}`] : []),
      ];
      return `ask nvidia-smi that ${step.gpu} shows ${what.join(', ')}`;
    }
  }
}

/** What a step looks like in JSON output: its kind, the exact action, and why. */
export interface StepJson {
  kind: Step['kind'];
  title: string;
  action: string;
  [field: string]: unknown;
}

export function stepJson(step: Step): StepJson {
  const { title, ...rest } = step;
  return { ...rest, title, action: describeStep(step) };
}


/** The plan as a person reads it: numbered titles, each with the exact action under it. */
export function renderSteps(steps: readonly { title: string; action: string }[], dim: (s: string) => string): string[] {
  const w = String(steps.length).length;
  return steps.flatMap((st, i) => [`  ${String(i + 1).padStart(w + 1)}. ${st.title}`, dim(`  ${' '.repeat(w + 1)}  ${st.action}`)]);
}
