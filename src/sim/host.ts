// A simulated machine from a fixture: the tree copied to a scratch directory, with the
// SimKernel and SimExec that drive it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { SimExec } from './exec.js';
import { SimKernel } from './kernel.js';

/** Copies a tree as it is: symlinks keep their targets, files their modes. */
export function copyTree(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = nodePath.join(from, entry.name);
    const dst = nodePath.join(to, entry.name);
    if (entry.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src), dst);
    else if (entry.isDirectory()) copyTree(src, dst);
    else if (entry.isFile()) {
      const mode = fs.statSync(src).mode & 0o7777;
      let content: Buffer;
      try {
        content = fs.readFileSync(src);
      } catch {
        content = Buffer.alloc(0); // a write-only attribute, captured empty
      }
      fs.writeFileSync(dst, content, { mode });
      fs.chmodSync(dst, mode);
    }
  }
  fs.chmodSync(to, fs.statSync(from).mode & 0o7777);
}

export interface SimHost {
  host: SimKernel;
  exec: SimExec;
  root: string;
  cleanup: () => void;
}

/**
 * Where simulated machines live: GPUVIRT_SIM_TMPDIR, else /dev/shm when writable (tmpfs: a
 * fixture of a thousand files copies in milliseconds there, in most of a second on a disk).
 */
export function simTmpDir(): string {
  const env = process.env.GPUVIRT_SIM_TMPDIR;
  if (env) return env;
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

/** A fresh simulated machine: the fixture copied into a temp dir, with its kernel and exec. */
export function makeSimHost(fixtureDir: string, tmpDir = simTmpDir()): SimHost {
  const root = fs.mkdtempSync(nodePath.join(tmpDir, 'gpuvirt-sim-'));
  copyTree(fixtureDir, root);
  const host = new SimKernel(root);
  return { host, exec: new SimExec(host), root, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}
