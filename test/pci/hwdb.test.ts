// Names from udev's hwdb where pci.ids lacks them, as lspci finds them (pciutils lib/names.c:
// pci.ids first, the hwdb for what it does not know).
import { describe, expect, it } from 'vitest';
import { FsHost } from '../../src/host/fs-host.js';
import { PciNames } from '../../src/pci/names.js';
import { makeTree } from '../helpers/tree.js';

const HWDB = 'usr/lib/udev/hwdb.d/20-pci-vendor-model.hwdb';
const OLD_IDS = '# an old pci.ids\n10de  NVIDIA Corporation\n\t2204  GA102 [GeForce RTX 3090]\n1002  Advanced Micro Devices, Inc. [AMD/ATI]\n';
const hwdbText = (entries: [string, string][]) =>
  `# This file is part of systemd.\n#\n# Data imported from: /usr/share/hwdata/pci.ids\n${entries.map(([k, v]) => `\n${k}\n ${v}\n`).join('')}`;
const SMALL = hwdbText([
  ['pci:v00001002*', 'ID_VENDOR_FROM_DATABASE=Advanced Micro Devices, Inc. [AMD/ATI]'],
  ['pci:v00001002d000074A1*', 'ID_MODEL_FROM_DATABASE=Aqua Vanjaram [Instinct MI300X]'],
  ['pci:v000010DE*', 'ID_VENDOR_FROM_DATABASE=NVIDIA Corporation'],
  ['pci:v000010DEd00002204*', 'ID_MODEL_FROM_DATABASE=GA102 [GeForce RTX 3090] (hwdb)'],
  ['pci:v000010DEd000026B9*', 'ID_MODEL_FROM_DATABASE=AD102GL [L40S]'],
  ['pci:v000010DEd000026B9sv000010DEsd00001851*', 'ID_MODEL_FROM_DATABASE=L40S subsystem'],
  ['pci:v00001E52*', 'ID_VENDOR_FROM_DATABASE=Tenstorrent Inc'],
]);

/** An FsHost that counts the bytes read from the hwdb. */
function counted(files: Record<string, string>) {
  const host = new FsHost(makeTree(files));
  const reads: number[] = [];
  const orig = host.readChunk.bind(host);
  host.readChunk = (p, at, n) => {
    const r = orig(p, at, n);
    if (p.endsWith('.hwdb') && r) reads.push(r.length);
    return r;
  };
  return { host, reads };
}

describe('hwdb names', () => {
  it('a device an old pci.ids lacks gets the hwdb name; what pci.ids has stays its own', () => {
    const n = new PciNames([new FsHost(makeTree({ 'usr/share/misc/pci.ids': OLD_IDS, [HWDB]: SMALL }))]);
    expect(n.name('10de', '26b9')).toBe('NVIDIA Corporation AD102GL [L40S]');
    expect(n.name('1002', '74a1')).toBe('Advanced Micro Devices, Inc. [AMD/ATI] Aqua Vanjaram [Instinct MI300X]');
    expect(n.name('10de', '2204')).toBe('NVIDIA Corporation GA102 [GeForce RTX 3090]');
    expect(n.name('1e52', 'b140')).toBe('Tenstorrent Inc Device b140');
    expect(n.name('abcd', '0001')).toBe('Vendor abcd Device 0001');
  });

  it('without pci.ids the hwdb names everything it knows', () => {
    const n = new PciNames([new FsHost(makeTree({ [HWDB]: SMALL }))]);
    expect(n.name('10de', '2204')).toBe('NVIDIA Corporation GA102 [GeForce RTX 3090] (hwdb)');
  });

  it('is not read at all while pci.ids knows every name', () => {
    const { host, reads } = counted({ 'usr/share/misc/pci.ids': OLD_IDS, [HWDB]: SMALL });
    new PciNames([host]).name('10de', '2204');
    expect(reads).toEqual([]);
  });

  it('a large hwdb is searched, not read: only the bytes near the vendor asked for, and entries across read edges are found', () => {
    const entries: [string, string][] = [];
    for (let v = 0x1000; v < 0x1400; v++) {
      const V = v.toString(16).toUpperCase();
      entries.push([`pci:v0000${V}*`, `ID_VENDOR_FROM_DATABASE=Vendor ${V}`]);
      for (let d = 0; d < 24; d++) entries.push([`pci:v0000${V}d0000${(d * 0x111).toString(16).toUpperCase().padStart(4, '0')}*`, `ID_MODEL_FROM_DATABASE=Part ${V}-${d}`]);
    }
    const text = hwdbText(entries);
    expect(text.length).toBeGreaterThan(1024 * 1024);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const { host, reads } = counted({ [HWDB]: text });
    const n = new PciNames([host]);
    expect(n.name('13f0', '0000')).toBe('Vendor 13F0 Part 13F0-0');
    expect(sum(reads)).toBeLessThan(200 * 1024);
    // Every entry, wherever the reads start and end, as a search of the whole text finds it.
    for (let v = 0x1000; v < 0x1400; v += 37) {
      const V = v.toString(16);
      expect(n.device(V, '1776')).toBe(`Part ${V.toUpperCase()}-22`);
      expect(n.device(V, '0000')).toBe(`Part ${V.toUpperCase()}-0`);
    }
    // A device its vendor's entries lack, and a vendor past the last: a few small reads each.
    for (const [v, d] of [['1002', 'ffff'], ['ffff', '0001'], ['0001', '0001']]) {
      const fresh = counted({ [HWDB]: text });
      expect(new PciNames([fresh.host]).device(v!, d!)).toBe(`Device ${d}`);
      expect(sum(fresh.reads)).toBeLessThan(200 * 1024);
    }
  });
});
