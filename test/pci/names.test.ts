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
  });

  it('decodes a name as UTF-8, and reads the same through a host without readBytes', () => {
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
});
