// Names for PCI ids and classes from the pci.ids database, looked up lazily: the file is
// read on the first name asked for, only as far as the ids shown need, and never decoded as a
// whole: for 1.3 MB that cost more than all else doctor does on a small host.
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import { Hwdb } from './hwdb.js';

/** A few vendors gpuvirt users meet, for hosts without pci.ids. */
const FALLBACK_VENDORS: Record<string, string> = {
  '10de': 'NVIDIA Corporation',
  '1002': 'Advanced Micro Devices, Inc. [AMD/ATI]',
  '1022': 'Advanced Micro Devices, Inc. [AMD]',
  '8086': 'Intel Corporation',
  '1af4': 'Red Hat, Inc.',
  '1b36': 'Red Hat, Inc.',
  '1234': 'QEMU',
  '15ad': 'VMware',
  '1a03': 'ASPEED Technology, Inc.',
  '102b': 'Matrox Electronics Systems Ltd.',
  '144d': 'Samsung Electronics Co Ltd',
  '15b3': 'Mellanox Technologies',
};

const FALLBACK_CLASSES: Record<string, string> = {
  '00': 'Unclassified device',
  '01': 'Mass storage controller',
  '02': 'Network controller',
  '03': 'Display controller',
  '04': 'Multimedia controller',
  '05': 'Memory controller',
  '06': 'Bridge',
  '07': 'Communication controller',
  '08': 'Generic system peripheral',
  '09': 'Input device controller',
  '0c': 'Serial bus controller',
  '0d': 'Wireless controller',
  '10': 'Encryption controller',
  '11': 'Signal processing controller',
  '12': 'Processing accelerators',
  '13': 'Non-Essential Instrumentation',
};

const NL = 0x0a;
/** A `\n` that starts a line other than a tab-indented or comment line. */
const BLOCK_END = /\n[^\t#]/g;
const BLOCK_WINDOW = 64 * 1024;
/** pci.ids is read this much first; the whole file (up to WHOLE, then more) only if a lookup needs more. */
const CHUNK = 256 * 1024;
const WHOLE = 4 * 1024 * 1024;
/** How far a device is searched for in its vendor's block before the block's end is looked for. */
const DEVICE_PIECE = 64 * 1024;

/**
 * pci.ids: its first 256 kB, and the rest only when a search runs past them (a host whose
 * devices are all from vendors near the top never reads it: AMD's block ends at 150 kB of
 * 1.3 MB). Searched as bytes (Buffer.indexOf, native code) and never decoded as a whole: only
 * the lines shown are decoded as UTF-8, and block ends are looked for only as far as needed.
 */
class IdsFile {
  private buf: Buffer;
  /** Bytes of `buf` read so far. */
  private filled: number;
  private complete: boolean;

  constructor(
    first: Uint8Array,
    private readonly readAt: ((position: number, length: number) => Uint8Array | null) | null,
  ) {
    this.buf = Buffer.from(first.buffer, first.byteOffset, first.byteLength);
    this.filled = first.byteLength;
    this.complete = readAt === null || first.byteLength < CHUNK;
  }

  /**
   * Reads on; false at the end of the file. Past the first piece the file is read whole (from
   * its start, so nothing is copied): one read of 1.3 MB costs less than several smaller ones
   * and the copies between them.
   */
  private more(): boolean {
    if (this.complete) return false;
    const length = Math.max(WHOLE, this.buf.length * 2);
    let bytes: Uint8Array | null;
    try {
      bytes = this.readAt!(0, length);
    } catch {
      // The file went away or cannot be read any further (replaced by update-pciids, EIO):
      // what was read still answers; ids beyond it get the readable fallback names.
      bytes = null;
    }
    if (!bytes || bytes.length <= this.filled) {
      this.complete = true;
      return false;
    }
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.filled = bytes.length;
    if (bytes.length < length) this.complete = true;
    return true;
  }

  /** Bytes read so far. */
  get length(): number {
    return this.filled;
  }

  /** Start of the first `needle` at or after `from` that ends by `end`, or -1. */
  indexOf(needle: string, from: number, end = Infinity): number {
    for (;;) {
      const limit = Math.min(this.filled, end);
      const i = this.buf.subarray(0, limit).indexOf(needle, Math.max(0, from), 'latin1');
      if (i >= 0) return i;
      if (limit === end || !this.more()) return -1;
      // A match may straddle the old end: search again from just before it.
      from = Math.max(from, limit - needle.length + 1);
    }
  }

  /** Start of the last line `<prefix>` in the whole file (read to its end first), or -1. */
  lastLine(prefix: string): number {
    while (this.more());
    const i = this.buf.subarray(0, this.filled).lastIndexOf(`\n${prefix}`, this.filled, 'latin1');
    return i < 0 ? -1 : i + 1;
  }

  /** The `\n` ending the line that holds `at`, or the end of the file. */
  lineEnd(at: number): number {
    const i = this.indexOf('\n', at);
    return i < 0 ? this.filled : i;
  }

  /** Block ends found so far, by the start of the line the block follows. */
  private readonly ends = new Map<number, number>();
  /** How far each block is known to run (no end before this offset), by the same key. */
  private readonly clearTo = new Map<number, number>();

  /**
   * The end of the block of tab-indented (or comment) lines after the line at `start` (the
   * `\n` before the next other line) when it lies before `limit`; -1 when the block runs at
   * least to `limit`. A regular expression over latin1 windows, only as far as `limit` and
   * never twice over the same bytes: a vendor's block runs to 370 kB, and a native call per
   * line would cost milliseconds.
   */
  endBefore(start: number, limit: number): number {
    const known = this.ends.get(start);
    if (known !== undefined) return known < limit ? known : -1;
    let from = this.clearTo.get(start) ?? start;
    while (from < limit) {
      // A `\n` at offset p is judged by the byte after it, so p must be below filled - 1.
      while (this.filled - 1 < Math.min(limit, from + BLOCK_WINDOW) && this.more());
      const to = Math.min(limit, from + BLOCK_WINDOW, this.filled - 1);
      if (to <= from) {
        this.ends.set(start, this.filled);
        return this.filled < limit ? this.filled : -1;
      }
      const window = this.buf.toString('latin1', from, to + 1);
      BLOCK_END.lastIndex = 0;
      const m = BLOCK_END.exec(window);
      if (m) {
        this.ends.set(start, from + m.index);
        return from + m.index;
      }
      this.clearTo.set(start, (from = to));
    }
    return -1;
  }

  /** End of the block after the line at `start`, or of the file. */
  blockEnd(start: number): number {
    return this.endBefore(start, Infinity);
  }

  utf8(start: number, end: number): string {
    return this.buf.toString('utf8', start, end);
  }
}

export class PciNames {
  private ids: IdsFile | null | undefined;
  private readonly cache = new Map<string, string>();
  private readonly vendorLines = new Map<string, number>();

  /** Asked only for what pci.ids lacks, as lspci does. */
  private readonly hwdb: Hwdb;

  /**
   * `sources` are tried in order; the first that has a pci.ids file is used. The hwdb is the
   * first source's own: a snapshot carries its host's, and this machine's newer udev would name
   * its devices otherwise than that host's lspci did.
   */
  constructor(private readonly sources: readonly Host[]) {
    this.hwdb = new Hwdb(sources.slice(0, 1));
  }

  private db(): IdsFile | null {
    if (this.ids !== undefined) return this.ids;
    this.ids = null;
    for (const host of this.sources) {
      for (const p of paths.pciIds) {
        try {
          if (host.readChunk) {
            const first = host.readChunk(p, 0, CHUNK);
            if (first?.length) return (this.ids = new IdsFile(first, (at, n) => host.readChunk!(p, at, n)));
          } else {
            const text = host.readText(p);
            if (text) return (this.ids = new IdsFile(Buffer.from(text), null));
          }
        } catch {
          // unreadable: try the next location
        }
      }
    }
    return this.ids;
  }

  /** Index just past the `\n` of the line `<prefix>`, searching from `from` for a line that ends by `end`. */
  private findLine(prefix: string, from: number, end: number): number {
    const i = this.ids!.indexOf(`\n${prefix}`, from - 1, end);
    return i >= 0 ? i + 1 : -1;
  }

  private lineRest(start: number, prefixLen: number): string {
    return this.ids!.utf8(start + prefixLen, this.ids!.lineEnd(start)).trim();
  }

  /**
   * The vendor's line. The search need not stop at the class section: no line there (`C xx`,
   * tab-indented subclasses) starts with a hex id, so the first match is the vendor's line.
   */
  private vendorLine(vendorId: string): number {
    let at = this.vendorLines.get(vendorId);
    if (at === undefined) this.vendorLines.set(vendorId, (at = this.findLine(`${vendorId}  `, 0, Infinity)));
    return at;
  }

  /**
   * The device's line in the block of the vendor at `v`, or -1: the first such line after the
   * vendor's counts if no other vendor's line comes first. Searched a piece at a time, each
   * piece only once the block is known to run into it: a device pci.ids lacks (a GPU newer
   * than the file) costs a search of its vendor's block, not of the rest of the file.
   */
  private deviceLine(v: number, deviceId: string): number {
    const ids = this.ids!;
    const needle = `\t${deviceId}  `;
    for (let from = v; ;) {
      const to = from + DEVICE_PIECE;
      const d = this.findLine(needle, from, to);
      if (d >= 0) return ids.endBefore(v, d - 1) < 0 ? d : -1;
      if (ids.endBefore(v, to) >= 0) return -1;
      // A line across the piece's end is found from here.
      from = to - needle.length;
    }
  }

  vendor(vendorId: string): string {
    const key = `v${vendorId}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let name: string | null = null;
    if (this.db()) {
      const at = this.vendorLine(vendorId);
      if (at >= 0) name = this.lineRest(at, 6);
    }
    name ??= this.hwdb.vendor(vendorId) ?? FALLBACK_VENDORS[vendorId] ?? `Vendor ${vendorId}`;
    this.cache.set(key, name);
    return name;
  }

  device(vendorId: string, deviceId: string): string {
    const key = `d${vendorId}:${deviceId}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let name: string | null = null;
    if (this.db()) {
      const v = this.vendorLine(vendorId);
      const d = v >= 0 ? this.deviceLine(v, deviceId) : -1;
      if (d >= 0) name = this.lineRest(d, 7);
    }
    name ??= this.hwdb.model(vendorId, deviceId) ?? `Device ${deviceId}`;
    this.cache.set(key, name);
    return name;
  }

  /** "NVIDIA Corporation GA102 [GeForce RTX 3090]", as lspci prints it. */
  name(vendorId: string, deviceId: string): string {
    return `${this.vendor(vendorId)} ${this.device(vendorId, deviceId)}`;
  }

  /** Class name at the most specific level known: "VGA compatible controller". */
  className(classId: string): string {
    const key = `c${classId}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const base = classId.slice(0, 2);
    const sub = classId.slice(2, 4);
    let name = FALLBACK_CLASSES[base] ?? `Class ${classId}`;
    if (this.db()) {
      // The class section ends the file (its 22 classes in the last few kB): searched from the
      // end, not across the vendors before it. A valid pci.ids names each class once.
      const c = this.ids!.lastLine(`C ${base}  `);
      if (c >= 0) {
        name = this.lineRest(c, 6);
        const s = this.findLine(`\t${sub}  `, c, this.ids!.blockEnd(c));
        if (s >= 0) name = this.lineRest(s, 5);
      }
    }
    this.cache.set(key, name);
    return name;
  }
}
