// The one abstraction through which gpuvirt reads and writes the host. Paths are absolute
// host paths (see paths.ts); an implementation resolves them under its root, through the
// Jail (jail.ts): a path that leaves the root throws UnsafePathError, which the helpers
// below pass on rather than counting as "absent".
import { isUnsafePath, showPath, UnsafePathError } from './jail.js';

/** What lstat(2) says about a path; see Host.stat. */
export interface HostStat {
  kind: 'file' | 'dir' | 'link' | 'other';
  /** Permission bits (st_mode & 0o7777). */
  mode: number;
  /** With `head`: up to that many raw bytes from the start of a regular file. */
  head?: Uint8Array;
  uid?: number;
  gid?: number;
}

/** How Host.writeFile makes a file that does not exist yet. */
export interface WriteOptions {
  /** A host path whose mode and owner the new file takes (a backup keeps its original's). */
  like?: string;
  /** The mode of directories it creates on the way (backups: 0700). */
  dirMode?: number;
}

export interface Host {
  /** The directory the host's `/` maps to: `/` on a real run, a fixture tree in tests. */
  readonly root: string;
  /** File contents, or null when the path does not exist. Other errors throw (with errno in `code`). */
  readText(path: string): string | null;
  /**
   * Up to `length` raw bytes of a file from `position` (fewer at its end), or null when the
   * file does not exist. Optional: for large files searched for a few ASCII keys (pci.ids),
   * read only as far as needed and never decoded as a whole.
   */
  readChunk?(path: string, position: number, length: number): Uint8Array | null;
  /** A symlink's target as stored, or null when it is not there. */
  readLink(path: string): string | null;
  /** Entry names of a directory, sorted, or null when it does not exist. */
  list(path: string): string[] | null;
  exists(path: string): boolean;
  isDirectory(path: string): boolean;
  /**
   * lstat(2): what the path is and its permission bits (a final symlink is not followed), or
   * null when absent. With `head`, also the first `head` raw bytes of a regular file: binary
   * attributes such as a PCI function's `config` do not survive readText's UTF-8 decoding.
   * Optional: `gpuvirt snapshot` guesses sysfs modes from attribute names without it.
   */
  stat?(path: string, head?: number): HostStat | null;
  /** One write(2) of `value` to an existing attribute, as `echo -n value > path` would; kernel errors throw. */
  writeAttr(path: string, value: string): void;
  /**
   * Creates or replaces a regular file atomically: written to a temporary file beside it,
   * flushed, then renamed over the target, so a reader sees the old or the new file, never half.
   * Parent directories are created. An existing file keeps its mode and owner, and a link is
   * edited at its target (inside the root); `mode` is for a new file.
   */
  writeFile(path: string, content: string, mode?: number, opts?: WriteOptions): void;
  /** Creates the file only if it does not exist yet (O_EXCL); false when it already existed. */
  createExclusive(path: string, content: string): boolean;
  /** Removes a file; no error when it is already gone. */
  removeFile(path: string): void;
  /** With `mode`, the final directory gets exactly that mode (created or not). */
  mkdirp(path: string, mode?: number): void;
  /** Removes a directory if it is empty; false when it is not (or is not there). */
  removeEmptyDir?(path: string): boolean;
  /** True when gpuvirt runs with root privileges. */
  isPrivileged(): boolean;
}

/** What ends the kernel's own links: a driver, module, group, device address. */
const KERNEL_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Last path component of a symlink target: the kernel's links end in the name that matters.
 * A name the kernel would never use (newlines, quotes, spaces: a hostile snapshot) is refused,
 * since it would flow into state and generated files.
 */
export function linkName(host: Host, path: string): string | null {
  const target = host.readLink(path);
  if (target === null) return null;
  const i = target.lastIndexOf('/');
  const name = i < 0 ? target : target.slice(i + 1);
  if (!KERNEL_NAME.test(name)) throw new UnsafePathError(showPath(path), `links to ${showPath(name.slice(0, 64))}, not a name the kernel uses`);
  return name;
}

/** Reads an attribute and trims the trailing newline; null when absent or unreadable. */
export function readAttr(host: Host, path: string): string | null {
  try {
    const text = host.readText(path);
    return text === null ? null : text.trim();
  } catch (err) {
    if (isUnsafePath(err)) throw err;
    return null;
  }
}

/** A listing where an unreadable directory (EACCES without root, e.g. an ESP mounted 0700) counts as absent. */
export function listIfReadable(host: Host, path: string): string[] | null {
  try {
    return host.list(path);
  } catch (err) {
    if (isUnsafePath(err)) throw err;
    return null;
  }
}

/** File contents where an unreadable file counts as absent (untrimmed, unlike readAttr). */
export function readIfReadable(host: Host, path: string): string | null {
  try {
    return host.readText(path);
  } catch (err) {
    if (isUnsafePath(err)) throw err;
    return null;
  }
}
