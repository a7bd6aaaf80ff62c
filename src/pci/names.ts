// Names for PCI ids and classes from the pci.ids database, looked up lazily: the file is
// read once, on the first name asked for, and searched only for the ids shown. It is not
// decoded as UTF-8 as a whole: for 1.3 MB that costs more than all else doctor does on a small host.
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';

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

/** The `\n` that ends a block of tab-indented (or comment) lines. */
const BLOCK_END = /\n(?:[^\t#]|$)/g;

export class PciNames {
  /**
   * pci.ids as read, and as latin1 text: one character per byte, so offsets in one are offsets
   * in the other, and only the lines shown are decoded as UTF-8.
   */
  private bytes: Buffer | null = null;
  private text: string | null | undefined;
  private readonly cache = new Map<string, string>();
  private readonly vendorLines = new Map<string, number>();

  /** `sources` are tried in order; the first that has a pci.ids file is used. */
  constructor(private readonly sources: readonly Host[]) {}

  private db(): string | null {
    if (this.text !== undefined) return this.text;
    this.text = null;
    for (const host of this.sources) {
      for (const p of paths.pciIds) {
        try {
          const b = host.readBytes ? host.readBytes(p) : Buffer.from(host.readText(p) ?? '');
          if (!b?.length) continue;
          this.bytes = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
          return (this.text = this.bytes.toString('latin1'));
        } catch {
          // unreadable: try the next location
        }
      }
    }
    return this.text;
  }

  /** Index just past the line `<prefix>` that starts a line, searching from `from` up to `end`. */
  private findLine(prefix: string, from: number, end: number): number {
    const t = this.text!;
    // A match starts on a line that ends by `end`, so the search can stop there.
    const i = (end < t.length ? t.slice(0, end) : t).indexOf(`\n${prefix}`, Math.max(0, from - 1));
    return i >= 0 && i < end ? i + 1 : -1;
  }

  private lineRest(start: number, prefixLen: number): string {
    const nl = this.text!.indexOf('\n', start);
    return this.bytes!.toString('utf8', start + prefixLen, nl < 0 ? undefined : nl).trim();
  }

  /** End of the block of tab-indented lines that follows the line at `start`. */
  private blockEnd(start: number): number {
    BLOCK_END.lastIndex = start;
    return BLOCK_END.exec(this.text!)?.index ?? this.text!.length;
  }

  private vendorLine(vendorId: string): number {
    let at = this.vendorLines.get(vendorId);
    if (at === undefined) this.vendorLines.set(vendorId, (at = this.findLine(`${vendorId}  `, 0, this.classSectionStart())));
    return at;
  }

  vendor(vendorId: string): string {
    const key = `v${vendorId}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let name = FALLBACK_VENDORS[vendorId] ?? `Vendor ${vendorId}`;
    if (this.db()) {
      const at = this.vendorLine(vendorId);
      if (at >= 0) name = this.lineRest(at, 6);
    }
    this.cache.set(key, name);
    return name;
  }

  device(vendorId: string, deviceId: string): string {
    const key = `d${vendorId}:${deviceId}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let name = `Device ${deviceId}`;
    if (this.db()) {
      const v = this.vendorLine(vendorId);
      if (v >= 0) {
        const end = this.blockEnd(v);
        const d = this.findLine(`\t${deviceId}  `, v, end);
        if (d >= 0) name = this.lineRest(d, 7);
      }
    }
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
      const c = this.findLine(`C ${base}  `, this.classSectionStart(), Infinity);
      if (c >= 0) {
        name = this.lineRest(c, 6);
        const s = this.findLine(`\t${sub}  `, c, this.blockEnd(c));
        if (s >= 0) name = this.lineRest(s, 5);
      }
    }
    this.cache.set(key, name);
    return name;
  }

  private classStart: number | undefined;
  private classSectionStart(): number {
    if (this.classStart === undefined) {
      const i = this.text ? this.text.indexOf('\nC ') : -1;
      this.classStart = i < 0 ? Infinity : i;
    }
    return this.classStart;
  }
}
