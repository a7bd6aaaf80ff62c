// The resolver every host path goes through: a host path becomes a file inside the root, or
// an error. A tree under --root is someone else's machine (an unpacked snapshot): its links
// are resolved component by component the way that machine's kernel would resolve them
// (absolute targets from its `/`, which is the root here), and a path that would leave the
// root, `..` in a path gpuvirt was given, or a link loop is refused (openat2's
// RESOLVE_IN_ROOT, done by hand since Node has no openat2).
//
// At the root `/` nothing can leave it: the kernel resolves, and only the path is checked.
import { type Dirent, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
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

/** A directory of the real tree known to be one, with what is known of its entries. */
interface DirNode {
  dirs: Map<string, DirNode>;
  links: Set<string> | null;
  /** Entries lstat'ed so far by walks through it; at the fourth it is listed instead (see walk). */
  probes: number;
  /** Its listing was learnt (or tried): what it showed is in dirs and links. */
  listed: boolean;
}

const newNode = (): DirNode => ({ dirs: new Map(), links: null, probes: 0, listed: false });

const KNOWN_LINK = { isSymbolicLink: () => true, isDirectory: () => false };

function errnoError(code: string, path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: ${path}`);
  err.code = code;
  return err;
}

interface ResolveOptions {
  followFinal?: boolean;
  create?: boolean;
  dirMode?: number;
}

/** A resolved path: its host components (no links among them), its real path, and whether all of it exists. */
interface Resolved {
  comps: string[];
  real: string;
  complete: boolean;
}

/** What a listing showed (d_type): its subdirectories and links. */
function addEntries(node: DirNode, entries: readonly Dirent[]): void {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.isDirectory()) {
      if (!node.dirs.has(e.name)) node.dirs.set(e.name, newNode());
    } else if (e.isSymbolicLink()) (node.links ??= new Set()).add(e.name);
  }
}

export class Jail {
  /** The root as the real directory it is (links in it resolved by this machine). */
  readonly root: string;
  /**
   * What is known of the tree, as a tree: directories already seen to be directories (not
   * links), and names a listing showed to be links. The hot sysfs walk stats each directory
   * once, and a walk through known directories costs a map lookup per component.
   */
  private known: DirNode = newNode();
  /**
   * Directories already resolved, by host path: doctor reads a dozen attributes of each device
   * through its `devices/<addr>` link, which is then read once. Off for a tree that changes
   * under gpuvirt while it runs (the simulated kernel's, shared with other processes).
   */
  private readonly resolved: Map<string, Resolved> | null;
  /** The same, by the directory part of a path exactly as given: no split and join per read. */
  private readonly rawDirs: Map<string, string> | null;

  constructor(root: string, opts: { cache?: boolean } = {}) {
    this.root = realpathSync.native(root); // realpath(3): Node's own is an lstat per component, in JavaScript
    this.resolved = opts.cache === false ? null : new Map();
    this.rawDirs = opts.cache === false ? null : new Map();
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
    this.known = newNode();
    this.resolved?.clear();
    this.rawDirs?.clear();
  }

  /**
   * The real path of `path` with every link resolved inside the root (the final component's
   * too unless `followFinal` is false). A missing component ends the walk: the rest is
   * appended as given, and opening it fails with ENOENT. With `create`, missing directories
   * are made (never through a link) on the way, mode 0755 unless told.
   */
  resolve(path: string, opts: ResolveOptions = {}): string {
    return this.resolveGiven(path, hostComponents(path), opts).real;
  }

  /** As resolve, but the host components of the result (for the simulated kernel's canonical paths). */
  resolveComps(path: string, opts: ResolveOptions = {}): string[] {
    return this.resolveGiven(path, hostComponents(path), opts).comps.slice();
  }

  /**
   * Whether `path` names something that exists, links followed inside the root. Below a root
   * other than `/` the walk has looked at every component already, so no further call is made.
   */
  exists(path: string): boolean {
    const given = hostComponents(path);
    if (this.isHostRoot) return existsSync(`/${given.join('/')}`);
    if (this.resolved !== null && given.length > 0) {
      // The directory as every read resolves it (remembered), then the final name alone: what
      // lstat finds there, unless it is a link, which is followed inside the root as below.
      // sriov status asks this of each function's sriov_totalvfs.
      const { dir, name } = this.parent(path);
      let st;
      try {
        st = lstatSync(`${dir}/${name}`, { throwIfNoEntry: false });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
      }
      if (st === undefined) return false; // absent, or a file in the middle (ENOTDIR)
      if (!st.isSymbolicLink()) return true;
    }
    return this.resolveGiven(path, given, {}).complete;
  }

  /** `joined`: given.join('/') when the caller has it already. */
  private resolveGiven(path: string, given: string[], opts: ResolveOptions, joined?: string): Resolved {
    if (this.isHostRoot && !opts.create) return { comps: given, real: `/${given.join('/')}`, complete: true };
    const cacheable = this.resolved !== null && !opts.create && opts.followFinal !== false;
    const key = cacheable ? (joined ?? given.join('/')) : '';
    const hit = cacheable ? this.resolved!.get(key) : undefined;
    if (hit) return hit;
    // A new entry of a directory already resolved (a device under /sys/bus/pci/devices): walk
    // only its last component. (Its key is this one up to the last `/`: no component has one.)
    const parentHit = cacheable && given.length > 1 ? this.resolved!.get(key.slice(0, key.lastIndexOf('/'))) : undefined;
    const { done, complete } = parentHit
      ? this.walk(path, given.slice(-1), opts, parentHit.comps)
      : this.walk(path, given, opts);
    const result = { comps: done, real: this.real(done), complete };
    if (cacheable && complete) this.resolved!.set(key, result);
    return result;
  }

  private walk(path: string, given: readonly string[], opts: ResolveOptions, from: readonly string[] = []): { done: string[]; complete: boolean } {
    const followFinal = opts.followFinal ?? true;
    const todo = given.slice().reverse(); // a stack: the next component is at the end
    const done: string[] = [];
    // nodes[i] is what is known of the directory done[0..i): nodes[0] the root.
    const nodes: DirNode[] = [this.known];
    for (let i = 0; i < from.length; i++) this.enter(done, nodes, from[i]!); // already resolved: real directories, no links
    const base = this.root === '/' ? '' : this.root;
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
        nodes.pop();
        continue;
      }
      const last = todo.length === 0;
      if (missing || (last && !followFinal)) {
        done.push(name);
        continue;
      }
      const dir = nodes[nodes.length - 1]!;
      const child = dir.dirs.get(name);
      if (child) {
        done.push(name);
        nodes.push(child);
        continue;
      }
      const parentReal = `${base}/${done.join('/')}`;
      const real = `${parentReal}${done.length ? '/' : ''}${name}`;
      let st: { isSymbolicLink(): boolean; isDirectory(): boolean } | undefined = dir.links?.has(name) ? KNOWN_LINK : undefined;
      // A fourth entry of one directory to look at (the devices of a PCI bus, reached through
      // /sys/bus/pci/devices): one listing says what all its entries are, where an lstat each
      // would cost a call per device. Its directories and links are learnt, as from FsHost.list.
      // Not sooner: a listing costs a few lstats (an object per entry, attributes included).
      if (st === undefined && !dir.listed && this.resolved !== null && !opts.create && !this.isHostRoot && ++dir.probes > 3) {
        this.learnNode(dir, parentReal);
        const learnt = dir.dirs.get(name);
        if (learnt) {
          done.push(name);
          nodes.push(learnt);
          continue;
        }
        if (dir.links?.has(name)) st = KNOWN_LINK;
      }
      try {
        st ??= lstatSync(real, { throwIfNoEntry: false });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
      }
      if (st === undefined && opts.create) {
        mkdirSync(real, { mode: opts.dirMode ?? 0o755 });
        this.enter(done, nodes, name);
        continue;
      }
      if (st === undefined) {
        missing = true;
        done.push(name);
        continue;
      }
      if (st.isSymbolicLink()) {
        if (this.isHostRoot) {
          // The kernel follows it, and nothing is outside `/`; below it, directories are still
          // made where missing, but nothing is remembered (a detached node).
          done.push(name);
          nodes.push(newNode());
          continue;
        }
        if (++links > MAX_LINKS) throw new UnsafePathError(showPath(path), 'too many levels of symbolic links (a loop)');
        const target = readlinkSync(real);
        if (target.startsWith('/')) {
          done.length = 0; // absolute: from this host's `/`, the root
          nodes.length = 1;
        }
        const parts = target.split('/');
        for (let i = parts.length - 1; i >= 0; i--) todo.push(parts[i]!);
        continue;
      }
      if (st.isDirectory()) this.enter(done, nodes, name);
      else {
        done.push(name);
        if (!last) missing = true; // a file in the middle: ENOTDIR when opened
      }
    }
    // Only a path that exists all the way is remembered: a missing part may appear as a link.
    return { done, complete: !missing };
  }

  /** Steps into `name`, a directory of the real tree (checked, or resolved before). */
  private enter(done: string[], nodes: DirNode[], name: string): void {
    const dir = nodes[nodes.length - 1]!;
    let node = dir.dirs.get(name);
    if (!node) dir.dirs.set(name, (node = newNode()));
    done.push(name);
    nodes.push(node);
  }

  /**
   * What a listing of the real directory `dir` showed (d_type): its subdirectories and links
   * need no lstat when a walk passes through them. /sys/bus/pci/devices is 4000 links on a
   * large host, listed anyway before each is read.
   */
  learn(dir: string, entries: readonly Dirent[]): void {
    if (this.resolved === null) return; // a tree that changes while gpuvirt runs: nothing is remembered
    if (dir !== this.root && !dir.startsWith(`${this.root}/`)) return;
    let node = this.known;
    for (const c of dir.slice(this.root.length).split('/')) {
      if (c === '') continue;
      let next = node.dirs.get(c);
      if (!next) node.dirs.set(c, (next = newNode()));
      node = next;
    }
    node.listed = true;
    addEntries(node, entries);
  }

  /** Lists the real directory `real` (what `node` stands for) and learns its entries; a listing that fails teaches nothing. */
  private learnNode(node: DirNode, real: string): void {
    node.listed = true;
    let entries: Dirent[];
    try {
      entries = readdirSync(real, { withFileTypes: true });
    } catch {
      return; // unreadable (a directory one may pass through but not list): each entry is looked at alone
    }
    addEntries(node, entries);
  }

  /** The real directory holding `path` (resolved) and the final name, not followed. */
  parent(path: string, opts: { create?: boolean; dirMode?: number } = {}): { dir: string; name: string } {
    // The hot path: a directory string seen before, resolved whole, and a plain final name.
    const slash = path.lastIndexOf('/');
    const rawDir = path.slice(0, slash);
    const name = path.slice(slash + 1);
    const plain = slash > 0 && name !== '' && name !== '.' && name !== '..' && !name.includes('\0');
    if (plain && !opts.create) {
      const hit = this.rawDirs?.get(rawDir);
      if (hit !== undefined) return { dir: hit, name };
    }
    const comps = hostComponents(path);
    const last = comps.pop();
    if (last === undefined) throw new UnsafePathError('/', 'the root itself is not a file');
    const key = comps.join('/');
    const dir = this.resolveGiven(path, comps, opts, key).real;
    if (plain && this.resolved?.has(key)) this.rawDirs!.set(rawDir, dir);
    return { dir, name: last };
  }
}
