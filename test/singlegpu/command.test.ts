// `gpuvirt singlegpu` on the simulated machines: the preflight, the refusals, the hook written
// exactly as the dry run printed it, and --undo.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { machine, type Machine } from '../helpers/sim.js';
import { hookPath, hookScript } from '../../src/singlegpu/script.js';

const NAVI = 'navi10-single-gpu-vendor-reset';
const withLibvirt = (m: Machine) => m.host.writeFile('/etc/libvirt/qemu.conf', '# stock\n');

describe('gpuvirt singlegpu', () => {
  it('refuses a GPU whose give-back would hit the reset bug, until setup --reset; then writes the hook the dry run printed', async () => {
    const m = machine(NAVI);
    withLibvirt(m);
    fs.mkdirSync(path.join(m.root, 'etc/systemd/system'), { recursive: true });
    fs.symlinkSync('/usr/lib/systemd/system/gdm.service', path.join(m.root, 'etc/systemd/system/display-manager.service'));
    const refused = await m.run(['singlegpu', 'win11', '0b:00.0', '--yes', '--json']);
    expect(refused.code).toBe(7);
    expect(refused.doc.data.refusals).toEqual([expect.objectContaining({ code: 'no-reset', address: '0000:0b:00.0', force: 'install the hook anyway' })]);
    expect(refused.doc.data.refusals[0].message).toContain('run `gpuvirt setup --reset` first');
    expect(m.host.exists(hookPath('win11'))).toBe(false);

    expect((await m.run(['setup', '--reset', '--yes'])).code).toBe(0);
    const dry = await m.run(['singlegpu', 'win11', '0b:00.1', '--dry-run']);
    const expected = hookScript({ vm: 'win11', functions: ['0000:0b:00.0', '0000:0b:00.1'], modules: ['amdgpu', 'snd_hda_intel'], displayManager: 'gdm.service' });
    expect(dry.stdout).toContain(expected.trimEnd());
    expect(dry.stdout).toContain('display manager: gdm.service');
    const r = await m.run(['singlegpu', 'win11', '0b:00.0', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(m.host.readText(hookPath('win11'))).toBe(expected);
    expect(fs.statSync(path.join(m.root, hookPath('win11'))).mode & 0o777).toBe(0o755);
    expect((await m.run(['singlegpu', 'win11', '0b:00.0', '--yes'])).stdout).toContain('Nothing to do');

    const undo = await m.run(['singlegpu', 'win11', '--undo', '--yes']);
    expect(undo.code, undo.stdout).toBe(0);
    expect(m.host.exists(hookPath('win11'))).toBe(false);
  });

  it('refuses without libvirt, a GPU already on vfio-pci, a name the hook cannot carry, and a hook it did not write', async () => {
    const m = machine('intel-desktop-nvidia');
    const noLibvirt = await m.run(['singlegpu', 'win11', '01:00.0', '--yes', '--json']);
    expect(noLibvirt.code).toBe(7);
    expect(noLibvirt.doc.data.refusals.map((x: { code: string }) => x.code)).toEqual(['no-libvirt']);
    withLibvirt(m);
    expect((await m.run(['singlegpu', "win'11", '01:00.0', '--dry-run'])).code).toBe(2);
    expect((await m.run(['singlegpu', 'win11', '02:00.0', '--dry-run'])).code).toBe(5);
    expect((await m.run(['passthrough', '01:00.0', '--yes'])).code).toBe(0);
    const onVfio = await m.run(['singlegpu', 'win11', '01:00.0', '--dry-run', '--json']);
    expect(onVfio.doc.data.refusals.map((x: { code: string }) => x.code)).toEqual(['no-host-driver']);
    m.host.writeFile(hookPath('mine'), '#!/bin/sh\necho my own hook\n');
    expect((await m.run(['singlegpu', 'mine', '--undo', '--yes'])).code).toBe(7);
    expect(m.host.exists(hookPath('mine'))).toBe(true);
  });
});
