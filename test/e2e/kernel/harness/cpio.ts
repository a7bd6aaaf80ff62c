// A writer for the "newc" cpio format, the one the kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst). Writing it here needs neither
// root (for the /dev/console node) nor a cpio binary, and fixes owners and times, so the same
// inputs give the same bytes.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

export type Entry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; mode?: number; source: string }
  | { type: 'data'; path: string; mode?: number; data: string | Buffer }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'char'; path: string; mode?: number; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/** The kernel reads each part of a concatenated initramfs from a 4-byte boundary; 512 is safe for every format. */
export const PART_ALIGN = 512;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

class Writer {
  private offset = 0;
  private ino = 1;
  constructor(private readonly fd: number) {}

  write(buf: Buffer): void {
    writeSync(this.fd, buf);
    this.offset += buf.length;
  }

  pad(to: number): void {
    const n = (to - (this.offset % to)) % to;
    if (n) this.write(Buffer.alloc(n));
  }

  record(name: string, mode: number, body: Buffer, rdev: [number, number] = [0, 0], nlink = 1): void {
    const nameBytes = Buffer.from(`${name}\0`);
    const fields = [this.ino++, mode, 0, 0, nlink, 0, body.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0];
    this.write(Buffer.from(`070701${fields.map(hex8).join('')}`, 'ascii'));
    this.write(nameBytes);
    this.pad(4);
    this.write(body);
    this.pad(4);
  }
}

/** Writes `entries` (paths relative to the initramfs root, no leading slash) as one padded part. */
export function writeCpio(file: string, entries: readonly Entry[]): void {
  const fd = openSync(file, 'w');
  try {
    const w = new Writer(fd);
    for (const e of entries) {
      const name = e.path.replace(/^\/+/, '');
      switch (e.type) {
        case 'dir':
          w.record(name, S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0), [0, 0], 2);
          break;
        case 'file':
          w.record(name, S_IFREG | (e.mode ?? 0o644), readFileSync(e.source));
          break;
        case 'data':
          w.record(name, S_IFREG | (e.mode ?? 0o644), Buffer.from(e.data));
          break;
        case 'symlink':
          w.record(name, S_IFLNK | 0o777, Buffer.from(e.target));
          break;
        case 'char':
          w.record(name, S_IFCHR | (e.mode ?? 0o600), Buffer.alloc(0), [e.major, e.minor]);
          break;
      }
    }
    w.record('TRAILER!!!', 0, Buffer.alloc(0));
    w.pad(PART_ALIGN);
  } finally {
    closeSync(fd);
  }
}
