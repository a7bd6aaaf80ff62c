// The resolver every host path goes through: a host path becomes a file inside the root, or
// an error. A tree under --root is someone else's machine (an unpacked snapshot): its links
// are resolved component by component the way that machine's kernel would resolve them
// (absolute targets from its `/`, which is the root here), and a path that would leave the
// root, `..` in a path gpuvirt was given, or a link loop is refused (openat2's
// RESOLVE_IN_ROOT, done by hand since Node has no openat2).
//
// At the root `/` nothing can leave it: the kernel resolves, and only the path is checked.
import * as fs from 'node:fs';
import { ExitCode, GpuvirtError } from '../errors.js';

/** Links followed in one resolution before it counts as a loop (the kernel's MAXSYMLINKS). */
const MAX_LINKS = 40;

/** A host tree gpuvirt will not read or write: a link out of the root, `..`, a loop, a FIFO. */
export class UnsafePathError extends GpuvirtError {
  constructor(readonly path: string, reason: string) {
    super('E_UNSAFE_PATH', `${path}: ${reason}`, {
      exitCode: ExitCode.refused,
      hint: 'gpuvirt reads and writes only regular files and directories inside its root, through links that stay inside it',
    });
  }
}

export function isUnsafePath(err: unknown): err is UnsafePathError {
  return err instanceof UnsafePathError;
}

/** A path shown in a message: control characters escaped, and never more than 200 characters. */
export function showPath(path: string): string {
  const s = JSON.stringify(path).slice(1, -1);
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/** The components of an absolute host path; `.` and empty ones dropped, `..` and NUL refused. */
export function hostComponents(path: string): string[] {
  if (typeof path !== 'string' || !path.startsWith('/')) throw new UnsafePathError(showPath(String(path)), 'not an absolute host path');
  if (path.includes('\0')) throw new UnsafePathError(showPath(path), 'contains a NUL byte');
  const out: string[] = [];
  for (const c of path.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new UnsafePathError(showPath(path), '`..` is not allowed in a host path');
    out.push(c);
  }
  return out;
}

/** The normalised form of an absolute host path (`//a/./b` → `/a/b`); `..` refused. */
export function normalizeHostPath(path: string): string {
  return `/${hostComponents(path).join('/')}`;
}

function errnoError(code: string, path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: ${path}`);
  err.code = code;
  return err;
}

export class Jail {
  /** The root as the real directory it is (links in it resolved by this machine). */
  readonly root: string;
  /** Real paths already seen to be directories, not links: the hot sysfs walk stats each once. */
  private readonly dirs = new Set<string>();

  constructor(root: string) {
    this.root = fs.realpathSync(root);
  }

  get isHostRoot(): boolean {
    return this.root === '/';
  }

  /** The real path of a host path given as components already resolved (no links among them). */
  real(comps: readonly string[]): string {
    return this.root === '/' ? `/${comps.join('/')}` : `${this.root}/${comps.join('/')}`;
  }

  /** Forget what was learnt about the tree: after gpuvirt itself changed it. */
  forget(): void {
    this.dirs.clear();
  }

  /**
   * The real path of `path` with every link resolved inside the root (the final component's
   * too unless `followFinal` is false). A missing component ends the walk: the rest is
   * appended as given, and opening it fails with ENOENT. With `create`, missing directories
   * are made (never through a link) on the way, mode 0755 unless told.
   */
  resolve(path: string, opts: { followFinal?: boolean; create?: boolean; dirMode?: number } = {}): string {
    return this.real(this.resolveComps(path, opts));
  }

  /** As resolve, but the host components of the result (for the simulated kernel's canonical paths). */
  resolveComps(path: string, opts: { followFinal?: boolean; create?: boolean; dirMode?: number } = {}): string[] {
    const given = hostComponents(path);
    if (this.isHostRoot && !opts.create) return given;
    const followFinal = opts.followFinal ?? true;
    const todo = given.reverse(); // a stack: the next component is at the end
    const done: string[] = [];
    let links = 0;
    let missing = false;
    while (todo.length > 0) {
      const name = todo.pop()!;
      if (name === '' || name === '.') continue;
      if (name === '..') {
        // Only link targets bring `..` here; it may climb no further than the root.
        if (missing) throw errnoError('ENOENT', path);
        if (done.length === 0) throw new UnsafePathError(showPath(path), 'a link in it points outside the root');
        done.pop();
        continue;
      }
      const last = todo.length === 0;
      if (missing || (last && !followFinal)) {
        done.push(name);
        continue;
      }
      done.push(name);
      const real = this.real(done);
      if (this.dirs.has(real)) continue;
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(real);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      }
      if (st === undefined && opts.create) {
        fs.mkdirSync(real, { mode: opts.dirMode ?? 0o755 });
        this.dirs.add(real);
        continue;
      }
      if (st === undefined) {
        missing = true;
        continue;
      }
      if (st.isSymbolicLink()) {
        if (this.isHostRoot) continue; // the kernel follows it, and nothing is outside `/`
        if (++links > MAX_LINKS) throw new UnsafePathError(showPath(path), 'too many levels of symbolic links (a loop)');
        const target = fs.readlinkSync(real);
        done.pop();
        if (target.startsWith('/')) done.length = 0; // absolute: from this host's `/`, the root
        const parts = target.split('/');
        for (let i = parts.length - 1; i >= 0; i--) todo.push(parts[i]!);
        continue;
      }
      if (st.isDirectory()) this.dirs.add(real);
      else if (!last) {
        missing = true; // a file in the middle: ENOTDIR when opened
      }
    }
    return done;
  }

  /** The real directory holding `path` (resolved) and the final name, not followed. */
  parent(path: string, opts: { create?: boolean; dirMode?: number } = {}): { dir: string; name: string } {
    const comps = hostComponents(path);
    const name = comps.pop();
    if (name === undefined) throw new UnsafePathError('/', 'the root itself is not a file');
    const dir = this.resolve(`/${comps.join('/')}`, { create: opts.create, dirMode: opts.dirMode });
    return { dir, name };
  }
}
