// The real Host: node:fs, synchronous on purpose (a sysfs walk over thousands of devices
// was several times slower with fs/promises). Every path goes through the Jail (jail.ts):
// inside the root or refused. Reads take regular files only, up to a size per kind of file;
// writes create directories and files without following links, and open the final component
// with O_NOFOLLOW.
import { type Stats, chmodSync, closeSync, constants, fchmodSync, fchownSync, fstatSync, fsyncSync, lstatSync, openSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, rmdirSync, statSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import type { Host, HostStat, WriteOptions } from './host.js';
import { kindOf, readAt, readBounded } from './fs-read.js';
import { Jail, showPath, UnsafePathError } from './jail.js';

const ABSENT = new Set(['ENOENT', 'ENOTDIR']);
const { O_WRONLY, O_TRUNC, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;

function isAbsent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && ABSENT.has((err as NodeJS.ErrnoException).code ?? '');
}

export class FsHost implements Host {
  readonly root: string;
  readonly jail: Jail;
  constructor(root: string, opts: { cache?: boolean } = {}) {
    this.jail = new Jail(root, opts);
    this.root = this.jail.root;
  }

  /** The real path of a host path, every link resolved inside the root. */
  resolve(path: string): string {
    return this.jail.resolve(path);
  }

  readText(path: string): string | null {
    try {
      return readBounded(this.jail, path);
    } catch (err) {
      if (isAbsent(err)) return null;
      throw this.explain(err, path);
    }
  }

  readChunk(path: string, position: number, length: number): Uint8Array | null {
    try {
      return readAt(this.jail, path, position, length);
    } catch (err) {
      if (isAbsent(err)) return null;
      throw this.explain(err, path);
    }
  }

  readLink(path: string): string | null {
    try {
      const { dir, name } = this.jail.parent(path);
      return readlinkSync(`${dir}/${name}`);
    } catch (err) {
      if (isAbsent(err) || (err as NodeJS.ErrnoException).code === 'EINVAL') return null;
      throw this.explain(err, path);
    }
  }

  list(path: string): string[] | null {
    try {
      const real = this.jail.resolve(path);
      if (this.jail.isHostRoot) return readdirSync(real).sort();
      const entries = readdirSync(real, { withFileTypes: true });
      this.jail.learn(real, entries);
      return entries.map((e) => e.name).sort();
    } catch (err) {
      if (isAbsent(err)) return null;
      throw this.explain(err, path);
    }
  }

  exists(path: string): boolean {
    try {
      return this.jail.exists(path);
    } catch (err) {
      if (isAbsent(err)) return false;
      throw this.explain(err, path);
    }
  }

  isDirectory(path: string): boolean {
    try {
      return statSync(this.jail.resolve(path)).isDirectory();
    } catch (err) {
      if (err instanceof UnsafePathError) throw err;
      return false;
    }
  }

  stat(path: string, head?: number): HostStat | null {
    let st: Stats;
    try {
      const { dir, name } = this.jail.parent(path);
      st = lstatSync(`${dir}/${name}`);
    } catch (err) {
      if (isAbsent(err)) return null;
      throw this.explain(err, path);
    }
    const kind = st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
    const result: HostStat = { kind, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    if (head !== undefined && kind === 'file') result.head = readAt(this.jail, path, 0, head);
    return result;
  }

  writeAttr(path: string, value: string): void {
    // No O_CREAT: a missing attribute must fail as it does in sysfs, not appear as a new file.
    // O_NOFOLLOW: an attribute is a file; a link in its place (in a snapshot) is not followed.
    let fd: number;
    try {
      const { dir, name } = this.jail.parent(path);
      fd = openSync(`${dir}/${name}`, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      throw this.explain(err, path);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new UnsafePathError(showPath(path), `${kindOf(st)}, where gpuvirt writes an attribute`);
      writeSync(fd, value);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * The real file a rewrite of `path` replaces: a link (an /etc/kernel/cmdline kept elsewhere)
   * is edited at its target, which must be inside the root; only a regular file is replaced.
   */
  private writeTarget(path: string, dirMode?: number): { real: string; st: Stats | null } {
    const { dir, name } = this.jail.parent(path, { create: true, dirMode });
    let real = `${dir}/${name}`;
    let st = lstatOrNull(real);
    if (st?.isSymbolicLink()) {
      // Edited at its target: inside the root, or anywhere on this machine at `/`.
      real = this.jail.isHostRoot ? realTarget(real) : this.jail.resolve(path);
      st = lstatOrNull(real);
    }
    if (st !== null && !st.isFile()) throw new UnsafePathError(showPath(path), `${kindOf(st)}, where gpuvirt writes a regular file`);
    return { real, st };
  }

  writeFile(path: string, content: string, mode?: number, opts: WriteOptions = {}): void {
    let target: { real: string; st: Stats | null };
    try {
      target = this.writeTarget(path, opts.dirMode);
    } catch (err) {
      throw this.explain(err, path);
    }
    const { real, st } = target;
    // An existing file keeps its mode and owner; a new one takes those of `like` (a backup of
    // that file), else `mode`.
    const like = st ?? (opts.like === undefined ? null : this.statFollow(opts.like));
    const finalMode = like ? like.mode & 0o7777 : (mode ?? 0o644);
    const slash = real.lastIndexOf('/');
    const tmp = `${real.slice(0, slash)}/.${real.slice(slash + 1)}.gpuvirt-tmp-${process.pid}`;
    rmSync(tmp, { force: true });
    const fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, content);
      if (like && (like.uid !== process.geteuid?.() || like.gid !== process.getegid?.())) {
        try {
          fchownSync(fd, like.uid, like.gid);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err; // not root: it cannot be theirs
        }
      }
      fchmodSync(fd, finalMode);
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw err;
    }
    closeSync(fd);
    try {
      renameSync(tmp, real);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  /** stat(2) of a host path, links resolved inside the root; null when absent. */
  statFollow(path: string): Stats | null {
    try {
      return statSync(this.jail.resolve(path));
    } catch (err) {
      if (isAbsent(err)) return null;
      throw this.explain(err, path);
    }
  }

  createExclusive(path: string, content: string): boolean {
    let fd: number;
    try {
      const { dir, name } = this.jail.parent(path, { create: true });
      fd = openSync(`${dir}/${name}`, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw this.explain(err, path);
    }
    try {
      writeSync(fd, content);
    } finally {
      closeSync(fd);
    }
    return true;
  }

  removeFile(path: string): void {
    try {
      const { dir, name } = this.jail.parent(path);
      unlinkSync(`${dir}/${name}`); // unlink(2) removes a link itself, never its target
      this.jail.forget();
    } catch (err) {
      if (isAbsent(err)) return;
      throw this.explain(err, path);
    }
  }

  removeEmptyDir(path: string): boolean {
    try {
      const { dir, name } = this.jail.parent(path);
      rmdirSync(`${dir}/${name}`); // rmdir(2) never follows a link: ENOTDIR
      this.jail.forget();
      return true;
    } catch (err) {
      if (err instanceof UnsafePathError) throw err;
      return false;
    }
  }

  mkdirp(path: string, mode?: number): void {
    try {
      const real = this.jail.resolve(path, { create: true, dirMode: mode });
      const st = statSync(real);
      if (!st.isDirectory()) throw new UnsafePathError(showPath(path), `${kindOf(st)}, where gpuvirt makes a directory`);
      if (mode !== undefined && (st.mode & 0o7777) !== mode) chmodSync(real, mode);
    } catch (err) {
      throw this.explain(err, path);
    }
  }

  isPrivileged(): boolean {
    return typeof process.geteuid === 'function' && process.geteuid() === 0;
  }

  // ---- For the simulated kernel (src/sim), which changes the tree as the kernel would. ----

  /** Creates or replaces a regular file with exactly this mode (not atomic; umask does not apply). */
  putFile(path: string, content: string, mode: number): void {
    const { dir, name } = this.jail.parent(path, { create: true });
    const real = `${dir}/${name}`;
    rmSync(real, { force: true });
    const fd = openSync(real, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    try {
      writeSync(fd, content);
      fchmodSync(fd, mode);
    } finally {
      closeSync(fd);
    }
  }

  /** Creates or replaces a symlink; `target` is stored as given. */
  symlink(path: string, target: string): void {
    const { dir, name } = this.jail.parent(path, { create: true });
    rmSync(`${dir}/${name}`, { force: true });
    symlinkSync(target, `${dir}/${name}`);
    this.jail.forget();
  }

  /** Removes a file, a link or a whole directory (never what a link points to). */
  removeTree(path: string): void {
    const { dir, name } = this.jail.parent(path);
    rmSync(`${dir}/${name}`, { recursive: true, force: true });
    this.jail.forget();
  }

  /** A host path's errors as gpuvirt errors: a loop is refused cleanly, not reported as a bug. */
  private explain(err: unknown, path: string): unknown {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return new UnsafePathError(showPath(path), 'a symbolic link where gpuvirt does not follow one, or a loop');
    return err;
  }
}

/** Where a link on this machine leads, through a chain of links (the last target may not exist yet). */
function realTarget(link: string): string {
  let path = link;
  for (let hops = 0; hops < 40; hops++) {
    const slash = path.lastIndexOf('/');
    const target = readlinkSync(path);
    const joined = target.startsWith('/') ? target : `${path.slice(0, slash)}/${target}`;
    const at = joined.lastIndexOf('/');
    path = `${realpathSync(joined.slice(0, at) || '/')}/${joined.slice(at + 1)}`;
    if (!lstatOrNull(path)?.isSymbolicLink()) return path;
  }
  throw new UnsafePathError(showPath(link), 'too many levels of symbolic links (a loop)');
}

function lstatOrNull(real: string): Stats | null {
  try {
    return lstatSync(real);
  } catch (err) {
    if (isAbsent(err)) return null;
    throw err;
  }
}
