// Profiles against fixture machines: selectors, mdev types, the drift check, --offline.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, machine } from '../helpers/sim.js';
import { gpuvirt, PROFILES } from '../generate/run.js';
import { FsHost } from '../../src/host/fs-host.js';
import { loadProfileText } from '../../src/profiles/load.js';
import { displayHostProblems, readDisplayFacts } from '../../src/profiles/host-display.js';

const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-host-'));
function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}
const head = 'apiVersion: gpuvirt/v1\nname: t\nmemory: 4GiB\ncpu: { cores: 2 }\n';

/** Intel GVT-g as i915 shows it: the iGPU becomes an mdev parent with its types (vfio-mediated-device.rst). */
function withGvtTypes(root: string, parent: string, types: string[]): void {
  for (const t of types) {
    const d = join(root, 'sys/class/mdev_bus', parent, 'mdev_supported_types', t);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'available_instances'), '2\n');
    writeFileSync(join(d, 'device_api'), 'vfio-pci\n');
    writeFileSync(join(d, 'name'), `${t}\n`);
  }
}

describe('selectors against a host', () => {
  it('two identical cards: ids alone are ambiguous, index picks one', async () => {
    const f = file('twin.yaml', `${head}devices:\n  - type: gpu\n    select: { id: 10de:2684 }\n`);
    const r = await gpuvirt(['profile', 'validate', f, '--host', '--root', FIXTURES + 'two-identical-gpus', '--json']);
    expect(r.code).toBe(2);
    expect(r.doc.data.files[0].problems[0]).toMatchObject({ line: 7, path: 'devices[0].select',
      message: '2 devices match id 10de:2684 (0000:01:00.0, 0000:02:00.0): add index: 0 to 1, or give the address' });
    const b = await gpuvirt(['generate', `${PROFILES}twin-gpu-b.yaml`, '--target', 'qemu', '--root', FIXTURES + 'two-identical-gpus', '--json']);
    expect(b.doc.data.devices).toEqual([{ index: 0, kind: 'gpu', addresses: ['0000:02:00.0', '0000:02:00.1'], uuid: null }]);
  });

  it('a device that is not there, and a VF count over sriov_totalvfs', async () => {
    const f = file('gone.yaml', `${head}devices:\n  - { type: gpu, select: { address: 0000:05:00.0 } }\n  - { type: vf, pf: { address: 41:00.0 }, vf: 0, vfCount: 9 }\n`);
    const r = await gpuvirt(['profile', 'validate', f, '--host', '--root', FIXTURES + 'server-mxgpu-sriov', '--json']);
    expect(r.doc.data.files[0].problems.map((p: { line: number; message: string }) => [p.line, p.message])).toEqual([
      [6, 'no PCI device 0000:05:00.0 on this host'],
      [7, '0000:41:00.0 offers at most 8 VFs'],
      [7, '0000:41:00.0 (1002:74a1) runs 1 or 8 VFs, one per partition mode, not 9'],
    ]);
  });

  it('mdev: a type the parent does not offer is an error at mdevType, naming what it offers', async () => {
    const m = machine('intel-desktop-nvidia');
    withGvtTypes(m.root, '0000:00:02.0', ['i915-GVTg_V5_4', 'i915-GVTg_V5_8']);
    const f = file('gvt.yaml', `${head}devices:\n  - type: mdev\n    parent: { address: 00:02.0 }\n    mdevType: i915-GVTg_V5_1\n`);
    const r = await gpuvirt(['profile', 'validate', f, '--host', '--root', m.root, '--json']);
    expect(r.code).toBe(2);
    expect(r.doc.data.files[0].problems).toEqual([expect.objectContaining({ line: 8, col: 15, path: 'devices[0].mdevType',
      message: '0000:00:02.0 has no mdev type i915-GVTg_V5_1; it offers i915-GVTg_V5_4, i915-GVTg_V5_8' })]);
    const ok = file('gvt-ok.yaml', `${head}devices:\n  - type: mdev\n    parent: { address: 00:02.0 }\n    mdevType: i915-GVTg_V5_4\n`);
    expect((await gpuvirt(['profile', 'validate', ok, '--host', '--root', m.root])).code).toBe(0);
    const none = await gpuvirt(['profile', 'validate', ok, '--host', '--root', FIXTURES + 'intel-desktop-nvidia', '--json']);
    expect(none.doc.data.files[0].problems[0].message).toContain('offers no mediated devices');
  });

  it('--offline needs addresses, and the functions for QEMU and libvirt', async () => {
    const f = file('off.yaml', `${head}devices:\n  - type: gpu\n    select: { id: 10de:2204 }\n  - type: gpu\n    select: { address: 03:00.0 }\n`);
    const r = await gpuvirt(['generate', f, '--target', 'libvirt', '--offline', '--json']);
    expect(r.code).toBe(2);
    expect(r.doc.data.profile.problems.map((p: { line: number; message: string }) => [p.line, p.message.split(':')[0]])).toEqual([
      [7, 'with --offline, give select.address'],
      [8, 'with --offline, list the functions to pass (e.g. [0, 1])'],
    ]);
  });
});

describe('profile check (drift)', () => {
  it('passes on the machine the profile was written for', async () => {
    const r = await gpuvirt(['profile', 'check', `${PROFILES}nvidia-gaming.yaml`, '--root', FIXTURES + 'intel-desktop-nvidia', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.data.matches).toBe(true);
    expect(r.doc.data.checks.filter((c: { status: string }) => c.status === 'fail')).toEqual([]);
    expect(r.doc.data.checks.find((c: { id: string }) => c.id === 'driver').status).toBe('warn');
  });

  it('fails when the card, its subsystem or its group changed, and says which', async () => {
    const r = await gpuvirt(['profile', 'check', `${PROFILES}nvidia-gaming.yaml`, '--root', FIXTURES + 'two-identical-gpus', '--json']);
    expect(r.code).toBe(1);
    const failed = r.doc.data.checks.filter((c: { status: string }) => c.status === 'fail').map((c: { id: string }) => c.id);
    expect(failed).toEqual(['ids', 'subsystem', 'group']);
  });

  it('a shared IOMMU group fails the isolation check', async () => {
    const f = file('shared.yaml', `${head}devices:\n  - { type: gpu, select: { address: 0000:01:00.0 } }\n`);
    const r = await gpuvirt(['profile', 'check', f, '--root', FIXTURES + 'shared-with-boot-disk']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}isolation {2}shares IOMMU group \d+ with 0000:02:00.0/);
  });
});

describe('profile validate --host: a paravirtual 3D display', () => {
  const virgl = 'apiVersion: gpuvirt/v1\nname: v\nmemory: 2GiB\ncpu: { cores: 1 }\ndisplay: { fallback: virgl }\n';
  it('says when the host has no render node or virglrenderer, and not when it has both', async () => {
    const profile = (await loadProfileText(virgl)).profile!;
    expect(displayHostProblems(profile, [], { renderNodes: [], virglrenderer: false }).map((p) => p.message)).toEqual([
      'virgl needs a GPU render node on this host (/dev/dri/renderD*), and there is none',
      'virgl needs virglrenderer on this host (Debian: apt-get install libvirglrenderer1)',
    ]);
    expect(displayHostProblems(profile, [], { renderNodes: ['/dev/dri/renderD128'], virglrenderer: true })).toEqual([]);
  });
  it('reads both through the Host at its root', () => {
    const root = mkdtempSync(join(tmpdir(), 'gpuvirt-dri-'));
    mkdirSync(join(root, 'dev/dri'), { recursive: true });
    writeFileSync(join(root, 'dev/dri/renderD128'), '');
    mkdirSync(join(root, 'usr/lib64'), { recursive: true });
    writeFileSync(join(root, 'usr/lib64/libvirglrenderer.so.1'), '');
    expect(readDisplayFacts(new FsHost(root))).toEqual({ renderNodes: ['/dev/dri/renderD128'], virglrenderer: true });
  });
});

describe('the boot GPU as the VM\'s screen', () => {
  it('warns that the ROM the kernel offers was run already, unless rom.file is given', async () => {
    const profile = (rom: string) => file(`boot${rom ? '-rom' : ''}.yaml`, `${head}devices:\n  - { type: gpu, select: { address: 0000:01:00.0 }, primary: true${rom} }\n`);
    const warnings = async (f: string) => {
      const r = await gpuvirt(['profile', 'validate', f, '--host', '--json', '--root', FIXTURES + 'two-identical-gpus']);
      return r.doc.data.files[0].problems.filter((p: { path: string }) => p.path === 'devices[0].rom').map((p: { message: string }) => p.message);
    };
    expect(await warnings(profile(''))).toEqual([expect.stringContaining('0000:01:00.0 is the boot GPU: its ROM as the kernel offers it is the copy the host firmware already ran')]);
    expect(await warnings(profile(', rom: { file: /var/lib/gpuvirt/rom/4090.rom }'))).toEqual([]);
    // The other card, not the boot display: nothing to say.
    const other = file('other.yaml', `${head}devices:\n  - { type: gpu, select: { address: 0000:02:00.0 }, primary: true }\n`);
    expect(await warnings(other)).toEqual([]);
  });
});
