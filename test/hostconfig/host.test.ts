// host diff, assert, apply and export on simulated machines: apply then assert passes, a host
// changed behind gpuvirt's back fails assert with the right diff, a second apply changes nothing.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { paths } from '../../src/host/paths.js';
import { loadHostConfigText } from '../../src/hostconfig/load.js';
import { machine } from '../helpers/sim.js';
import { configFile } from './files.js';

const OK = { exitCode: 0, stdout: '', stderr: '' };
const HEAD = 'apiVersion: gpuvirt/v1\nkind: HostConfig\nconfigs:\n';

/** Passthrough of an NVIDIA GPU by ids, on a desktop. */
const DESKTOP = configFile(`${HEAD}  gaming:
    devices:
      - select: { id: "10de:2204" }
        driver: vfio-pci
  compute:
    devices:
      - select: { all: true, name: "*GeForce*" }
        driver: pci-stub
`);

/** SR-IOV VFs for VMs and a whole GPU, on a server. */
const SERVER = configFile(`${HEAD}  vdi:
    devices:
      - select: { address: "0000:c1:00.0" }
        sriov: { vfs: 2, vfDriver: vfio-pci }
      - select: { address: "0000:81:00.0" }
        driver: vfio-pci
  plain:
    devices:
      - select: { address: "0000:c1:00.0" }
        sriov: { vfs: 0 }
`);

/** The boot configuration: the IOMMU parameter and vfio at boot, on a GRUB host with VT-d off. */
const BOOT = configFile(`${HEAD}  iommu:
    host: { iommu: true, vfioModules: true }
`);

const run = (m: ReturnType<typeof machine>, cmd: string, file: string, config: string, ...more: string[]) => m.run(['host', cmd, '-f', file, '-c', config, ...more, '--json']);

describe('host diff and assert', () => {
  it('show per-device differences in Ansible\'s fields; assert exits 1, diff 0; nothing is written', async () => {
    const m = machine('intel-desktop-nvidia');
    const a = await run(m, 'assert', DESKTOP, 'gaming');
    expect(a.code).toBe(1);
    expect(a.doc.data).toMatchObject({
      changed: false, failed: true, reboot_required: false,
      msg: 'the host does not match config gaming: 1 difference(s)',
      diff: { before: { devices: { '0000:01:00.0': { driver: 'nvidia' } } }, after: { devices: { '0000:01:00.0': { driver: 'vfio-pci' } } } },
      differences: [{ subject: '0000:01:00.0', field: 'driver', before: 'nvidia', after: 'vfio-pci' }],
    });
    const d = await run(m, 'diff', DESKTOP, 'gaming');
    expect(d.code).toBe(0);
    expect(d.doc.data).toMatchObject({ changed: true, failed: false, diff: a.doc.data.diff });
    const text = await m.run(['host', 'diff', '-f', DESKTOP, '-c', 'gaming']);
    expect(text.stdout).toContain('@@ 0000:01:00.0 NVIDIA Corporation GA102 [GeForce RTX 3090] @@\n-driver: nvidia\n+driver: vfio-pci\n');
    expect(m.host.writes).toEqual([]);
  });

  it('a name glob with all selects the GPU; a selector that names nothing fails, saying which', async () => {
    const m = machine('intel-desktop-nvidia');
    const c = await run(m, 'diff', DESKTOP, 'compute');
    expect(Object.keys(c.doc.data.diff.after.devices)).toEqual(['0000:01:00.0']);
    const none = configFile(`${HEAD}  x:\n    devices:\n      - select: { id: "1002:74a1" }\n        driver: vfio-pci\n`);
    const r = await run(m, 'assert', none, 'x');
    expect(r.code).toBe(1);
    expect(r.doc.data.problems).toEqual(['devices[0]: no device on this host matches id 1002:74a1']);
    const sriov = configFile(`${HEAD}  x:\n    devices:\n      - select: { address: "0000:01:00.0" }\n        sriov: { vfs: 2 }\n`);
    expect((await run(m, 'diff', sriov, 'x')).doc.data).toMatchObject({ failed: true, problems: [expect.stringContaining('0000:01:00.0 (NVIDIA Corporation GA102 [GeForce RTX 3090]) cannot make SR-IOV VFs')] });
  });
});

describe('selectors', () => {
  const selected = async (select: string) => {
    const m = machine('two-identical-gpus');
    const r = await run(m, 'diff', configFile(`${HEAD}  x:\n    devices:\n      - select: ${select}\n        driver: vfio-pci\n`), 'x');
    return { devices: Object.keys(r.doc.data.diff.after.devices ?? {}), problems: r.doc.data.problems };
  };

  it('ids take every match, index one of them in address order; the subsystem ids must match too', async () => {
    expect(await selected('{ id: "10de:2684" }')).toEqual({ devices: ['0000:01:00.0', '0000:02:00.0'], problems: [] });
    expect(await selected('{ id: "10de:2684", index: 1 }')).toEqual({ devices: ['0000:02:00.0'], problems: [] });
    expect(await selected('{ id: "10de:2684:10de:167c", index: 0 }')).toEqual({ devices: ['0000:01:00.0'], problems: [] });
    expect(await selected('{ id: "10de:2684:1043:87b3" }')).toEqual({ devices: [], problems: ['devices[0]: no device on this host matches id 10de:2684:1043:87b3'] });
    expect(await selected('{ id: "10de:2684", index: 2 }')).toEqual({ devices: [], problems: ['devices[0]: no device on this host matches id 10de:2684, index 2'] });
  });

  it('a name glob over the pci.ids name; all takes GPUs only, not their audio functions', async () => {
    expect((await selected('{ name: "*High Definition Audio*" }')).devices).toEqual(['0000:01:00.1', '0000:02:00.1']);
    expect((await selected('{ name: "*RTX 4090*", index: 1 }')).devices).toEqual(['0000:02:00.0']);
    expect((await selected('{ all: true }')).devices).toEqual(['0000:01:00.0', '0000:02:00.0']);
  });

  it('two entries that want one device differently are a problem, naming both', async () => {
    const m = machine('two-identical-gpus');
    const f = configFile(`${HEAD}  x:\n    devices:\n      - select: { all: true }\n        driver: vfio-pci\n      - select: { address: "0000:02:00.0" }\n        driver: pci-stub\n`);
    expect((await run(m, 'assert', f, 'x')).doc.data.problems).toEqual(['devices[1]: 0000:02:00.0 is also selected by devices[0], which wants something else']);
  });
});

describe('host apply', () => {
  it('passthrough: apply, then assert passes; a second apply is no change; a host changed since fails assert with the diff', async () => {
    const m = machine('intel-desktop-nvidia');
    const dry = await run(m, 'apply', DESKTOP, 'gaming', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.doc.data.steps.map((s: { title: string }) => s.title)).toContain('let only vfio-pci take 0000:01:00.0');
    expect(m.host.writes).toEqual([]);
    const r = await run(m, 'apply', DESKTOP, 'gaming', '--yes');
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data).toMatchObject({ changed: true, failed: false, reboot_required: false, msg: expect.stringMatching(/^applied config gaming: \d+ step\(s\)$/) });
    // the GPU's HDMI audio goes with it: the whole slot, as `gpuvirt passthrough`
    expect(Object.values(m.drivers(['0000:01:00.0', '0000:01:00.1'])).map((d) => d.driver)).toEqual(['vfio-pci', 'vfio-pci']);
    expect((await run(m, 'assert', DESKTOP, 'gaming')).code).toBe(0);
    const again = await run(m, 'apply', DESKTOP, 'gaming', '--yes');
    expect(again.code).toBe(0);
    expect(again.doc.data).toMatchObject({ changed: false, failed: false, noop: true, msg: 'the host already matches config gaming' });
    // someone gives the GPU back to the host
    expect((await m.run(['release', '01:00.0', '--yes'])).code).toBe(0);
    const drift = await run(m, 'assert', DESKTOP, 'gaming');
    expect(drift.code).toBe(1);
    expect(drift.doc.data.differences).toEqual([{ subject: '0000:01:00.0', name: 'NVIDIA Corporation GA102 [GeForce RTX 3090]', field: 'driver', before: 'nvidia', after: 'vfio-pci' }]);
  });

  it('SR-IOV then bindings in one change: VFs created and on vfio-pci, the GPU on vfio-pci; back to 0 VFs with another config', async () => {
    const m = machine('server-mxgpu-sriov');
    const plan = (await run(m, 'apply', SERVER, 'vdi', '--dry-run')).doc.data.steps.map((s: { title: string }) => s.title);
    expect(plan.indexOf('enable 2 VFs on 0000:c1:00.0')).toBeLessThan(plan.indexOf('let only vfio-pci take 0000:81:00.0'));
    const r = await run(m, 'apply', SERVER, 'vdi', '--yes');
    expect(r.code, r.stdout).toBe(0);
    expect(m.host.readText(paths.pciAttr('0000:c1:00.0', 'sriov_numvfs'))?.trim()).toBe('2');
    expect(Object.values(m.drivers(['0000:c1:01.0', '0000:c1:01.1', '0000:81:00.0'])).map((d) => d.driver)).toEqual(['vfio-pci', 'vfio-pci', 'vfio-pci']);
    expect((await run(m, 'assert', SERVER, 'vdi')).code).toBe(0);
    expect((await run(m, 'apply', SERVER, 'vdi', '--yes')).doc.data.changed).toBe(false);
    // a VF taken back by a host driver is found and re-bound alone
    m.host.writeAttr(paths.pciAttr('0000:c1:01.1', 'driver_override'), '\n');
    m.host.writeAttr(`${paths.pciDriver('vfio-pci')}/unbind`, '0000:c1:01.1');
    const drift = await run(m, 'assert', SERVER, 'vdi');
    expect(drift.code).toBe(1);
    expect(drift.doc.data.differences).toMatchObject([{ subject: '0000:c1:00.0', field: 'vfDriver', after: 'vfio-pci' }]);
    expect((await run(m, 'apply', SERVER, 'vdi', '--yes')).doc.data.changed).toBe(true);
    expect((await run(m, 'assert', SERVER, 'vdi')).code).toBe(0);
    const off = await run(m, 'apply', SERVER, 'plain', '--yes');
    expect(off.code, off.stdout).toBe(0);
    expect(m.host.readText(paths.pciAttr('0000:c1:00.0', 'sriov_numvfs'))?.trim()).toBe('0');
    expect((await run(m, 'assert', SERVER, 'plain')).code).toBe(0);
  });

  it('boot configuration: apply edits GRUB and says a reboot is needed, never reboots; assert fails until the reboot', async () => {
    const m = machine('iommu-off-cmdline', { 'update-grub': OK });
    const before = await run(m, 'diff', BOOT, 'iommu');
    expect(before.doc.data.diff).toEqual({
      before: { host: { kernelParams: [], vfioModules: false }, devices: {} },
      after: { host: { kernelParams: ['intel_iommu=on'], vfioModules: true }, devices: {} },
    });
    const r = await run(m, 'apply', BOOT, 'iommu', '--yes');
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data).toMatchObject({ changed: true, reboot_required: true, msg: expect.stringContaining('reboot required') });
    expect(m.host.readText('/etc/default/grub')).toContain('GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"');
    expect(m.testExec.calls).toEqual([['update-grub']]);
    const again = await run(m, 'apply', BOOT, 'iommu', '--yes');
    expect(again.doc.data).toMatchObject({ changed: false, reboot_required: true });
    const a = await run(m, 'assert', BOOT, 'iommu');
    expect(a.code).toBe(1);
    expect(a.doc.data).toMatchObject({ differences: [], reboot_required: true, msg: expect.stringContaining('a reboot is required') });
    // the reboot: the running command line is the configured one
    writeFileSync(join(m.root, 'proc/cmdline'), `${readFileSync(join(m.root, 'proc/cmdline'), 'utf8').trim()} intel_iommu=on\n`);
    expect((await run(m, 'assert', BOOT, 'iommu')).doc.data.reboot_required).toBe(false);
  });

  it('iommu: true on a host whose firmware has the IOMMU off is a problem that no apply can fix', async () => {
    const m = machine('iommu-off-firmware');
    const a = await run(m, 'assert', BOOT, 'iommu');
    expect(a.code).toBe(1);
    expect(a.doc.data.problems).toEqual([expect.stringContaining('the IOMMU is off and no kernel parameter turns it on: enable VT-d / AMD-Vi')]);
    const r = await run(m, 'apply', BOOT, 'iommu', '--yes');
    expect(r.code).toBe(7);
    expect(m.host.writes).toEqual([]);
  });

  it('refuses what cannot be applied here, changing nothing (exit 7)', async () => {
    const m = machine('intel-desktop-nvidia');
    const none = configFile(`${HEAD}  x:\n    devices:\n      - select: { address: "0000:09:00.0" }\n        driver: vfio-pci\n`);
    const r = await run(m, 'apply', none, 'x', '--yes');
    expect(r.code).toBe(7);
    expect(r.doc.data).toMatchObject({ changed: false, failed: true, msg: 'refused: devices[0]: no device on this host matches address "0000:09:00.0"' });
    expect(m.host.writes).toEqual([]);
  });
});

describe('host export', () => {
  it('names a VF passed through on its own by address, after its PF\'s count', async () => {
    const m = machine('server-mxgpu-sriov');
    expect((await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--yes'])).code).toBe(0);
    expect((await m.run(['passthrough', '0000:c1:01.1', '--yes'])).code).toBe(0);
    const r = await m.run(['host', 'export', '-c', 'vf']);
    expect(r.stdout).toContain('      - select: { address: "0000:c1:00.0" }\n        sriov: { vfs: 2 }\n      - select: { address: "0000:c1:01.1" }   # VF of 0000:c1:00.0\n        driver: vfio-pci\n');
    expect(r.stdout).not.toContain('"0000:c1:01.0"');
    const f = configFile(r.stdout);
    expect((await run(m, 'assert', f, 'vf')).code).toBe(0);
    expect((await m.run(['release', '0000:c1:01.1', '--yes'])).code).toBe(0);
    const drift = await run(m, 'assert', f, 'vf');
    expect(drift.doc.data.differences).toMatchObject([{ subject: '0000:c1:01.1', field: 'driver', after: 'vfio-pci' }]);
    expect((await run(m, 'apply', f, 'vf', '--yes')).doc.data.changed).toBe(true);
    expect((await run(m, 'assert', f, 'vf')).code).toBe(0);
  });

  it('writes the state as a config that validates, quotes every address, and asserts on the same host', async () => {
    const m = machine('server-mxgpu-sriov');
    expect((await run(m, 'apply', SERVER, 'vdi', '--yes')).code).toBe(0);
    const r = await m.run(['host', 'export', '-c', 'node-a']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('      - select: { address: "0000:c1:00.0" }\n        sriov: { vfs: 2, vfDriver: vfio-pci }\n');
    expect(r.stdout).toContain('      - select: { address: "0000:81:00.0" }\n        driver: vfio-pci\n');
    expect(r.stdout).not.toMatch(/address: [0-9]/);
    const loaded = loadHostConfigText(r.stdout);
    expect(loaded.problems).toEqual([]);
    expect((await run(m, 'assert', configFile(r.stdout), 'node-a')).code).toBe(0);
  });
});

describe('the host configuration file itself', () => {
  it('is read like a profile: a FIFO, a device or a file over 1 MiB is one usage error, never a hang', async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-hostcfg-'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    writeFileSync(join(dir, 'big.yaml'), `${HEAD}# ${'x'.repeat(1024 * 1024)}\n`);
    const m = machine('intel-desktop-nvidia');
    for (const [file, message] of [[join(dir, 'fifo'), 'not a regular file'], ['/dev/zero', 'not a regular file'], [join(dir, 'big.yaml'), 'too big for a host configuration file']] as const) {
      const r = await m.run(['host', 'diff', '-f', file, '-c', 'gaming']);
      expect(r.code, file).toBe(2);
      expect(r.stderr).toContain(message);
    }
  });
});

describe('a VF named by its address, made by the same apply', () => {
  const XE = configFile(`${HEAD}  one-vf:
    devices:
      - select: { address: "0000:03:00.0" }
        sriov: { vfs: 2 }
      - select: { address: "0000:03:00.2" }
        driver: vfio-pci
  stray:
    devices:
      - select: { address: "0000:03:00.5" }
        driver: vfio-pci
`);

  it('diff shows its binding; apply makes the VFs, then binds it in a second change; assert passes; again is no change', async () => {
    const m = machine('intel-xe-sriov');
    const d = await run(m, 'diff', XE, 'one-vf');
    expect(d.code).toBe(0);
    expect(d.doc.data.differences).toContainEqual(expect.objectContaining({ subject: '0000:03:00.2', field: 'driver', after: 'vfio-pci' }));
    expect((await run(m, 'assert', XE, 'one-vf')).code).toBe(1);
    const a = await run(m, 'apply', XE, 'one-vf', '--yes');
    expect(a.code, a.stdout).toBe(0);
    expect(a.doc.data).toMatchObject({ changed: true, failed: false, firstChange: { applied: true } });
    expect(a.doc.warnings ?? []).not.toContainEqual(expect.stringContaining('apply the config again'));
    expect(readFileSync(join(m.root, 'sys/bus/pci/devices/0000:03:00.0/sriov_numvfs'), 'utf8').trim()).toBe('2');
    expect(m.host.readLink('/sys/bus/pci/devices/0000:03:00.2/driver')?.split('/').pop()).toBe('vfio-pci');
    expect(m.host.readLink('/sys/bus/pci/devices/0000:03:00.1/driver')).toBeNull();
    expect((await run(m, 'assert', XE, 'one-vf')).code).toBe(0);
    const again = await run(m, 'apply', XE, 'one-vf', '--yes');
    expect(again.doc.data).toMatchObject({ changed: false, failed: false });
  });

  it('a dry run plans the VFs and says the VF comes next; an address no PF makes is still refused', async () => {
    const m = machine('intel-xe-sriov');
    const dry = await run(m, 'apply', XE, 'one-vf', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.doc.warnings).toContainEqual('0000:03:00.2: a VF this apply makes (of 0000:03:00.0): apply the config again for its own entry once it exists');
    expect(m.host.readText('/sys/bus/pci/devices/0000:03:00.0/sriov_numvfs')?.trim()).toBe('0');
    const stray = await run(m, 'apply', XE, 'stray', '--yes');
    expect(stray.code).not.toBe(0);
    expect(stray.doc.data.msg).toContain('no device on this host matches address "0000:03:00.5"');
  });
});
