// zod, yaml and xmlbuilder2 are loaded only by the commands that use them: nothing reachable
// through static imports from the CLI entry (what every command, doctor included, loads at
// start) imports them. Dynamic import() and `import type` do not count.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../../src/', import.meta.url).pathname;
const HEAVY = ['zod', 'yaml', 'xmlbuilder2'];

function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^import\s+(?!type\b)(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  return out;
}

function reachable(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const f = todo.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    for (const spec of staticImports(f)) {
      if (spec.startsWith('.')) todo.push(resolve(dirname(f), spec.replace(/\.js$/, '.ts')));
      else if (!spec.startsWith('node:')) packages.add(spec.split('/')[0]!);
    }
  }
  return { files, packages };
}

describe('lazy loading', () => {
  it('the CLI entry and doctor reach none of zod, yaml, xmlbuilder2 statically', () => {
    for (const entry of ['cli.ts', 'commands/doctor.ts', 'commands/generate.ts', 'commands/profile/validate.ts', 'commands/profile/check.ts']) {
      const { packages } = reachable(SRC + entry);
      expect([...packages].filter((p) => HEAVY.includes(p)), entry).toEqual([]);
    }
  });
  it('the start (cli.ts: registry and parser) and doctor reach no package statically: commander only through help.ts', () => {
    for (const entry of ['cli.ts', 'commands/doctor.ts']) expect([...reachable(SRC + entry).packages], entry).toEqual([]);
    expect(reachable(`${SRC}help.ts`).packages).toContain('commander');
  });
  it('a profile read by readSimpleYaml that passes the shape check loads neither yaml nor zod', () => {
    expect([...reachable(`${SRC}profiles/load.ts`).packages]).toEqual([]);
  });
  it('the profile loader does use them (the check above is not vacuous)', () => {
    expect([...reachable(`${SRC}profiles/load-yaml.ts`).packages]).toContain('yaml');
    expect([...reachable(`${SRC}profiles/schema-problems.ts`).packages]).toContain('zod');
    expect([...reachable(`${SRC}generate/libvirt.ts`).packages]).toContain('xmlbuilder2');
  });
});
