// Unified diffs of planned file changes, for the plan a user reviews before setup applies it.
import type { FileChange } from './grub.js';

export interface FileDiff {
  path: string;
  created: boolean;
  removed: boolean;
  diff: string;
}

/** jsdiff is loaded only when a diff is shown. */
export async function diffs(changes: readonly { path: string; before: string | null; after: string | null }[]): Promise<FileDiff[]> {
  const { createTwoFilesPatch } = await import('diff');
  return changes.map((c) => ({
    path: c.path,
    created: c.before === null,
    removed: c.after === null,
    diff: createTwoFilesPatch(c.before === null ? '/dev/null' : `a${c.path}`, c.after === null ? '/dev/null' : `b${c.path}`, c.before ?? '', c.after ?? '', undefined, undefined, { context: 2 })
      .split('\n').filter((l) => !l.startsWith('====')).join('\n').trimEnd(),
  }));
}

export type { FileChange };
