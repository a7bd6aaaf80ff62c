// PCI names from systemd's hardware database source, 20-pci-vendor-model.hwdb, which udev
// packages regenerate from pci.ids with every release: where the host's own pci.ids is years
// old ("Device 26b9"), it knows the device ("AD102GL [L40S]"). lspci asks it for ids pci.ids
// lacks (pciutils lib/names.c id_lookup); gpuvirt does the same. Entries look like
//   pci:v000010DEd000026B9*
//    ID_MODEL_FROM_DATABASE=AD102GL [L40S]
// sorted by vendor id. The 4 MB file is never read whole: a binary search over small reads
// finds where the vendor's entries start, and only they are read.
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';

const PROBE = 4096;
const CHUNK = 128 * 1024;
/** Each read costs a system call or three: bisect only until the vendor lies within a piece or two. */
const SPAN = 64 * 1024;
/** Each piece starts this much before the previous one ends, so no entry is ever cut in two. */
const OVERLAP = 1024;
const KEY = '\npci:v0000';

type Reader = (position: number, length: number) => Buffer | null;

export class Hwdb {
  private reader: Reader | null | undefined;
  private readonly cache = new Map<string, string | null>();
  private readonly starts = new Map<string, number>();
  private size: number | undefined;

  /** `sources` are tried in order; the first that has the file is used. */
  constructor(private readonly sources: readonly Host[]) {}

  private open(): Reader | null {
    if (this.reader !== undefined) return this.reader;
    this.reader = null;
    for (const host of this.sources) {
      for (const path of paths.pciHwdb) {
        try {
          if (!host.exists(path)) continue;
          if (host.readChunk) {
            return (this.reader = (at, n) => {
              const b = host.readChunk!(path, at, n);
              return b && b.length ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : null;
            });
          }
          const whole = Buffer.from(host.readText(path) ?? '', 'utf8');
          return (this.reader = (at, n) => (at < whole.length ? whole.subarray(at, at + n) : null));
        } catch {
          // unreadable: try the next
        }
      }
    }
    return null;
  }

  /** The vendor id of the first entry that starts after `at`, or null past the last one. */
  private vendorAfter(read: Reader, at: number): string | null {
    const b = read(at, PROBE);
    if (!b) return null;
    const i = b.indexOf(KEY, 0, 'latin1');
    return i < 0 || i + KEY.length + 4 > b.length ? null : b.toString('latin1', i + KEY.length, i + KEY.length + 4);
  }

  /** An offset at or before the first entry of `vendor`: bisection on the sorted file. */
  private vendorStart(read: Reader, vendor: string): number {
    const known = this.starts.get(vendor);
    if (known !== undefined) return known;
    // An upper bound of the file's size: today's file is 4 MB.
    if (this.size === undefined) {
      let hi = 4 << 20;
      while (hi < 1 << 28 && this.vendorAfter(read, hi) !== null) hi *= 2;
      this.size = hi;
    }
    let hi = this.size;
    let lo = 0;
    while (hi - lo > SPAN) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const v = this.vendorAfter(read, mid);
      if (v === null || v >= vendor) hi = mid;
      else lo = mid;
    }
    this.starts.set(vendor, lo);
    return lo;
  }

  /** The value of `property` under the entry `key`, reading no further than `vendor`'s entries. */
  private lookup(key: string, property: string, vendor: string): string | null {
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let value: string | null = null;
    const read = this.open();
    if (read) {
      const needle = `\n${key}\n ${property}=`;
      for (let at = this.vendorStart(read, vendor); ; at += CHUNK - OVERLAP) {
        const buf = read(at, CHUNK);
        if (!buf) break;
        const i = buf.indexOf(needle, 0, 'latin1');
        if (i >= 0) {
          const start = i + needle.length;
          const end = buf.indexOf(0x0a, start);
          value = buf.toString('utf8', start, end < 0 ? buf.length : end).trim() || null;
          break;
        }
        const last = buf.lastIndexOf(KEY, buf.length, 'latin1');
        if (buf.length < CHUNK || (last >= 0 && buf.toString('latin1', last + KEY.length, last + KEY.length + 4) > vendor)) break;
      }
    }
    this.cache.set(key, value);
    return value;
  }

  vendor(vendorId: string): string | null {
    const v = vendorId.toUpperCase();
    return this.lookup(`pci:v0000${v}*`, 'ID_VENDOR_FROM_DATABASE', v);
  }

  model(vendorId: string, deviceId: string): string | null {
    const v = vendorId.toUpperCase();
    return this.lookup(`pci:v0000${v}d0000${deviceId.toUpperCase()}*`, 'ID_MODEL_FROM_DATABASE', v);
  }
}
