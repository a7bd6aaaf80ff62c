import { describe, expect, it } from 'vitest';
import { PciNames } from '../../src/pci/names.js';
import { FsHost } from '../../src/host/fs-host.js';
import type { Host } from '../../src/host/host.js';
import { makeTree } from '../helpers/tree.js';

const IDS = [
  '# pci.ids sample',
  '1002  Advanced Micro Devices, Inc. [AMD/ATI]',
  '\t74a1  Aqua Vanjaram [Instinct MI300X]',
  '10de  NVIDIA Corporation',
  '\t1aef  GA102 High Definition Audio Controller',
  '\t2204  GA102 [GeForce RTX 3090]',
  '\t\t1043 87d5  ROG Strix',
  '\t2684  AD102 [GeForce RTX 4090]',
  '8086  Intel Corporation',
  '',
  'C 03  Display controller',
  '\t00  VGA compatible controller',
  '\t\t00  VGA controller',
  '\t02  3D controller',
  'C 04  Multimedia controller',
  '\t03  Audio device',
  '',
].join('\n');

describe('PciNames', () => {
  const names = () => new PciNames([new FsHost(makeTree({ 'usr/share/misc/pci.ids': IDS }))]);

  it('looks up vendor, device and class names as lspci prints them', () => {
    const n = names();
    expect(n.name('10de', '2204')).toBe('NVIDIA Corporation GA102 [GeForce RTX 3090]');
    expect(n.name('1002', '74a1')).toBe('Advanced Micro Devices, Inc. [AMD/ATI] Aqua Vanjaram [Instinct MI300X]');
    expect(n.className('030000')).toBe('VGA compatible controller');
    expect(n.className('030200')).toBe('3D controller');
    expect(n.className('040300')).toBe('Audio device');
  });

  it('does not take a device of another vendor or a subsystem line', () => {
    const n = names();
    expect(n.device('8086', '2204')).toBe('Device 2204');
    expect(n.device('10de', '1043')).toBe('Device 1043');
    expect(n.device('1002', '2204')).toBe('Device 2204');
    expect(n.name('10de', '2684')).toBe('NVIDIA Corporation AD102 [GeForce RTX 4090]');
  });

  it('decodes a name as UTF-8, and reads the same through a host without readChunk', () => {
    const root = makeTree({ 'usr/share/misc/pci.ids': IDS.replace('8086  ', '1a2b  Société Générale\n\t0001  Gerät – Ünit\n8086  ') });
    const bytes = new FsHost(root);
    const textOnly = { readText: (p: string) => bytes.readText(p) } as Partial<Host> as Host;
    for (const host of [bytes, textOnly]) {
      const n = new PciNames([host]);
      expect(n.name('1a2b', '0001')).toBe('Société Générale Gerät – Ünit');
      expect(n.name('10de', '2684')).toBe('NVIDIA Corporation AD102 [GeForce RTX 4090]');
    }
  });

  it('falls back to readable names without pci.ids', () => {
    const n = new PciNames([new FsHost(makeTree({ 'etc/hostname': 'x' }))]);
    expect(n.name('10de', '2204')).toBe('NVIDIA Corporation Device 2204');
    expect(n.name('abcd', '0001')).toBe('Vendor abcd Device 0001');
    expect(n.className('038000')).toBe('Display controller');
  });

  it('reads a large pci.ids in pieces and finds what lies across their edges, as reading it whole does', () => {
    // Vendors 0000..; each with devices and subsystem lines, the class section at the end; the
    // line of vendor 1b1b is placed across a 256 kB read boundary.
    const lines = ['# big pci.ids'];
    let size = lines[0]!.length + 1;
    const add = (l: string) => {
      lines.push(l);
      size += l.length + 1;
    };
    for (let v = 0; v < 0x0700; v++) {
      const id = v.toString(16).padStart(4, '0');
      add(`${id}  Vendor Nr ${v}`);
      for (let d = 0; d < 4; d++) add(`\t${(d * 0x1111).toString(16).padStart(4, '0')}  Part ${v}-${d}`);
      add(`\t\t1234 5678  Board ${v}`);
    }
    // The `\n` before `1b1b` 3 bytes short of 256 kB, where the first read ends: the needle spans two reads.
    const chunk = 256 * 1024;
    const boundary = Math.ceil((size + 40) / chunk) * chunk;
    add(`#${'-'.repeat(boundary - 2 - size - 2)}`);
    expect(size).toBe(boundary - 2);
    expect(boundary).toBe(chunk);
    add('1b1b  Straddling Ltd');
    add('\t0001  Thing Across');
    for (let i = 0; i < 40000; i++) add(`\t${(0x1000 + i).toString(16)}  Long block ${i}`);
    add('ffff  Last Vendor');
    add('\t0002  Last Device');
    add('C 03  Display controller');
    add('\t02  3D controller');
    const text = `${lines.join('\n')}\n`;
    expect(text.length).toBeGreaterThan(1024 * 1024);
    const root = makeTree({ 'usr/share/misc/pci.ids': text });
    const chunked = new FsHost(root);
    const whole = { readText: (p: string) => chunked.readText(p) } as Partial<Host> as Host;
    const ask = (n: PciNames) => [
      n.name('1b1b', '0001'), n.name('1b1b', '1a00'), n.device('1b1b', 'ffff'), n.name('0400', '3333'), n.name('0000', '0000'),
      n.name('ffff', '0002'), n.device('ffff', '1000'), n.name('06ff', '2222'), n.className('030200'), n.name('1b1c', '0001'),
    ];
    const got = ask(new PciNames([chunked]));
    expect(got).toEqual(ask(new PciNames([whole])));
    // A device its vendor lacks, that vendor's block ending within the first read: nothing more is read.
    let reads = 0;
    const counting = { readText: () => null, readChunk: (p: string, at: number, n: number) => (reads++, chunked.readChunk(p, at, n)) } as Partial<Host> as Host;
    expect(new PciNames([counting]).name('0400', '1a00')).toBe('Vendor Nr 1024 Device 1a00');
    expect(reads).toBe(1);
    // Asked the other way round (far in a block first, then near, then another vendor's), the same.
    const reversed = new PciNames([chunked]);
    expect([reversed.device('1b1b', '1a00'), reversed.device('1b1b', '0001'), reversed.device('06ff', '1a00')]).toEqual(['Long block 2560', 'Thing Across', 'Device 1a00']);
    expect(got).toEqual([
      'Straddling Ltd Thing Across', 'Straddling Ltd Long block 2560', 'Device ffff', 'Vendor Nr 1024 Part 1024-3', 'Vendor Nr 0 Part 0-0',
      'Last Vendor Last Device', 'Device 1000', 'Vendor Nr 1791 Part 1791-2', '3D controller', 'Vendor 1b1c Device 0001',
    ]);
  });

  it('a pci.ids that cannot be read past its first piece still names what that piece holds', () => {
    const text = `${IDS}${'# filler\n'.repeat(40000)}abcd  Far Away Inc\n`;
    const root = makeTree({ 'usr/share/misc/pci.ids': text });
    const fs = new FsHost(root);
    let reads = 0;
    const failing = {
      readText: (p: string) => fs.readText(p),
      readChunk: (p: string, at: number, n: number) => {
        if (reads++ > 0) throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
        return fs.readChunk(p, at, n);
      },
    } as Partial<Host> as Host;
    const n = new PciNames([failing]);
    expect(n.name('10de', '2204')).toBe('NVIDIA Corporation GA102 [GeForce RTX 3090]');
    expect(n.name('abcd', '0001')).toBe('Vendor abcd Device 0001');
    expect(reads).toBe(2);
    expect(new PciNames([fs]).vendor('abcd')).toBe('Far Away Inc');
  });
});

