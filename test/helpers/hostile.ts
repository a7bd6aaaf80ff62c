// Hostile trees, built at test time: a fixture machine copied under the simulated kernel,
// next to an "outside" directory of sentinel files that no command may read, create, change
// or delete. Links from the tree into the outside are relative (climbing out of the root) or
// absolute (which the tree's kernel would resolve from its own `/`, the root).
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { afterEach } from 'vitest';
import { simTmpDir } from '../../src/sim/host.js';
import { machine, type Machine, type RunResult } from './sim.js';

const made: string[] = [];
afterEach(() => {
  while (made.length) fs.rmSync(made.pop()!, { recursive: true, force: true });
});

export interface Hostile {
  m: Machine;
  root: string;
  /** The sentinel directory outside the root. */
  outside: string;
  /** A token in every outside file: it must never show up in any output. */
  token: string;
  /** A link in the tree (host path) to a file or directory outside (its name under `outside`). */
  linkOut(hostPath: string, outsideName: string, how?: 'relative' | 'absolute'): void;
  /** A file in the tree, replacing what is there (parents created). */
  put(hostPath: string, content: string | Buffer, mode?: number): void;
  link(hostPath: string, target: string): void;
  fifo(hostPath: string): void;
  /** Everything about the outside directory: names, kinds, modes, owners, contents, link targets. */
  digest(): string;
  /** Runs a command, then checks the outside is untouched and unread. */
  run(argv: string[], opts?: { tty?: boolean }): Promise<RunResult>;
}

export function walkDigest(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = join(d, name);
      const st = fs.lstatSync(p);
      const head = `${relative(dir, p)} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size}`;
      if (st.isSymbolicLink()) out.push(`${head} -> ${fs.readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.push(`${head} dir`);
        walk(p);
      } else if (st.isFile()) out.push(`${head} ${createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`);
      else out.push(`${head} other`);
    }
  };
  walk(dir);
  return out.join('\n');
}

export function hostile(fixture: string, allowedPrograms: Parameters<typeof machine>[1] = {}): Hostile {
  // Lenient: a hostile tree is refused before the programs a normal run would need are reached.
  const m = machine(fixture, allowedPrograms, { lenient: true });
  const outside = fs.mkdtempSync(join(simTmpDir(), 'gpuvirt-outside-'));
  made.push(outside);
  const token = `SENTINEL-${randomBytes(6).toString('hex')}`;
  fs.writeFileSync(join(outside, 'secret'), `${token} secret\n`, { mode: 0o600 });
  fs.chmodSync(join(outside, 'secret'), 0o600);
  fs.writeFileSync(join(outside, 'victim'), `${token} victim\n`);
  fs.mkdirSync(join(outside, 'dir'));
  fs.writeFileSync(join(outside, 'dir', 'keep'), `${token} keep\n`);
  const real = (hostPath: string) => join(m.root, hostPath);
  const clear = (p: string) => {
    fs.mkdirSync(dirname(p), { recursive: true });
    fs.rmSync(p, { recursive: true, force: true });
  };
  const h: Hostile = {
    m, root: m.root, outside, token,
    linkOut(hostPath, outsideName, how = 'relative') {
      const p = real(hostPath);
      clear(p);
      const target = join(outside, outsideName);
      fs.symlinkSync(how === 'absolute' ? target : relative(dirname(p), target), p);
    },
    put(hostPath, content, mode = 0o644) {
      const p = real(hostPath);
      clear(p);
      fs.writeFileSync(p, content, { mode });
      fs.chmodSync(p, mode);
    },
    link(hostPath, target) {
      const p = real(hostPath);
      clear(p);
      fs.symlinkSync(target, p);
    },
    fifo(hostPath) {
      const p = real(hostPath);
      clear(p);
      const r = spawnSync('mkfifo', [p]);
      if (r.status !== 0) throw new Error(`mkfifo ${p} failed`);
    },
    digest: () => walkDigest(outside),
    async run(argv, opts) {
      const before = h.digest();
      const r = await m.run(argv, opts);
      if (h.digest() !== before) throw new Error(`${argv.join(' ')} changed the outside:\n${before}\n---\n${h.digest()}`);
      if (`${r.stdout}${r.stderr}`.includes(token)) throw new Error(`${argv.join(' ')} printed a sentinel from outside the root`);
      return r;
    },
  };
  return h;
}

/** The one-line message (and optional hint line) of a failed run, as README "Exit codes" documents. */
export function failureLines(r: RunResult): string[] {
  return r.stderr.trimEnd().split('\n');
}
