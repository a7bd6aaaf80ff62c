// Names for PCI ids and classes from the pci.ids database, looked up lazily: the file is
// read once, on the first name asked for, and searched only for the ids shown.
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

export class PciNames {
  private text: string | null | undefined;
  private readonly cache = new Map<string, string>();

  /** `sources` are tried in order; the first that has a pci.ids file is used. */
  constructor(private readonly sources: readonly Host[]) {}

  private db(): string | null {
    if (this.text !== undefined) return this.text;
    this.text = null;
    for (const host of this.sources) {
      for (const p of paths.pciIds) {
        try {
          const t = host.readText(p);
          if (t) return (this.text = t);
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
    const i = t.indexOf(`\n${prefix}`, Math.max(0, from - 1));
    return i >= 0 && i < end ? i + 1 : -1;
  }

  private lineRest(start: number, prefixLen: number): string {
    const t = this.text!;
    const nl = t.indexOf('\n', start);
    return t.slice(start + prefixLen, nl < 0 ? undefined : nl).trim();
  }

  /** End of the block of tab-indented lines that follows the line at `start`. */
  private blockEnd(start: number): number {
    const t = this.text!;
    let i = t.indexOf('\n', start);
    while (i >= 0 && i + 1 < t.length && (t[i + 1] === '\t' || t[i + 1] === '#')) i = t.indexOf('\n', i + 1);
    return i < 0 ? t.length : i;
  }

  vendor(vendorId: string): string {
    const key = `v${vendorId}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let name = FALLBACK_VENDORS[vendorId] ?? `Vendor ${vendorId}`;
    if (this.db()) {
      const at = this.findLine(`${vendorId}  `, 0, this.classSectionStart());
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
      const v = this.findLine(`${vendorId}  `, 0, this.classSectionStart());
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
