// profile validate: every problem at once, each at its line and column with the line shown.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProfileText } from '../../src/profiles/load.js';
import { gpuvirt, PROFILES } from '../generate/run.js';

const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-profiles-'));
function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const BROKEN = `apiVersion: gpuvirt/v1
name: broken
machine: i440fx
memory: 16GB
cpu:
  cores: 8
  treads: 2
devices:
  - type: gpu
    select: { address: 01:00.0, index: 1 }
    pcie: true
  - type: gpu
    select: { address: 02:00.0 }
    firmwre: bios
  - type: vf
    pf: { id: 1002:74a1 }
    vf: 9
    vfCount: 4
  - type: gpo
targets:
  proxmox: { node: pve1 }
`;

describe('profile validate', () => {
  it('every example profile is valid', async () => {
    const files = ['nvidia-gaming', 'amd-mxgpu-vdi', 'intel-gvtg', 'twin-gpu-a', 'twin-gpu-b', 'headless-compute'].map((p) => `${PROFILES}${p}.yaml`);
    const r = await gpuvirt(['profile', 'validate', ...files, '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.data.files.map((f: { valid: boolean }) => f.valid)).toEqual(files.map(() => true));
  });

  it('reports every problem of a broken profile, with lines, and exits 2', async () => {
    const f = file('broken.yaml', BROKEN);
    const r = await gpuvirt(['profile', 'validate', f]);
    expect(r.code).toBe(2);
    const heads = r.stdout.split('\n').filter((l) => l.startsWith(f)).map((l) => l.slice(f.length + 1));
    expect(heads).toEqual([
      '4:9: error: a size such as 16GiB or 4096MiB, or a number of MiB',
      '7:3: error: unknown key "treads" (did you mean "threads"?)',
      '10:40: error: index picks among several matches; an address names exactly one device',
      '11:11: error: pcie: true needs machine q35: the i440fx machine has no PCI Express bus',
      '14:5: error: unknown key "firmwre" (allowed here: type, select, functions, primary, xVga, pcie, rom)',
      '17:9: error: VF 9 does not exist with vfCount 4 (VFs are numbered from 0)',
      '19:11: error: type must be gpu, vf or mdev, not the text "gpo"',
      '21:12: error: missing key "vmid" (number required)',
      ' invalid: 8 errors',
    ]);
    // the offending line is shown under each, with a caret under the spot
    expect(r.stdout).toContain('   7 |   treads: 2\n     |   ^^^^^^\n');
  });

  it('--json: one document with every problem', async () => {
    const r = await gpuvirt(['profile', 'validate', file('broken2.yaml', BROKEN), '--json']);
    expect(r.code).toBe(2);
    expect(r.doc).toMatchObject({ schemaVersion: 1, command: 'profile validate', ok: false });
    const f = r.doc.data.files[0];
    expect(f).toMatchObject({ valid: false, errors: 8, warnings: 0 });
    expect(f.problems[1]).toEqual({ severity: 'error', line: 7, col: 3, endLine: 7, endCol: 9, path: 'cpu.treads', message: 'unknown key "treads" (did you mean "threads"?)' });
    expect(f).not.toHaveProperty('source');
  });

  it('reports broken YAML syntax the same way', async () => {
    const f = file('syntax.yaml', 'apiVersion: gpuvirt/v1\nname: [unclosed\nmemory: 4GiB\n');
    const r = await gpuvirt(['profile', 'validate', f, '--json']);
    expect(r.code).toBe(2);
    const p = r.doc.data.files[0].problems;
    expect(p.length).toBeGreaterThan(0);
    expect(p[0]).toMatchObject({ severity: 'error', line: expect.any(Number), col: expect.any(Number) });
    expect(p[0].message).toMatch(/^YAML: /);
  });

  it('Secure Boot with BIOS, two primary displays, pinning of the wrong length (x-vga with UEFI is fine)', async () => {
    const r = await loadProfileText(`apiVersion: gpuvirt/v1
name: x
memory: 4GiB
cpu: { cores: 2, pinning: [1, 2, 3] }
firmware: bios
secureBoot: true
devices:
  - { type: gpu, select: { address: 01:00.0 }, primary: true, xVga: true }
  - { type: gpu, select: { address: 02:00.0 }, primary: true }
`);
    expect(r.profile).toBeNull();
    expect(r.problems.map((p) => [p.line, p.message.split(':')[0]])).toEqual([
      [4, '3 host CPUs for 2 vCPUs (sockets × cores × threads)'],
      [6, 'Secure Boot needs firmware'],
      [9, 'only one device can be the primary display (devices[0] already is)'],
    ]);
    const uefi = await loadProfileText('apiVersion: gpuvirt/v1\nname: x\nmemory: 4GiB\ncpu: { cores: 2 }\ndevices:\n  - { type: gpu, select: { address: 01:00.0 }, primary: true, xVga: true }\n');
    expect(uefi.problems).toEqual([]);
  });

  it('a file that is not a mapping, and a missing file', async () => {
    expect((await loadProfileText('- just\n- a list\n')).problems[0]).toMatchObject({ line: 1, col: 1, message: expect.stringContaining('a profile is a mapping') });
    const r = await gpuvirt(['profile', 'validate', join(dir, 'nope.yaml'), '--json']);
    expect(r.code).toBe(2);
    expect(r.doc.error.message).toContain('no such profile file');
  });
});

describe('profile schema', () => {
  it('prints a JSON Schema describing apiVersion, devices and targets', async () => {
    const r = await gpuvirt(['profile', 'schema']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout);
    expect(schema.$schema).toContain('2020-12');
    expect(schema.properties.apiVersion.const).toBe('gpuvirt/v1');
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['name', 'machine', 'firmware', 'memory', 'cpu', 'hugepages', 'display', 'devices', 'targets']));
    expect(JSON.stringify(schema.properties.devices)).toContain('"mdevType"');
  });
});

describe('a mapping or a list as a key', () => {
  it('is one error at the key, for a profile and a host configuration, and nothing on stderr', async () => {
    const { vi } = await import('vitest');
    const { loadHostConfigText } = await import('../../src/hostconfig/load.js');
    const warn = vi.spyOn(process, 'emitWarning');
    try {
      const r = await loadProfileText('apiVersion: gpuvirt/v1\nname: x\nmemory: 4GiB\ncpu: { cores: 1 }\n? {a: 1}\n: x\n? [b]\n: y\n');
      expect(r.profile).toBeNull();
      expect(r.problems.map((p) => [p.line, p.col, p.message])).toEqual([
        [5, 3, 'YAML: a key must be text, not a mapping or a list'], [7, 3, 'YAML: a key must be text, not a mapping or a list'],
      ]);
      const h = loadHostConfigText('apiVersion: gpuvirt/v1\nkind: HostConfig\nconfigs:\n  a:\n    devices: []\n    ? {c: 1}\n    : x\n');
      expect(h.file).toBeNull();
      expect(h.problems.map((p) => [p.line, p.col, p.message])).toEqual([[6, 7, 'YAML: a key must be text, not a mapping or a list']]);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });
});
