// What a mutating command hands the change engine: the plan as data, built from facts.
import type { StepReport } from '../mutate/apply.js';
import type { StepJson, Step } from '../mutate/steps.js';
import type { Fact, FactReading } from './facts.js';
import type { RollbackReport } from './rollback.js';
import type { GpuvirtState } from '../state.js';

export interface ApplyReport {
  ok: boolean;
  steps: StepReport[];
  rollback: RollbackReport | null;
}

/** A reason not to make the change. `force`: what --force would do, or null when it cannot override it. */
export interface Refusal {
  code: string;
  address?: string;
  message: string;
  force: string | null;
}

export interface ChangeOptions {
  dryRun: boolean;
  yes: boolean;
  /** Go past the refusals that --force may override. */
  force: boolean;
}

export interface ChangePlan<V> {
  /** The command's own data: what is changed (devices, diffs, the PF), shown above the plan. */
  view: V;
  /** Every step, each with its undo; file steps get theirs from the engine. */
  steps: Step[];
  /** Every refusal at once, with what --force would do about each. */
  refusals?: Refusal[];
  /** Exit status when refusals stop the run (default 7, refused). */
  blockedExit?: number;
  question: string;
  /** What the host must show after the change; read again at the end, never assumed. */
  expect?: { fact: Fact; value: string | null }[];
  /** More facts that a rollback must bring back as they were. */
  watch?: Fact[];
  warnings?: string[];
  /**
   * How gpuvirt's record of the host changes with this plan. The engine applies it to the state
   * as it is under the lock and writes the result as the last step (changes combine by composing).
   */
  state?: (state: GpuvirtState) => GpuvirtState;
}

export interface ChangeData {
  dryRun: boolean;
  refusals: Refusal[];
  /** The refusals stopped the run (false when --force went past them). */
  blocked: boolean;
  steps: StepJson[];
  /** Nothing to do: the host already is as asked. */
  noop: boolean;
  applied: ApplyReport | null;
  /** The facts the change is about, before it and as the host shows them at the end. */
  facts: FactReading[];
  /** The signal that interrupted the run (it was rolled back). */
  interrupted?: string;
}

export type ChangeResult<V> = V & ChangeData;

/** Refusals that stop the run: all of them without --force, only the unforceable ones with it. */
export function blockingRefusals(refusals: readonly Refusal[], force: boolean): Refusal[] {
  return refusals.filter((r) => !force || r.force === null);
}
