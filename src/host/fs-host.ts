// The real Host: node:fs, synchronous on purpose (a sysfs walk over thousands of devices
// was several times slower with fs/promises), every path joined under `root`.
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import type { Host, HostStat } from './host.js';

const ABSENT = new Set(['ENOENT', 'ENOTDIR']);

/** An options object, not the string 'utf8', which node 20 turns into a new object on every call
 * (measured: ~15% of reading a sysfs attribute). */
const UTF8 = { encoding: 'utf8' } as const;

function isAbsent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && ABSENT.has((err as NodeJS.ErrnoException).code ?? '');
}

/** Up to `length` bytes of a file from `position`, in as many read(2)s as that takes. */
function readAt(file: string, position: number, length: number): Uint8Array {
  const buf = Buffer.allocUnsafe(length);
  const fd = fs.openSync(file, 'r');
  try {
    let got = 0;
    while (got < length) {
      const n = fs.readSync(fd, buf, got, length - got, position + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

export class FsHost implements Host {
  readonly root: string;
  constructor(root: string) {
    this.root = nodePath.resolve(root);
  }

  resolve(path: string): string {
    if (!path.startsWith('/')) throw new Error(`host path must be absolute: ${path}`);
    return this.root === '/' ? path : this.root + path;
  }

  readText(path: string): string | null {
    try {
      return fs.readFileSync(this.resolve(path), UTF8);
    } catch (err) {
      if (isAbsent(err)) return null;
      throw err;
    }
  }

  readChunk(path: string, position: number, length: number): Uint8Array | null {
    try {
      return readAt(this.resolve(path), position, length);
    } catch (err) {
      if (isAbsent(err)) return null;
      throw err;
    }
  }

  readLink(path: string): string | null {
    try {
      return fs.readlinkSync(this.resolve(path));
    } catch (err) {
      if (isAbsent(err) || (err as NodeJS.ErrnoException).code === 'EINVAL') return null;
      throw err;
    }
  }

  list(path: string): string[] | null {
    try {
      return fs.readdirSync(this.resolve(path)).sort();
    } catch (err) {
      if (isAbsent(err)) return null;
      throw err;
    }
  }

  exists(path: string): boolean {
    return fs.existsSync(this.resolve(path));
  }

  isDirectory(path: string): boolean {
    try {
      return fs.statSync(this.resolve(path)).isDirectory();
    } catch {
      return false;
    }
  }

  stat(path: string, head?: number): HostStat | null {
    const real = this.resolve(path);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(real);
    } catch (err) {
      if (isAbsent(err)) return null;
      throw err;
    }
    const kind = st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
    const result: HostStat = { kind, mode: st.mode & 0o7777 };
    if (head !== undefined && kind === 'file') result.head = readAt(real, 0, head);
    return result;
  }

  writeAttr(path: string, value: string): void {
    // No O_CREAT: a missing attribute must fail as it does in sysfs, not appear as a new file.
    const fd = fs.openSync(this.resolve(path), fs.constants.O_WRONLY | fs.constants.O_TRUNC);
    try {
      fs.writeSync(fd, value);
    } finally {
      fs.closeSync(fd);
    }
  }

  writeFile(path: string, content: string, mode = 0o644): void {
    const target = this.resolve(path);
    fs.mkdirSync(nodePath.dirname(target), { recursive: true });
    const tmp = `${target}.gpuvirt-tmp-${process.pid}`;
    const fd = fs.openSync(tmp, 'w', mode);
    try {
      fs.writeSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.renameSync(tmp, target);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
  }

  createExclusive(path: string, content: string): boolean {
    const target = this.resolve(path);
    fs.mkdirSync(nodePath.dirname(target), { recursive: true });
    let fd: number;
    try {
      fd = fs.openSync(target, 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    try {
      fs.writeSync(fd, content);
    } finally {
      fs.closeSync(fd);
    }
    return true;
  }

  removeFile(path: string): void {
    fs.rmSync(this.resolve(path), { force: true });
  }

  removeEmptyDir(path: string): boolean {
    try {
      fs.rmdirSync(this.resolve(path));
      return true;
    } catch {
      return false;
    }
  }

  mkdirp(path: string): void {
    fs.mkdirSync(this.resolve(path), { recursive: true });
  }

  isPrivileged(): boolean {
    return typeof process.geteuid === 'function' && process.geteuid() === 0;
  }
}
