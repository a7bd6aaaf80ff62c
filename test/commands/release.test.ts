import { describe, expect, it } from 'vitest';
import { dying, type Death } from '../helpers/dying.js';
import { machine } from '../helpers/sim.js';
import { paths } from '../../src/host/paths.js';
import { readState, writeState } from '../../src/state.js';

const GPU = '0000:01:00.0';
const AUDIO = '0000:01:00.1';
const SLOT = [GPU, AUDIO];
const REBUILT = { exitCode: 0, stdout: 'update-initramfs: Generating /boot/initrd.img-6.1.0-18-amd64\n', stderr: '' };

describe('release', () => {
  it('gives the whole set back to its original drivers, even when one function is named', async () => {
    const m = machine('intel-desktop-nvidia');
    const before = m.drivers(SLOT);
    await m.run(['passthrough', '01:00.0', '--yes']);
    const r = await m.run(['release', '01:00.1', '--yes', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.data.devices.map((d: { address: string }) => d.address)).toEqual(SLOT);
    expect(m.drivers(SLOT)).toEqual(before);
    expect(m.host.exists(paths.devVfioGroup(8))).toBe(false);
    expect((await m.run(['status', '--json'])).doc.data.devices).toEqual([]);
  });

  it('a driver_override someone else had set comes back, after the original driver is bound again', async () => {
    const m = machine('intel-desktop-nvidia');
    m.host.writeAttr(paths.pciAttr(AUDIO, 'driver_override'), 'not-a-driver');
    const before = m.drivers(SLOT);
    expect((await m.run(['passthrough', '01:00.0', '--yes'])).code).toBe(0);
    const r = await m.run(['release', '01:00.0', '--yes']);
    expect(r.code).toBe(0);
    expect(m.drivers(SLOT)).toEqual(before);
  });

  it('--dry-run shows the plan and changes nothing', async () => {
    const m = machine('intel-desktop-nvidia');
    await m.run(['passthrough', '01:00.0', '--yes']);
    m.host.clearWrites();
    const r = await m.run(['release', '01:00.0', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('bind 0000:01:00.0 to nvidia');
    expect(m.host.writes).toEqual([]);
  });

  it('a device on vfio-pci that gpuvirt did not record goes back to the kernel\'s default match', async () => {
    const m = machine('server-mxgpu-sriov');
    const vf = '0000:41:02.0';
    expect(m.drivers([vf])[vf]!.driver).toBe('vfio-pci');
    const r = await m.run(['release', vf, '--yes', '--json']);
    expect(r.code).toBe(0);
    expect(m.drivers([vf])[vf]!.driver).not.toBe('vfio-pci');
    expect(m.drivers([vf])[vf]!.override).toBeNull();
  });

  it('a run killed half-way blocks further changes, and `recover` puts everything back', async () => {
    const m = machine('intel-desktop-nvidia');
    const before = m.drivers(SLOT);
    const death: Death = { atStep: 5, after: 0, dead: false };
    await m.run(['passthrough', '01:00.0', '--yes'], { seams: (h, e) => dying(h, e, death) });
    expect(death.dead).toBe(true);
    expect(m.drivers(SLOT)).not.toEqual(before);
    const blocked = await m.run(['passthrough', '00:02.0', '--yes', '--force']);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toContain('was interrupted at step 6 of');
    expect(blocked.stderr).toContain('gpuvirt recover');
    const dry = await m.run(['recover', '--dry-run', '--json']);
    expect(dry.doc.data.run.command).toBe('passthrough');
    expect(dry.doc.data.undo.length).toBeGreaterThan(0);
    const r = await m.run(['recover', '--yes', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.data.applied.ok).toBe(true);
    expect(m.drivers(SLOT)).toEqual(before);
    expect((await m.run(['recover', '--json'])).doc.data.found).toBe(false);
    expect((await m.run(['passthrough', '01:00.0', '--yes'])).code).toBe(0);
  });

  it('nothing named and no --all is a usage error', async () => {
    const m = machine('intel-desktop-nvidia');
    expect((await m.run(['release'])).code).toBe(2);
  });
});

describe('passthrough --persist and release --persist', () => {
  it('writes the per-address udev rule, softdeps and initramfs hook, rebuilds the initramfs; release --persist removes them', async () => {
    const m = machine('intel-desktop-nvidia', { 'update-initramfs -u -k all': REBUILT });
    m.host.writeFile('/usr/sbin/update-initramfs', '', 0o755);
    const r = await m.run(['passthrough', '01:00.0', '--persist', '--yes', '--json']);
    expect(r.code).toBe(0);
    const rule = m.host.readText(paths.persist.udevRule)!;
    expect(rule).toContain(`KERNEL=="${GPU}", ATTR{driver_override}="vfio-pci"`);
    expect(rule).toContain(`KERNEL=="${AUDIO}", ATTR{driver_override}="vfio-pci"`);
    expect(m.host.readText(paths.persist.modprobe)).toContain('softdep nvidia pre: vfio-pci');
    expect(m.host.readText(paths.persist.initramfsToolsHook)).toContain('manual_add_modules vfio vfio_iommu_type1 vfio_pci');
    expect(m.testExec.calls).toContainEqual(['update-initramfs', '-u', '-k', 'all']);
    expect((await m.run(['status', '--json'])).doc.data.devices.every((d: { persisted: boolean }) => d.persisted)).toBe(true);

    const rel = await m.run(['release', '01:00.0', '--persist', '--yes']);
    expect(rel.code).toBe(0);
    expect(m.host.exists(paths.persist.udevRule)).toBe(false);
    expect(m.host.exists(paths.persist.modprobe)).toBe(false);
    expect(m.host.exists(paths.persist.initramfsToolsHook)).toBe(false);
    expect(m.testExec.calls.filter((c) => c[0] === 'update-initramfs')).toHaveLength(2);
  });

  it('release without --persist keeps the boot-time binding and says so', async () => {
    const m = machine('intel-desktop-nvidia', { 'update-initramfs -u -k all': REBUILT });
    m.host.writeFile('/usr/sbin/update-initramfs', '', 0o755);
    await m.run(['passthrough', '01:00.0', '--persist', '--yes']);
    const r = await m.run(['release', '01:00.0', '--yes']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('stay persisted');
    expect(m.host.exists(paths.persist.udevRule)).toBe(true);
    const status = (await m.run(['status', '--json'])).doc.data.devices;
    expect(status.map((d: { status: string }) => d.status)).toEqual(['released', 'released']);
  });

  it('a failing initramfs rebuild restores the files and the drivers', async () => {
    const m = machine('intel-desktop-nvidia', { 'update-initramfs -u -k all': { exitCode: 1, stdout: '', stderr: 'E: /boot is full' } });
    m.host.writeFile('/usr/sbin/update-initramfs', '', 0o755);
    const before = m.drivers(SLOT);
    const r = await m.run(['passthrough', '01:00.0', '--persist', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('/boot is full');
    expect(m.drivers(SLOT)).toEqual(before);
    expect(m.host.exists(paths.persist.udevRule)).toBe(false);
    expect(m.host.exists(paths.persist.modprobe)).toBe(false);
  });
});
