// `gpuvirt vgpu create|remove` on simulated machines: NVIDIA vendor-specific VFIO on the L40S
// (32 VFs; VF0 0000:41:00.4 and VF1 0000:41:00.5 hold an L40S-8Q, type 1152; six 8Q fit), and
// the mdev path on the T4 and the A40 (an mdev parent per VF).
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readAttr } from '../../src/host/host.js';
import { paths } from '../../src/host/paths.js';
import { loadHostConfigText } from '../../src/hostconfig/load.js';
import { readPf } from '../../src/sriov/detect.js';
import { machine, type Machine } from '../helpers/sim.js';

const L40S = 'nvidia-l40s-vfio';
const [VF0, VF1, VF2, VF3] = ['0000:41:00.4', '0000:41:00.5', '0000:41:00.6', '0000:41:00.7'];
const cur = (vf: string) => paths.pciAttr(vf, 'nvidia/current_vgpu_type');
const typeOf = (m: Machine, vf: string) => readAttr(m.host, cur(vf));
const writes = (m: Machine) => m.host.writes.map((w) => [w.path, w.value, w.result]);

/** A VM (pid 4242) holding the VF's VFIO group open, as /proc shows it. */
function vmHolds(m: Machine, vf: string): void {
  const group = m.host.readLink(paths.pciAttr(vf, 'iommu_group'))!.split('/').pop();
  mkdirSync(`${m.root}/proc/4242/fd`, { recursive: true });
  symlinkSync(`/dev/vfio/${group}`, `${m.root}/proc/4242/fd/17`);
  writeFileSync(`${m.root}/proc/4242/comm`, 'qemu-system-x86\n');
}

describe('vgpu create (NVIDIA vendor-specific VFIO)', () => {
  it('on a named VF writes the type id and reads it back; the same again is a no-op', async () => {
    const m = machine(L40S);
    const r = await m.run(['vgpu', 'create', VF2, '--type', '1152', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data).toMatchObject({ mechanism: 'vendor-vfio', gpu: '0000:41:00.0', vf: VF2, chosen: false, type: '1152', typeName: 'NVIDIA L40S-8Q', previous: null });
    expect(writes(m)).toEqual([[cur(VF2), '1152', 'ok']]);
    expect(r.doc.data.facts).toContainEqual({ fact: cur(VF2), before: '0', now: '1152', expected: '1152' });
    m.host.clearWrites();
    const again = await m.run(['vgpu', 'create', VF2, '--type', 'NVIDIA L40S-8Q', '--yes', '--json']);
    expect(again.code).toBe(0);
    expect(again.doc.data.noop).toBe(true);
    expect(m.host.writes).toEqual([]);
  });

  it('with the GPU named, or none, picks the first free VF offering the type, by id or name; when none is left it says why (8)', async () => {
    const m = machine(L40S);
    const byGpu = await m.run(['vgpu', 'create', '41:00.0', '--type', 'NVIDIA L40S-8Q', '--yes', '--json']);
    expect(byGpu.doc.data).toMatchObject({ vf: VF2, chosen: true, type: '1152' });
    const bare = await m.run(['vgpu', 'create', '--type', 'l40s-8q', '--yes', '--json']);
    expect(bare.doc.data).toMatchObject({ vf: VF3, chosen: true });
    for (let i = 0; i < 2; i++) expect((await m.run(['vgpu', 'create', '--type', '1152', '--yes'])).code).toBe(0);
    // Six 8Q fill the 48 GB: the type leaves every list, so no VF can take a seventh.
    const full = await m.run(['vgpu', 'create', '--type', '1152', '--yes', '--json']);
    expect(full.code).toBe(8);
    expect(full.doc.error.code).toBe('E_VGPU_UNAVAILABLE');
    expect(full.doc.error.hint).toContain('one vGPU type at a time');
  });

  it('a VF holding another type gets 0 first; when the new type fails, the old one is put back', async () => {
    const m = machine(L40S);
    expect((await m.run(['vgpu', 'remove', VF1, '--yes'])).code).toBe(0);
    const plan = await m.run(['vgpu', 'create', VF0, '--type', '1150', '--dry-run', '--json']);
    expect(plan.doc.data.steps.map((s: { kind: string; value?: string }) => [s.kind, s.value])).toEqual([['write', '0'], ['write', '1150'], ['verify-text', undefined]]);
    m.host.failOn({ path: cur(VF0), value: '1150', errno: 'ENOSPC', times: 1 });
    const failed = await m.run(['vgpu', 'create', VF0, '--type', '1150', '--yes', '--json']);
    expect(failed.code).toBe(1);
    expect(failed.doc.data.applied.rollback.ok).toBe(true);
    expect(typeOf(m, VF0)).toBe('1152');
    m.host.clearWrites();
    const r = await m.run(['vgpu', 'create', VF0, '--type', '1150', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data).toMatchObject({ previous: '1152', previousName: 'NVIDIA L40S-8Q', type: '1150' });
    expect(writes(m)).toEqual([[cur(VF0), '0', 'ok'], [cur(VF0), '1150', 'ok']]);
    expect(typeOf(m, VF0)).toBe('1150');
  });

  it('refuses a type the named VF does not offer, and names what it offers', async () => {
    const m = machine(L40S);
    const r = await m.run(['vgpu', 'create', VF2, '--type', 'NVIDIA L40S-4Q', '--yes', '--json']);
    expect(r.code).toBe(5);
    expect(r.doc.error.hint).toContain('NVIDIA L40S-8Q (1152)');
    expect(m.host.writes).toEqual([]);
  });

  it('never touches a VF a VM has open: create and remove are refused (8); the automatic choice passes it by', async () => {
    const m = machine(L40S);
    vmHolds(m, VF0);
    const rm = await m.run(['vgpu', 'remove', VF0, '--yes']);
    expect(rm.code).toBe(8);
    expect(rm.stdout).toContain(`VF ${VF0} is open through VFIO by qemu-system-x86 (pid 4242)`);
    expect(m.host.writes).toEqual([]);
    expect(typeOf(m, VF0)).toBe('1152');
    const m2 = machine(L40S);
    vmHolds(m2, VF2);
    expect((await m2.run(['vgpu', 'create', VF2, '--type', '1152', '--yes'])).code).toBe(8);
    const auto = await m2.run(['vgpu', 'create', '--type', '1152', '--yes', '--json']);
    expect(auto.doc.data.vf).toBe(VF3);
  });
});

describe('vgpu remove (NVIDIA vendor-specific VFIO)', () => {
  it('writes 0 and reads it back; a VF without a vGPU is a no-op; a GPU is not a vGPU', async () => {
    const m = machine(L40S);
    const r = await m.run(['vgpu', 'remove', VF1, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(writes(m)).toEqual([[cur(VF1), '0', 'ok']]);
    expect(typeOf(m, VF1)).toBe('0');
    m.host.clearWrites();
    const again = await m.run(['vgpu', 'remove', VF1, '--yes', '--json']);
    expect(again.doc.data.noop).toBe(true);
    expect(m.host.writes).toEqual([]);
    expect((await m.run(['vgpu', 'remove', '41:00.0', '--yes'])).code).toBe(2);
  });

  it('writes 0 again while the driver says EBUSY, at most 10 times; then fails, reports the tries and leaves the vGPU', { timeout: 30_000 }, async () => {
    const m = machine(L40S);
    m.host.failOn({ path: cur(VF0), value: '0', errno: 'EBUSY', times: 2 });
    const r = await m.run(['vgpu', 'remove', VF0, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(writes(m)).toEqual([[cur(VF0), '0', 'EBUSY'], [cur(VF0), '0', 'EBUSY'], [cur(VF0), '0', 'ok']]);
    m.host.clearWrites();
    m.host.failOn({ path: cur(VF1), value: '0', errno: 'EBUSY' });
    const stuck = await m.run(['vgpu', 'remove', VF1, '--yes', '--json']);
    expect(stuck.code).toBe(1);
    expect(m.host.writes).toHaveLength(10);
    expect(stuck.doc.data.applied.steps[0].error).toContain('EBUSY (device or resource busy), 10 tries');
    expect(stuck.doc.data.applied.rollback.ok).toBe(true);
    expect(typeOf(m, VF1)).toBe('1152');
  });
});

describe('recover and the vGPU undo', () => {
  it('refuses a journal whose vGPU undo names no PCI address (it would write outside the VF)', async () => {
    const m = machine(L40S);
    m.host.writeFile('/var/lib/gpuvirt/journal.json', JSON.stringify({
      format: 1, command: 'vgpu create', pid: 1, startedAt: 'x', before: [],
      steps: [{ kind: 'write', path: cur(VF2), value: '1152', title: 't', undo: [{ kind: 'restore-vgpu-type', vf: '../../../../etc', type: null }] }],
    }));
    const r = await m.run(['recover', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('names no PCI address or vGPU type id');
    expect(m.host.writes).toEqual([]);
  });
});

describe('vgpu create|remove --persist (NVIDIA vendor-specific VFIO)', () => {
  const RECORD = '/etc/gpuvirt/host.yaml';
  const PF = '0000:41:00.0';
  const recorded = (m: Machine) => loadHostConfigText(m.host.readText(RECORD)!).file!.configs.local!.devices;
  const carried = (m: Machine) => [VF0, VF1, VF2, VF3].map((vf) => typeOf(m, vf));

  it('create --persist records the GPU\'s vGPUs per type in the boot record, the boot run makes them again; remove keeps them unless --persist', async () => {
    const m = machine(L40S);
    // VF0 and VF1 carry 1152 already: the record keeps the GPU's count of the type, 3 after this.
    expect(carried(m)).toEqual(['1152', '1152', '0', '0']);
    expect((await m.run(['vgpu', 'create', VF2, '--type', '1152', '--persist', '--yes'])).code).toBe(0);
    // The vGPUs live on the VFs: the record makes those too (sriov-manage enables all of them).
    const vfs = readPf(m.host, PF)!.sriov.numVfs;
    expect(recorded(m)).toEqual([{ select: { address: PF }, sriov: { vfs }, vgpu: [{ type: '1152', count: 3 }] }]);
    expect(m.host.readText('/etc/systemd/system/gpuvirt-host.service')).toContain('-c local');
    expect(m.testExec.calls).toContainEqual(['systemctl', 'enable', 'gpuvirt-host.service']);
    expect((await m.run(['vgpu', 'create', VF3, '--type', '1152', '--persist', '--yes'])).code).toBe(0);
    expect(recorded(m)[0]!.vgpu).toEqual([{ type: '1152', count: 4 }]);
    // Again on a VF that has it: no change, to the VF or the record.
    const again = await m.run(['vgpu', 'create', VF3, '--type', '1152', '--persist', '--yes', '--json']);
    expect(again.doc.data.noop, JSON.stringify(again.doc.data.steps)).toBe(true);
    const st = (await m.run(['status', '--json'])).doc.data;
    expect(st.hostConfig.devices).toEqual([{ select: `address "${PF}"`, vfs, vgpu: '4 x 1152' }]);

    // Types gone (as after a reboot): the boot unit's run makes the count again, on the lowest free VFs.
    for (const vf of [VF0, VF1, VF2]) {
      const keep = await m.run(['vgpu', 'remove', vf, '--yes']);
      expect(keep.stderr).toContain(`${vf} stays persisted`);
    }
    expect(carried(m)).toEqual(['0', '0', '0', '1152']);
    const boot = await m.run(['host', 'apply', '--boot', '-f', `${m.root}${RECORD}`, '-c', 'local', '--json']);
    expect(boot.code, boot.stdout).toBe(0);
    expect(carried(m)).toEqual(['1152', '1152', '1152', '1152']);

    expect((await m.run(['vgpu', 'remove', VF0, '--persist', '--yes'])).code).toBe(0);
    expect(recorded(m)[0]!.vgpu).toEqual([{ type: '1152', count: 3 }]);
    for (const vf of [VF1, VF2, VF3]) expect((await m.run(['vgpu', 'remove', vf, '--persist', '--yes'])).code).toBe(0);
    // The VFs stay recorded (sriov disable --persist takes them out); no vGPU is.
    expect(recorded(m)).toEqual([{ select: { address: PF }, sriov: { vfs } }]);
    // state.json keeps no vGPU record of its own any more.
    expect(m.host.readText(paths.stateFile) ?? '').not.toContain('"vgpu"');
  });

  it('a host with an earlier version\'s vGPU unit and records: status shows them, the next --persist converts them and removes the unit', async () => {
    const m = machine(L40S);
    const UNIT = '/etc/systemd/system/gpuvirt-nvidia-vgpu.service';
    const since = '2026-01-01T00:00:00.000Z';
    expect((await m.run(['vgpu', 'create', VF2, '--type', '1152', '--yes'])).code).toBe(0);
    const state = JSON.parse(m.host.readText(paths.stateFile) ?? '{"version":1,"devices":{}}');
    state.vgpu = { [VF2]: { vf: VF2, pf: PF, type: '1152', typeName: 'NVIDIA L40S-8Q', since } };
    m.host.writeFile(paths.stateFile, `${JSON.stringify(state, null, 2)}\n`);
    m.host.writeFile(UNIT, `[Unit]\nDescription=Set the vGPU type of NVIDIA VFs again (gpuvirt)\n[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo 1152 > ${cur(VF2)}'\n[Install]\nWantedBy=multi-user.target\n`);
    const wants = `${m.root}/etc/systemd/system/multi-user.target.wants`;
    mkdirSync(wants, { recursive: true });
    symlinkSync(UNIT, `${wants}/gpuvirt-nvidia-vgpu.service`);
    const st = (await m.run(['status', '--json'])).doc.data;
    expect(st.vgpu.map((v: { vf: string; currentType: string }) => [v.vf, v.currentType])).toEqual([[VF2, '1152']]);
    expect(st.hostConfig.legacy).toEqual([
      `${PF}: vGPUs 1 x type 1152 at boot, recorded in state.json by an earlier gpuvirt`,
      `${UNIT}: sets vGPU types at boot (an earlier gpuvirt's unit)`,
    ]);

    expect((await m.run(['vgpu', 'create', VF3, '--type', '1152', '--persist', '--yes'])).code).toBe(0);
    // The earlier record (one 1152 vGPU) carried in, then the count the GPU has now: VF0 to VF3.
    expect(recorded(m)[0]!.vgpu).toEqual([{ type: '1152', count: 4 }]);
    expect(m.host.exists(UNIT)).toBe(false);
    expect(m.testExec.calls).toContainEqual(['systemctl', 'disable', 'gpuvirt-nvidia-vgpu.service']);
    expect(JSON.parse(m.host.readText(paths.stateFile)!).vgpu).toBeUndefined();
    expect((await m.run(['status', '--json'])).doc.data.hostConfig.legacy).toEqual([]);
  });
});

describe('vgpu create|remove (mdev)', () => {
  const UUID = '0f3b2d44-9d1c-4c3e-8a3b-7d2f1e6c5a90';

  it('T4: the type by name becomes the mdev create of its id on the GPU, undone by its removal', async () => {
    const m = machine('nvidia-t4-mdev');
    const r = await m.run(['vgpu', 'create', '--type', 'GRID T4-1Q', '--uuid', UUID, '--dry-run', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data).toMatchObject({ mechanism: 'mdev', gpu: '0000:41:00.0', parent: '0000:41:00.0', type: 'nvidia-222', typeName: 'GRID T4-1Q', uuid: UUID });
    expect(r.doc.data.steps[0]).toMatchObject({ kind: 'write', path: `${paths.mdevBus}/0000:41:00.0/mdev_supported_types/nvidia-222/create`, value: UUID, undo: [{ kind: 'remove-mdev', uuid: UUID }] });
    const full = await m.run(['vgpu', 'create', '--type', 'nvidia-223', '--uuid', UUID, '--dry-run']);
    expect(full.code).toBe(8);
    expect(full.stdout).toContain('has no instances left');
  });

  it('T4: remove by UUID is the mdev removal, undone by creating it again', async () => {
    const m = machine('nvidia-t4-mdev');
    const r = await m.run(['vgpu', 'remove', 'c2177883-f1bb-47f0-914d-32a22e3a8804', '--dry-run', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data).toMatchObject({ mechanism: 'mdev', parent: '0000:41:00.0', type: 'nvidia-222', typeName: 'GRID T4-1Q' });
    expect(r.doc.data.steps[0].undo).toEqual([{ kind: 'create-mdev', uuid: 'c2177883-f1bb-47f0-914d-32a22e3a8804', parent: '0000:41:00.0', type: 'nvidia-222' }]);
  });

  it('A40: with the GPU named, the first VF parent with an instance left', async () => {
    const m = machine('nvidia-a40-mdev');
    const r = await m.run(['vgpu', 'create', '41:00.0', '--type', 'NVIDIA A40-8Q', '--uuid', UUID, '--dry-run', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data).toMatchObject({ mechanism: 'mdev', parent: '0000:41:00.5', type: 'nvidia-557' });
  });
});
