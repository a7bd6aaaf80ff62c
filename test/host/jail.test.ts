// The resolver and FsHost on their own: random trees with random links (fast-check) never
// let a read return, or a write change, anything outside the root; and the rules one by one.
import * as fs from 'node:fs';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FsHost } from '../../src/host/fs-host.js';
import { hostComponents, Jail, normalizeHostPath, UnsafePathError } from '../../src/host/jail.js';
import { simTmpDir } from '../../src/sim/host.js';
import { walkDigest } from '../helpers/hostile.js';

const made: string[] = [];
afterEach(() => {
  while (made.length) fs.rmSync(made.pop()!, { recursive: true, force: true });
});

/**
 * A world: root/ (the tree) and outside/ (sentinels) side by side, nine directories deep in a
 * scratch directory, so that any link climbing out of the root (at most eight levels here)
 * still lands in the scratch directory, where `outsideDigest` sees what changed.
 */
function world(): { root: string; outside: string; base: string } {
  const base = fs.mkdtempSync(join(simTmpDir(), 'gpuvirt-jail-'));
  made.push(base);
  const deep = join(base, ...'abcdefghi'.split(''));
  const root = join(deep, 'root');
  const outside = join(deep, 'outside');
  fs.mkdirSync(root, { recursive: true });
  fs.mkdirSync(join(outside, 'd'), { recursive: true });
  fs.writeFileSync(join(outside, 'secret'), 'OUTSIDE\n');
  fs.writeFileSync(join(outside, 'd', 'secret'), 'OUTSIDE\n');
  return { root, outside, base };
}

/** Everything in the scratch directory but the root's own tree. */
function outsideDigest(base: string, root: string): string {
  const inRoot = relative(base, root);
  return walkDigest(base).split('\n').filter((l) => l !== inRoot && !l.startsWith(`${inRoot}/`) && !l.startsWith(`${inRoot} `)).join('\n');
}

describe('Jail', () => {
  it('normalises paths and refuses `..`, relative paths and NUL', () => {
    expect(normalizeHostPath('//a/./b/')).toBe('/a/b');
    expect(hostComponents('/')).toEqual([]);
    for (const bad of ['/a/../b', '/..', 'a/b', '', '/a\0b']) expect(() => hostComponents(bad)).toThrow(UnsafePathError);
  });

  it('re-roots absolute link targets, follows relative ones, refuses those that climb out, and names loops', () => {
    const { root } = world();
    fs.mkdirSync(join(root, 'sys/devices/x'), { recursive: true });
    fs.writeFileSync(join(root, 'sys/devices/x/vendor'), '0x10de\n');
    fs.mkdirSync(join(root, 'sys/bus'), { recursive: true });
    fs.symlinkSync('../devices/x', join(root, 'sys/bus/rel'));
    fs.symlinkSync('/sys/devices/x', join(root, 'sys/bus/abs'));
    fs.symlinkSync('../../../outside', join(root, 'sys/bus/out'));
    fs.symlinkSync('loop2', join(root, 'sys/bus/loop1'));
    fs.symlinkSync('loop1', join(root, 'sys/bus/loop2'));
    const host = new FsHost(root);
    expect(host.readText('/sys/bus/rel/vendor')).toBe('0x10de\n');
    expect(host.readText('/sys/bus/abs/vendor')).toBe('0x10de\n');
    expect(() => host.readText('/sys/bus/out/secret')).toThrow(/outside the root/);
    expect(() => host.list('/sys/bus/loop1')).toThrow(/loop/);
    expect(new Jail(root).resolve('/sys/bus/rel/vendor')).toBe(join(fs.realpathSync(root), 'sys/devices/x/vendor'));
  });

  it('writes: an attribute link is not followed, a config link inside is edited at its target, one outside is refused', () => {
    const { root, outside } = world();
    fs.mkdirSync(join(root, 'etc'));
    fs.mkdirSync(join(root, 'sys'));
    fs.symlinkSync(relative(join(root, 'sys'), join(outside, 'secret')), join(root, 'sys/unbind'));
    fs.writeFileSync(join(root, 'etc/real'), 'a\n', { mode: 0o600 });
    fs.symlinkSync('real', join(root, 'etc/cmdline'));
    fs.symlinkSync(relative(join(root, 'etc'), join(outside, 'secret')), join(root, 'etc/grub'));
    const before = walkDigest(outside);
    const host = new FsHost(root);
    expect(() => host.writeAttr('/sys/unbind', '0000:01:00.0')).toThrow(UnsafePathError);
    host.writeFile('/etc/cmdline', 'b\n');
    expect(fs.lstatSync(join(root, 'etc/cmdline')).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(join(root, 'etc/real'), 'utf8')).toBe('b\n');
    expect(fs.statSync(join(root, 'etc/real')).mode & 0o777).toBe(0o600);
    expect(() => host.writeFile('/etc/grub', 'x')).toThrow(/outside the root/);
    expect(() => host.createExclusive('/sys/unbind', 'x')).not.toThrow();
    host.removeFile('/sys/unbind');
    expect(walkDigest(outside)).toBe(before);
  });

  it('a new file takes the mode of the file it backs up; mkdirp sets an exact mode', () => {
    const { root } = world();
    const host = new FsHost(root);
    host.writeFile('/etc/shadowish', 's\n', 0o640);
    host.mkdirp('/var/lib/gpuvirt/backups', 0o700);
    host.writeFile('/var/lib/gpuvirt/backups/r/etc/shadowish', 's\n', undefined, { like: '/etc/shadowish', dirMode: 0o700 });
    expect(fs.statSync(join(root, 'var/lib/gpuvirt/backups')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(join(root, 'var/lib/gpuvirt/backups/r')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(join(root, 'var/lib/gpuvirt/backups/r/etc/shadowish')).mode & 0o777).toBe(0o640);
  });
});

describe('FsHost at this machine\'s /', () => {
  it('reads through a final link (/proc/mounts is one) and edits a linked file at its target', () => {
    const host = new FsHost('/');
    expect(host.readText('/proc/mounts')).toContain(' / ');
    const { root } = world();
    fs.writeFileSync(join(root, 'real'), 'a\n', { mode: 0o640 });
    fs.symlinkSync('real', join(root, 'link1'));
    fs.symlinkSync('link1', join(root, 'link2'));
    host.writeFile(join(root, 'link2'), 'b\n');
    expect(fs.lstatSync(join(root, 'link2')).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(join(root, 'real'), 'utf8')).toBe('b\n');
    expect(fs.statSync(join(root, 'real')).mode & 0o777).toBe(0o640);
  });
});

/** Random trees: directories, files and links with relative, absolute and climbing targets. */
const NAMES = ['a', 'b', 'c', 'sys', 'etc'];
const segment = fc.constantFrom(...NAMES);
const relPath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));
const target = fc.oneof(
  relPath,
  relPath.map((p) => `/${p}`),
  fc.tuple(fc.integer({ min: 1, max: 6 }), relPath).map(([n, p]) => `${'../'.repeat(n)}${p}`),
  fc.integer({ min: 1, max: 8 }).map((n) => `${'../'.repeat(n)}outside/secret`),
  fc.integer({ min: 1, max: 8 }).map((n) => `${'../'.repeat(n)}outside/d`),
  fc.constant('/'),
);
const entry = fc.record({ path: relPath, kind: fc.constantFrom('dir', 'file', 'link', 'link'), target });

function lstatOrNull(path: string): fs.Stats | null {
  try {
    return fs.lstatSync(path);
  } catch {
    return null;
  }
}

/** Makes the entries, never through a link made before (the test must not escape either). */
function build(root: string, entries: { path: string; kind: string; target: string }[]): void {
  for (const e of entries) {
    const parts = e.path.split('/');
    let through = false;
    for (let i = 1; i < parts.length && !through; i++) {
      through = lstatOrNull(join(root, ...parts.slice(0, i)))?.isSymbolicLink() ?? false;
    }
    const full = join(root, e.path);
    if (through || lstatOrNull(full)) continue;
    try {
      fs.mkdirSync(join(full, '..'), { recursive: true });
      if (e.kind === 'dir') fs.mkdirSync(full);
      else if (e.kind === 'file') fs.writeFileSync(full, 'inside\n', { flag: 'wx' });
      else fs.symlinkSync(e.target, full);
    } catch {
      // a file where a directory would be: keep the earlier entry
    }
  }
}

describe('containment (property)', () => {
  it('no read returns, and no write changes, anything outside the root', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 14 }), fc.array(relPath, { minLength: 1, maxLength: 6 }), (entries, probes) => {
        const { root, base } = world();
        build(root, entries);
        const before = outsideDigest(base, root);
        const host = new FsHost(root);
        for (const p of probes) {
          const hp = `/${p}`;
          const attempts: (() => unknown)[] = [
            () => host.readText(hp), () => host.list(hp), () => host.exists(hp), () => host.stat(hp, 16),
            () => host.readChunk(hp, 0, 64), () => host.readLink(hp),
            () => host.writeFile(`${hp}/new`, 'w\n'), () => host.writeFile(hp, 'w\n'), () => host.writeAttr(hp, 'w'),
            () => host.createExclusive(`${hp}.x`, 'w'), () => host.mkdirp(`${hp}/m`), () => host.removeFile(hp),
          ];
          for (const attempt of attempts) {
            let got: unknown;
            try {
              got = attempt();
            } catch (err) {
              const code = (err as NodeJS.ErrnoException).code;
              // Refusals, and the ordinary errors of a tree that does not fit the call.
              if (!(err instanceof UnsafePathError) && !['ENOENT', 'ENOTDIR', 'EISDIR', 'EEXIST', 'ENOTEMPTY', 'EACCES'].includes(code ?? '')) throw err;
            }
            if (typeof got === 'string') expect(got).not.toContain('OUTSIDE');
            if (Array.isArray(got)) expect(got).not.toContain('secret');
            if (got instanceof Uint8Array) expect(Buffer.from(got).toString()).not.toContain('OUTSIDE');
          }
        }
        expect(outsideDigest(base, root)).toBe(before);
        fs.rmSync(base, { recursive: true, force: true });
      }),
      { numRuns: 150 },
    );
  });

  it('exists answers what the kernel would for the path the walk resolves, and refuses what resolve refuses', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 14 }), fc.array(relPath, { minLength: 1, maxLength: 6 }), (entries, probes) => {
        const { root, base } = world();
        build(root, entries);
        for (const p of probes) {
          const hp = `/${p}`;
          const outcome = (f: () => boolean) => {
            try {
              return f();
            } catch (err) {
              return err instanceof UnsafePathError ? 'refused' : (err as NodeJS.ErrnoException).code;
            }
          };
          // A fresh jail for each side: what one walk learnt must not answer for the other.
          expect(outcome(() => new Jail(root).exists(hp)), hp).toEqual(outcome(() => fs.existsSync(new Jail(root).resolve(hp))));
          // And one jail asked twice (its caches) answers the same.
          const jail = new Jail(root);
          const first = outcome(() => jail.exists(hp));
          expect(outcome(() => jail.exists(hp)), hp).toEqual(first);
        }
        fs.rmSync(base, { recursive: true, force: true });
      }),
      { numRuns: 150 },
    );
  });
});
