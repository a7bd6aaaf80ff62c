// Reading host files for FsHost: opened through the Jail, regular files only, at most a size
// per kind of file. A FIFO must not hang a read and /dev/zero must not fill the memory.
import { type Stats, closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { type Jail, normalizeHostPath, showPath, UnsafePathError } from './jail.js';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = constants;
const READ_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The most gpuvirt reads of one file, by where it is. A sysfs attribute is at most a page
 * (64 KiB on arm64); /proc/interrupts of a 512-CPU host is a few MB; modules.dep and a kernel
 * config are a few MB at most. Beyond that the file is not what it claims to be.
 */
const LIMITS: [prefix: string, bytes: number][] = [
  ['/sys/', 64 * KiB],
  ['/proc/cmdline', 64 * KiB],
  ['/proc/', 16 * MiB],
  ['/etc/', 4 * MiB],
  ['/var/lib/gpuvirt/', 16 * MiB],
  // A module file is read whole for its signature trailer (sharing/intel.ts): nvidia.ko is ~100 MB.
  ['/lib/modules/', 512 * MiB],
];
const DEFAULT_LIMIT = 64 * MiB;

export function readLimit(path: string): number {
  // Indexed, not for-of with destructuring: this runs for every read, mostly uncompiled.
  for (let i = 0; i < LIMITS.length; i++) if (path.startsWith(LIMITS[i]![0])) return LIMITS[i]![1];
  return DEFAULT_LIMIT;
}

/** One buffer for every small read (a sysfs attribute), reused: no allocation per file. */
let scratchBuf: Buffer | null = null;
const scratch = () => (scratchBuf ??= Buffer.allocUnsafe(16 * KiB));

export function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device node';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/**
 * Opens a host path for reading, inside the root. The final component is tried with
 * O_NOFOLLOW first (sysfs attributes are files, so the hot path costs no lstat), and resolved
 * only when it is a link. O_NONBLOCK: opening a FIFO must not wait for a writer.
 */
function open(jail: Jail, path: string): number {
  const { dir, name } = jail.parent(path);
  // At `/` the kernel resolves a final link (/proc/mounts -> self/mounts): nothing is outside.
  if (jail.isHostRoot) return openSync(`${dir}/${name}`, READ_FLAGS & ~O_NOFOLLOW);
  try {
    return openSync(`${dir}/${name}`, READ_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOOP') throw err;
    return openSync(jail.resolve(path), READ_FLAGS);
  }
}

/** Refuses what is not a regular file, naming it: a FIFO, a device node, a socket. */
export function checkRegular(fd: number, path: string): void {
  const st = fstatSync(fd);
  if (!st.isFile()) throw new UnsafePathError(showPath(path), `${kindOf(st)}, where gpuvirt reads a regular file`);
}

/** Opened and checked to be a regular file (for reads that do not end at EOF on their own). */
function openRead(jail: Jail, path: string): number {
  const fd = open(jail, path);
  try {
    checkRegular(fd, path);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** Up to `length` bytes from `position`, in as many read(2)s as that takes. */
export function readAt(jail: Jail, path: string, position: number, length: number): Buffer {
  const fd = openRead(jail, path);
  try {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, position + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * A whole file as text, refused beyond its limit (procfs and sysfs report sizes 0 and 4096,
 * so the reading counts). The kind of file is checked only when the content says something
 * is off (nothing at all, or too much): a FIFO or /dev/null reads as empty at once under
 * O_NONBLOCK, /dev/zero as endless; an fstat per read cost a tenth of doctor's sysfs walk.
 */
export function readBounded(jail: Jail, path: string): string {
  const limit = readLimit(path);
  // This machine's sysfs holds only regular files, directories and links, and nothing it links
  // to is outside `/`: one native read of the whole attribute, as fast as before confinement.
  if (jail.isHostRoot && path.startsWith('/sys/')) {
    const text = readFileSync(normalizeHostPath(path), { encoding: 'utf8', flag: O_RDONLY | O_NONBLOCK });
    if (text.length > limit) throw new UnsafePathError(showPath(path), `larger than the ${limit} bytes gpuvirt reads of such a file`);
    return text;
  }
  // sysfs returns an attribute in one read(2), and a regular file reads short only at its
  // end: one short read of a /sys path is the whole of it (procfs's seq_files are not so).
  const oneRead = path.startsWith('/sys/');
  const fd = open(jail, path);
  try {
    let buf = scratch();
    let got = 0;
    for (;;) {
      if (got === buf.length) {
        if (got > limit) {
          checkRegular(fd, path);
          throw new UnsafePathError(showPath(path), `larger than the ${limit} bytes gpuvirt reads of such a file`);
        }
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 4, limit + 1));
        buf.copy(bigger, 0, 0, got);
        buf = bigger;
      }
      let n: number;
      try {
        n = readSync(fd, buf, got, buf.length - got, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') checkRegular(fd, path);
        throw err;
      }
      if (n === 0) break;
      got += n;
      if (oneRead && got < 4096) break; // kernfs reads at most a page at a time: less is the end
    }
    if (got === 0) checkRegular(fd, path);
    return buf.toString('utf8', 0, got);
  } finally {
    closeSync(fd);
  }
}
