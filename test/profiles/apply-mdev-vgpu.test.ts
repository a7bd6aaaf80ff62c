// `gpuvirt apply` with an NVIDIA mdev vGPU (the path before kernel 6.8) on a Tesla T4 host: the
// profile's mediated device is created with the VM's configs in one change, verified, reported
// by `vgpu status`, and undone with everything else when a later step fails.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { paths } from '../../src/host/paths.js';
import { machine } from '../helpers/sim.js';
import { dying, type Death } from '../helpers/dying.js';
import { treeDiff, treeState } from '../helpers/tree-state.js';

const UUID = '7a1c4e2b-9d3f-4c6a-8b5e-1f2d3c4b5a69';
const GPU = '0000:41:00.0';
const TYPE_DIR = `${paths.mdevBus}/${GPU}/mdev_supported_types`;
const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-t4-'));
const PROFILE = join(dir, 't4-desk.yaml');
writeFileSync(PROFILE, `apiVersion: gpuvirt/v1
name: t4-desk
memory: 8GiB
cpu: { cores: 4 }
devices:
  - { type: mdev, parent: { address: ${GPU} }, mdevType: nvidia-222, uuid: ${UUID} }
`);

describe('apply: an NVIDIA mdev vGPU on a T4 host (kernel < 6.8)', () => {
  it('creates the vGPU with the configs, verifies it, and `vgpu status` lists it', async () => {
    const m = machine('nvidia-t4-mdev');
    const plan = (await m.run(['apply', PROFILE, '--dry-run', '--json'])).doc.data.steps;
    expect(plan.slice(0, 2).map((s: { kind: string; path: string }) => [s.kind, s.path])).toEqual([
      ['write', `${TYPE_DIR}/nvidia-222/create`],
      ['verify-exists', `${paths.mdevDevices}/${UUID}`],
    ]);
    expect(plan[0].undo).toEqual([{ kind: 'remove-mdev', uuid: UUID }]);
    const r = await m.run(['apply', PROFILE, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data.applied.ok).toBe(true);
    expect(m.host.exists(`${paths.mdevDevices}/${UUID}`)).toBe(true);
    // the driver took one of the T4-1Q instances: 15 were free, one more exists now
    expect(m.host.readText(`${TYPE_DIR}/nvidia-222/available_instances`)?.trim()).toBe('14');
    expect(m.host.readText('/var/lib/gpuvirt/vms/t4-desk/t4-desk.xml')).toContain(UUID);
    const status = await m.run(['vgpu', 'status', '--json']);
    const uuids = status.doc.data.devices[0].instances.map((i: { uuid: string }) => i.uuid);
    expect(uuids).toContain(UUID);
    expect(status.doc.data.devices[0].instances.find((i: { uuid: string }) => i.uuid === UUID).typeName).toBe('GRID T4-1Q');
    // applying again finds the vGPU there and plans nothing for it
    const again = await m.run(['apply', PROFILE, '--dry-run', '--json']);
    expect(again.doc.data.steps.some((s: { path?: string }) => s.path === `${TYPE_DIR}/nvidia-222/create`)).toBe(false);
  });

  it('a type the GPU has no room for (another size runs) fails the write and leaves nothing behind', async () => {
    const f = join(dir, 't4-big.yaml');
    writeFileSync(f, `apiVersion: gpuvirt/v1
name: t4-big
memory: 8GiB
cpu: { cores: 4 }
devices:
  - { type: mdev, parent: { address: ${GPU} }, mdevType: nvidia-224, uuid: ${UUID} }
`);
    const m = machine('nvidia-t4-mdev');
    const before = treeState(m.root);
    const r = await m.run(['apply', f, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(1);
    expect(r.doc.data.applied.steps[0].error).toContain('nvidia-224');
    expect(r.doc.data.applied.rollback.ok).toBe(true);
    expect(m.host.exists(`${paths.mdevDevices}/${UUID}`)).toBe(false);
    expect(treeDiff(before, treeState(m.root))).toEqual([]);
  });

  it('a failure at any later step removes the vGPU again: the host is as before', async () => {
    const plan = (await machine('nvidia-t4-mdev').run(['apply', PROFILE, '--dry-run', '--json'])).doc.data.steps;
    const later = plan.map((_: unknown, i: number) => i).filter((i: number) => i >= 2 && ['write', 'file', 'exec'].includes(plan[i].kind));
    expect(later.length, 'steps after the vGPU is created').toBeGreaterThanOrEqual(2);
    for (const i of later) {
      const m = machine('nvidia-t4-mdev');
      const before = treeState(m.root);
      const death: Death = { atStep: i, after: 0, dead: false, faultOnly: true };
      const r = await m.run(['apply', PROFILE, '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
      expect(death.faulted, `step ${i} was reached`).toBe(true);
      expect(r.code).toBe(1);
      expect(r.doc.data.applied.rollback.ok).toBe(true);
      expect(m.host.exists(`${paths.mdevDevices}/${UUID}`), `the vGPU after a failure at step ${i}`).toBe(false);
      expect(m.host.readText(`${TYPE_DIR}/nvidia-222/available_instances`)?.trim()).toBe('15');
      expect(treeDiff(before, treeState(m.root)), `host after a failure at step ${i} (${plan[i].title})`).toEqual([]);
    }
  });
});
