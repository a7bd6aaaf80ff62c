// Every host path goes through the host layer's resolver (src/host/jail.ts). This holds by
// construction only if no other code can open files: the files that import node:fs are the
// host layer and a short list of exceptions, each for a path that is not a host path.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, it } from 'vitest';

const SRC = new URL('../../src/', import.meta.url).pathname;

const NOT_HOST_PATHS: Record<string, string> = {
  'run.ts': 'stdout/stderr descriptors, and stat of --root itself',
  'out-file.ts': 'the --out file the user named',
  'commands/snapshot.ts': 'the --out archive the user named',
  'commands/init.ts': 'the --out profile the user named',
  'profiles/session.ts': 'the profile file the user named (bounded, regular files only)',
  'sim/host.ts': 'copying a fixture into a fresh scratch directory for the simulated kernel',
  'sea.ts': 'writeSync to stdout for --version in the single executable; it opens no file',
};
const HOST_LAYER = ['host/fs-host.ts', 'host/fs-read.ts', 'host/jail.ts'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

it('only the host layer, and the listed exceptions, import node:fs', () => {
  const importers = sources(SRC)
    // `import type` brings no code (sim/tree.ts names fs.Stats).
    .filter((f) => readFileSync(f, 'utf8').split('\n').some((l) => !/^import type /.test(l) && /(from\s+|import\()\s*['"](node:)?fs(\/promises)?['"]/.test(l)))
    .map((f) => relative(SRC, f))
    .sort();
  expect(importers).toEqual([...HOST_LAYER, ...Object.keys(NOT_HOST_PATHS)].sort());
});

it('no code outside the host layer imports a file-opening module by another name', () => {
  for (const f of sources(SRC)) {
    const text = readFileSync(f, 'utf8');
    expect(text, relative(SRC, f)).not.toMatch(/['"](node:)?(fs\/promises|original-fs|graceful-fs|fs-extra)['"]/);
  }
});
