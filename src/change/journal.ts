// The journal of the change being applied: written before the first host write, with every
// step and its undo, and a progress file naming the step in flight. A run that dies (kill -9,
// power loss) leaves both behind; the next run finds them and `gpuvirt recover` undoes the
// steps that had started. A finished or fully rolled-back run removes them.
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import type { Step } from '../mutate/steps.js';
import type { Fact } from './facts.js';

export const JOURNAL = `${paths.stateDir}/journal.json`;
export const PROGRESS = `${paths.stateDir}/journal.progress`;

export interface Journal {
  format: 1;
  command: string;
  pid: number;
  startedAt: string;
  steps: Step[];
  /** The facts the change is about, as they were before it: what recovery must bring back. */
  before: { fact: Fact; value: string | null }[];
  /** Directories the journal itself needed, removed with it when they are empty again. */
  dirs?: string[];
  /** Set when a rollback could not finish: recover must try again. */
  rollbackIncomplete?: boolean;
}

export interface FoundJournal {
  journal: Journal;
  /** The index of the last step that had started (-1: none). */
  started: number;
}

export function writeJournal(host: Host, j: Journal): void {
  host.writeFile(PROGRESS, '-1\n', 0o600);
  host.writeFile(JOURNAL, `${JSON.stringify(j)}\n`, 0o600);
}

export function markStarted(host: Host, index: number): void {
  host.writeFile(PROGRESS, `${index}\n`, 0o600);
}

export function clearJournal(host: Host, j: Pick<Journal, 'dirs'>): void {
  host.removeFile(JOURNAL);
  host.removeFile(PROGRESS);
  for (const d of j.dirs ?? []) host.removeEmptyDir?.(d);
}

function invalid(why: string): GpuvirtError {
  return new GpuvirtError('E_JOURNAL', `${JOURNAL} is not a gpuvirt journal: ${why}`, {
    exitCode: ExitCode.failed,
    hint: `look at it, put the host right by hand, then remove it`,
  });
}

export function readJournal(host: Host): FoundJournal | null {
  const text = host.readText(JOURNAL);
  if (text === null) return null;
  let j: Journal;
  try {
    j = JSON.parse(text) as Journal;
  } catch (err) {
    throw invalid((err as Error).message);
  }
  if (j?.format !== 1 || typeof j.command !== 'string' || !Array.isArray(j.steps) || !Array.isArray(j.before)) throw invalid('unknown layout');
  const progress = Number((host.readText(PROGRESS) ?? '').trim());
  // Without a readable progress file every step may have started: undo them all (undos are idempotent).
  const started = Number.isInteger(progress) && progress >= -1 && progress < j.steps.length ? progress : j.steps.length - 1;
  return { journal: j, started };
}

export function interruptedError(found: FoundJournal): GpuvirtError {
  const { journal, started } = found;
  return new GpuvirtError(
    'E_INTERRUPTED',
    `an earlier \`gpuvirt ${journal.command}\` (pid ${journal.pid}, ${journal.startedAt}) ${journal.rollbackIncomplete ? 'could not finish its rollback' : `was interrupted at step ${started + 1} of ${journal.steps.length}`}`,
    { exitCode: ExitCode.failed, hint: '`gpuvirt recover` shows what it changed and undoes it' },
  );
}
