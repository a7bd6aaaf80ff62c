import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach } from 'vitest';

export type Entry = string | { link: string };

const made: string[] = [];
afterEach(() => {
  while (made.length) rmSync(made.pop()!, { recursive: true, force: true });
});

/** A temporary root with the given files (`path: content`) and symlinks (`path: {link}`), removed after the test. */
export function makeTree(entries: Record<string, Entry>): string {
  const root = mkdtempSync(join(tmpdir(), 'gpuvirt-tree-'));
  made.push(root);
  for (const [path, entry] of Object.entries(entries)) {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    if (typeof entry === 'string') writeFileSync(full, entry);
    else symlinkSync(entry.link, full);
  }
  return root;
}
