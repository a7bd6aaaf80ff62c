// A host config's vgpu on the simulated kernel: vGPUs per type on an NVIDIA GPU's VFs (vendor-
// specific VFIO) or as mediated devices (NVIDIA before 6.8, GVT-g), made by the same changes as `vgpu remove|create`, shown by diff, checked by
// assert, written back by export; refused where the type cannot be made, undone on a failure.
import { describe, expect, it } from 'vitest';
import { readAttr } from '../../src/host/host.js';
import { loadHostConfigText } from '../../src/hostconfig/load.js';
import { vgpuTypePath } from '../../src/vgpu/paths.js';
import { documentFor } from '../../src/schemas/index.js';
import { machine } from '../helpers/sim.js';
import { dying, type Death } from '../helpers/dying.js';
import { treeDiff, treeState } from '../helpers/tree-state.js';
import { configFile } from './files.js';

const HEAD = 'apiVersion: gpuvirt/v1\nkind: HostConfig\nconfigs:\n';
const PF = '0000:41:00.0';
/** VF0..VF3 of the L40S; VF0 and VF1 hold an L40S-8Q (1152) in the fixture. */
const VF = ['0000:41:00.4', '0000:41:00.5', '0000:41:00.6', '0000:41:00.7'];
const Q8 = 'NVIDIA L40S-8Q (1152)';
const FILE = configFile(`${HEAD}  four:
    devices:
      - select: { id: "10de:26b9" }
        sriov: { vfs: 32 }
        vgpu:
          - { type: "NVIDIA L40S-8Q", count: 4 }
  two-by-id:
    devices:
      - select: { address: "${PF}" }
        vgpu: [{ type: 1152, count: 2 }]
  none:
    devices:
      - select: { address: "${PF}" }
        vgpu: [{ type: 1152, count: 0 }]
  seven:
    devices:
      - select: { address: "${PF}" }
        vgpu: [{ type: L40S-8Q, count: 7 }]
  four-q:
    devices:
      - select: { address: "${PF}" }
        vgpu: [{ type: 1150, count: 2 }]
  four-q-by-name:
    devices:
      - select: { address: "${PF}" }
        vgpu: [{ type: 1152, count: 2 }, { type: L40S-4Q, count: 1 }]
  mixed-id:
    devices:
      - select: { address: "${PF}" }
        vgpu: [{ type: 1152, count: 2 }, { type: 1150, count: 1 }]
`);
type M = ReturnType<typeof machine>;
const run = (m: M, cmd: string, config: string, ...more: string[]) => m.run(['host', cmd, '-f', FILE, '-c', config, ...more, '--json']);
const types = (m: M) => VF.map((v) => readAttr(m.host, vgpuTypePath(v)));

describe('host config vgpu (NVIDIA vendor-specific VFIO)', () => {
  it('the schema takes a type by id or name with a count; vgpu does not go with driver or vfDriver, and each type comes once', () => {
    const ok = loadHostConfigText(`${HEAD}  x:\n    devices:\n      - select: { address: "${PF}" }\n        vgpu: [{ type: 1152, count: 2 }, { type: "NVIDIA L40S-4Q", count: 1 }]\n`);
    expect(ok.problems).toEqual([]);
    expect(ok.file!.configs.x!.devices[0]!.vgpu).toEqual([{ type: '1152', count: 2 }, { type: 'NVIDIA L40S-4Q', count: 1 }]);
    const messages = (text: string) => loadHostConfigText(`${HEAD}  x:\n    devices:\n      - select: { address: "${PF}" }\n${text}`).problems.map((p) => p.message);
    expect(messages('        driver: vfio-pci\n        vgpu: [{ type: 1152, count: 1 }]\n')).toEqual([expect.stringContaining('give driver or vgpu, not both')]);
    expect(messages('        sriov: { vfs: 4, vfDriver: vfio-pci }\n        vgpu: [{ type: 1152, count: 1 }]\n')).toEqual([expect.stringContaining('give sriov.vfDriver or vgpu')]);
    expect(messages('        vgpu: [{ type: 1152, count: 1 }, { type: "1152", count: 1 }]\n')).toEqual(['each vGPU type once: add up the counts']);
    expect(messages('        vgpu: [{ type: 1152 }]\n')).toEqual([expect.stringContaining('count')]);
    expect(messages('        vgpu: [{ type: 1152, count: -1 }]\n')).toEqual(['must be at least 0']);
  });

  it('diff shows vGPUs per type; apply creates the missing ones on the lowest free VFs; assert passes; a second apply is no change; a removed vGPU is a difference', async () => {
    const m = machine('nvidia-l40s-vfio');
    const d = await run(m, 'diff', 'four');
    expect(d.code).toBe(0);
    expect(d.doc.data.differences).toEqual([{ subject: PF, name: expect.any(String), field: 'vgpu', before: { [Q8]: 2 }, after: { [Q8]: 4 } }]);
    expect(d.doc.data.diff.before.devices[PF]).toEqual({ vfs: 32, vgpu: { [Q8]: 2 } });
    expect(documentFor('host diff')!.safeParse(d.doc).error).toBeUndefined();
    expect((await m.run(['host', 'diff', '-f', FILE, '-c', 'four'])).stdout).toContain(`-vgpu: ${Q8} x2\n+vgpu: ${Q8} x4\n`);
    expect((await run(m, 'assert', 'four')).code).toBe(1);

    const dry = await run(m, 'apply', 'four', '--dry-run');
    expect(dry.doc.data.steps.filter((s: { kind: string }) => s.kind === 'write').map((s: { title: string }) => s.title))
      .toEqual([`create ${Q8} on VF ${VF[2]}`, `create ${Q8} on VF ${VF[3]}`]);
    expect(m.host.writes).toEqual([]);

    const r = await run(m, 'apply', 'four', '--yes');
    expect(r.code, r.stdout).toBe(0);
    expect(documentFor('host apply')!.safeParse(r.doc).error).toBeUndefined();
    expect(r.doc.data.changed).toBe(true);
    expect(types(m)).toEqual(['1152', '1152', '1152', '1152']);
    expect((await run(m, 'assert', 'four')).code).toBe(0);
    expect((await run(m, 'apply', 'four', '--yes')).doc.data).toMatchObject({ changed: false, noop: true });

    m.host.writeAttr(vgpuTypePath(VF[1]!), '0');
    const drift = await run(m, 'assert', 'four');
    expect(drift.code).toBe(1);
    expect(drift.doc.data.differences).toEqual([{ subject: PF, name: expect.any(String), field: 'vgpu', before: { [Q8]: 3 }, after: { [Q8]: 4 } }]);
    // The config asks for a count: the gap is filled on the lowest free VF, the others stay.
    expect((await run(m, 'apply', 'four', '--yes')).code).toBe(0);
    expect(types(m)).toEqual(['1152', '1152', '1152', '1152']);
  });

  it('fewer or none: the vGPUs beyond the count go, highest VFs first; a type by id is the same type', async () => {
    const m = machine('nvidia-l40s-vfio');
    expect((await run(m, 'assert', 'two-by-id')).code).toBe(0);
    expect((await run(m, 'apply', 'four', '--yes')).code).toBe(0);
    const d = await run(m, 'diff', 'two-by-id');
    expect(d.doc.data.differences).toEqual([{ subject: PF, name: expect.any(String), field: 'vgpu', before: { [Q8]: 4 }, after: { [Q8]: 2 } }]);
    expect((await run(m, 'apply', 'two-by-id', '--yes')).code).toBe(0);
    expect(types(m)).toEqual(['1152', '1152', '0', '0']);
    expect((await run(m, 'apply', 'none', '--yes')).code).toBe(0);
    expect(types(m)).toEqual(['0', '0', '0', '0']);
    expect((await run(m, 'assert', 'none')).code).toBe(0);
    expect((await run(m, 'apply', 'none', '--yes')).doc.data).toMatchObject({ changed: false });
  });

  it('another type: every vGPU there is goes first, then the new type is made on the VFs emptied', async () => {
    const m = machine('nvidia-l40s-vfio');
    const r = await run(m, 'apply', 'four-q', '--yes');
    expect(r.code, r.stdout).toBe(0);
    expect(types(m)).toEqual(['1150', '1150', '0', '0']);
    const a = await run(m, 'assert', 'four-q');
    expect(a.code).toBe(0);
    expect(a.doc.data.diff.after.devices[PF]).toEqual({ vgpu: { 'NVIDIA L40S-4Q (1150)': 2 } });
    expect((await run(m, 'apply', 'four-q', '--yes')).doc.data).toMatchObject({ changed: false });
  });

  it('a type no VF can take: a problem or a refusal that says why, and nothing changes (exit 7)', async () => {
    const m = machine('nvidia-l40s-vfio');
    const byName = await run(m, 'apply', 'four-q-by-name', '--yes');
    expect(byName.code).toBe(7);
    expect(byName.doc.data.problems).toEqual([expect.stringMatching(/^0000:41:00\.0 \(.*\): no VF lists a vGPU type "L40S-4Q" now \(they list NVIDIA L40S-8Q \(1152\); the GPU runs one type at a time/)]);
    expect((await run(m, 'assert', 'four-q-by-name')).doc.data.problems).toEqual(byName.doc.data.problems);
    const mixed = await run(m, 'apply', 'mixed-id', '--yes');
    expect(mixed.code).toBe(7);
    expect(mixed.doc.data.problems).toEqual([expect.stringContaining('no VF of 0000:41:00.0 lists a vGPU type "1150"')]);
    expect(m.host.writes).toEqual([]);
    expect(types(m)).toEqual(['1152', '1152', '0', '0']);
  });

  it('a failure mid-apply (the GPU holds six L40S-8Q at most) is undone: the host as before', async () => {
    const m = machine('nvidia-l40s-vfio');
    const before = treeState(m.root);
    const r = await run(m, 'apply', 'seven', '--yes');
    expect(r.code).toBe(1);
    expect(r.doc.data).toMatchObject({ failed: true, changed: false });
    expect(r.doc.data.msg).toMatch(/^apply failed and was rolled back/);
    expect(treeDiff(before, treeState(m.root))).toEqual([]);
  });

  it.each([['four-q', 4], ['four', 2], ['two-by-id', 0]] as const)('a failure at any step of %s is undone: the VFs hold what they held', async (config, writes) => {
    const base = machine('nvidia-l40s-vfio');
    // two-by-id from four: the two vGPUs beyond the count go.
    const setup = async (m: M) => { if (config === 'two-by-id') expect((await run(m, 'apply', 'four', '--yes')).code).toBe(0); };
    await setup(base);
    const plan = (await run(base, 'apply', config, '--dry-run')).doc.data.steps as { kind: string; title: string }[];
    const steps = plan.flatMap((st, i) => (st.kind === 'write' ? [i] : []));
    expect(steps.length).toBe(writes || 2);
    for (const i of steps) {
      const m = machine('nvidia-l40s-vfio');
      await setup(m);
      const before = treeState(m.root);
      const death: Death = { atStep: i, after: 0, dead: false, faultOnly: true };
      const r = await m.run(['host', 'apply', '-f', FILE, '-c', config, '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
      expect(death.faulted, `step ${i} was reached`).toBe(true);
      expect(r.code, `failure at step ${i} (${plan[i]!.title}): ${JSON.stringify(r.doc?.data?.applied?.rollback)}`).toBe(1);
      expect(r.doc.data).toMatchObject({ changed: false, failed: true, msg: expect.stringContaining('apply failed and was rolled back') });
      expect(treeDiff(before, treeState(m.root)), `host after a failure at step ${i} (${plan[i]!.title})`).toEqual([]);
    }
  });

  it('a kill at any step of a type change is found by the next run and undone by `recover`', async () => {
    const plan = (await run(machine('nvidia-l40s-vfio'), 'apply', 'four-q', '--dry-run')).doc.data.steps as { kind: string; title: string }[];
    for (const i of plan.flatMap((st, n) => (st.kind === 'write' ? [n] : []))) for (const after of [0, 1]) {
      const m = machine('nvidia-l40s-vfio');
      const before = treeState(m.root);
      const death: Death = { atStep: i, after, dead: false };
      await m.run(['host', 'apply', '-f', FILE, '-c', 'four-q', '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
      if (!death.dead) {
        expect(after, `the kill at step ${i} happened`).toBe(1);
        continue;
      }
      const next = await run(m, 'apply', 'four-q', '--yes');
      expect(next.code, `the run after a kill at step ${i}`).toBe(1);
      const r = await m.run(['recover', '--yes', '--json']);
      expect(r.code, `recover after a kill at step ${i}: ${JSON.stringify(r.doc)}`).toBe(0);
      expect(treeDiff(before, treeState(m.root)), `host after a kill at step ${i}+${after} (${plan[i]!.title}) and recover`).toEqual([]);
    }
  });

  it('export writes the vGPUs per type id, and assert on the export passes', async () => {
    const m = machine('nvidia-l40s-vfio');
    expect((await run(m, 'apply', 'four', '--yes')).code).toBe(0);
    const r = await m.run(['host', 'export', '-c', 'here']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`      - select: { address: "${PF}" }\n        sriov: { vfs: 32 }\n        vgpu:\n          - { type: 1152, count: 4 }   # NVIDIA L40S-8Q\n`);
    expect(loadHostConfigText(r.stdout).problems).toEqual([]);
    const file = configFile(r.stdout);
    expect((await m.run(['host', 'assert', '-f', file, '-c', 'here', '--json'])).code).toBe(0);
    m.host.writeAttr(vgpuTypePath(VF[3]!), '0');
    expect((await m.run(['host', 'assert', '-f', file, '-c', 'here', '--json'])).code).toBe(1);
  });

  it('VFs this apply makes: once they exist, a second change gives them their vGPUs (the driver lists types only then); a dry run says so', async () => {
    const m = machine('nvidia-vgpu-host');
    const f = configFile(`${HEAD}  x:\n    devices:\n      - select: { address: "${PF}" }\n        sriov: { vfs: 32 }\n        vgpu: [{ type: L40S-8Q, count: 2 }]\n`);
    const d = await m.run(['host', 'diff', '-f', f, '-c', 'x', '--json']);
    expect(d.doc.data.problems).toEqual([]);
    expect(d.doc.data.differences.map((x: { field: string; before: unknown; after: unknown }) => [x.field, x.before, x.after])).toEqual([['vfs', 0, 32], ['vgpu', {}, { 'L40S-8Q': 2 }]]);
    const dry = await m.run(['host', 'apply', '-f', f, '-c', 'x', '--dry-run', '--json']);
    expect(dry.doc.warnings).toContain(`${PF}: this apply makes its VFs, and the driver lists their vGPU types once they exist: apply the config again for its vGPUs`);
    expect(dry.doc.data.steps.some((s: { title: string }) => /vGPU|vgpu/.test(s.title))).toBe(false);
    const r = await m.run(['host', 'apply', '-f', f, '-c', 'x', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`the VFs of ${PF} exist now: planning what the config says of them`);
    expect(r.doc.warnings.join('\n')).not.toContain('apply the config again');
    expect(r.doc.data.firstChange).toEqual({ steps: expect.any(Number), applied: true });
    expect(r.doc.data.changed).toBe(true);
    expect(r.doc.data.msg).toMatch(/then, once its VFs existed, \d+ step\(s\)/);
    // The diff is from before the first change.
    expect(r.doc.data.differences.map((x: { field: string }) => x.field)).toEqual(['vfs', 'vgpu']);
    expect(documentFor('host apply')!.safeParse(r.doc).error).toBeUndefined();
    const vfs = (m.host.list(`/sys/bus/pci/devices/${PF}`) ?? []).filter((e) => /^virtfn\d+$/.test(e));
    expect(vfs).toHaveLength(32);
    const made = vfs.map((e) => readAttr(m.host, vgpuTypePath(m.host.readLink(`/sys/bus/pci/devices/${PF}/${e}`)!.split('/').pop()!)));
    expect(made.filter((t) => t === '1152')).toHaveLength(2);
    expect(made.filter((t) => t === '0')).toHaveLength(30);
    expect((await m.run(['host', 'assert', '-f', f, '-c', 'x', '--json'])).code).toBe(0);
    const again = await m.run(['host', 'apply', '-f', f, '-c', 'x', '--yes', '--json']);
    expect([again.code, again.doc.data.changed, again.doc.data.firstChange]).toEqual([0, false, undefined]);
  });

  it('a GPU without vGPU types: a problem naming why, nothing changes', async () => {
    const m = machine('navi10-single-gpu');
    const f = configFile(`${HEAD}  x:\n    devices:\n      - select: { all: true }\n        vgpu: [{ type: 1, count: 1 }]\n`);
    const r = await m.run(['host', 'apply', '-f', f, '-c', 'x', '--yes', '--json']);
    expect(r.code).toBe(7);
    expect(r.doc.data.problems).toEqual([expect.stringMatching(/offers no vGPU types: vgpu needs a vGPU host driver/)]);
    expect(m.host.writes).toEqual([]);
  });
});

describe('host config vgpu (mediated devices: NVIDIA before 6.8, GVT-g)', () => {
  const MDEV = configFile(`${HEAD}  t4:
    devices:
      - select: { id: "10de:1eb8" }
        vgpu: [{ type: GRID T4-1Q, count: 3 }]
  t4-none:
    devices:
      - select: { id: "10de:1eb8" }
        vgpu: [{ type: nvidia-222, count: 0 }]
  a40:
    devices:
      - select: { address: "${PF}" }
        sriov: { vfs: 32 }
        vgpu: [{ type: nvidia-557, count: 3 }]
  gvtg:
    devices:
      - select: { address: "0000:00:02.0" }
        vgpu: [{ type: GVTg_V5_4, count: 2 }]
  gvtg-three:
    devices:
      - select: { address: "0000:00:02.0" }
        vgpu: [{ type: i915-GVTg_V5_4, count: 3 }]
`);
  const mrun = (m: M, cmd: string, config: string, ...more: string[]) => m.run(['host', cmd, '-f', MDEV, '-c', config, ...more, '--json']);
  const uuids = (m: M) => (m.host.list('/sys/bus/mdev/devices') ?? []).sort();

  it.each([
    ['nvidia-t4-mdev', 't4', 'GRID T4-1Q (nvidia-222)', 1, 3],
    ['nvidia-a40-mdev', 'a40', 'NVIDIA A40-8Q (nvidia-557)', 1, 3],
    ['intel-gvtg-desktop', 'gvtg', 'GVTg_V5_4 (i915-GVTg_V5_4)', 0, 2],
  ] as const)('%s: diff, apply, assert 0, a second apply is no change, export asserts; a removed instance is a difference', async (fixture, config, type, had, want) => {
    const m = machine(fixture);
    const d = await mrun(m, 'diff', config);
    expect(d.code).toBe(0);
    expect(d.doc.data.differences).toEqual([expect.objectContaining({ field: 'vgpu', before: had ? { [type]: had } : {}, after: { [type]: want } })]);
    expect((await mrun(m, 'assert', config)).code).toBe(1);
    const r = await mrun(m, 'apply', config, '--yes');
    expect(r.code, r.stdout).toBe(0);
    expect(documentFor('host apply')!.safeParse(r.doc).error).toBeUndefined();
    expect(uuids(m)).toHaveLength(want);
    expect((await mrun(m, 'assert', config)).code).toBe(0);
    expect((await mrun(m, 'apply', config, '--yes')).doc.data).toMatchObject({ changed: false, noop: true });
    // The UUIDs come from parent, type and number: the same on another node.
    const other = machine(fixture);
    expect((await mrun(other, 'apply', config, '--yes')).code).toBe(0);
    expect(uuids(other)).toEqual(uuids(m));

    const e = await m.run(['host', 'export', '-c', 'here']);
    expect(e.stdout).toMatch(new RegExp(`        vgpu:\n          - \{ type: "[^"]+", count: ${want} \}   # `));
    expect((await m.run(['host', 'assert', '-f', configFile(e.stdout), '-c', 'here', '--json'])).code).toBe(0);

    const gone = uuids(m)[0]!;
    expect((await m.run(['vgpu', 'remove', gone, '--yes', '--json'])).code).toBe(0);
    const drift = await mrun(m, 'assert', config);
    expect(drift.code).toBe(1);
    expect(drift.doc.data.differences).toEqual([expect.objectContaining({ field: 'vgpu', before: { [type]: want - 1 }, after: { [type]: want } })]);
    expect((await mrun(m, 'apply', config, '--yes')).code).toBe(0);
    expect(uuids(m)).toContain(gone);
  });

  it('count 0 removes the instances; no room is a refusal that says so, and nothing changes', async () => {
    const m = machine('nvidia-t4-mdev');
    expect(uuids(m)).toHaveLength(1);
    expect((await mrun(m, 'apply', 't4-none', '--yes')).code).toBe(0);
    expect(uuids(m)).toEqual([]);
    expect((await mrun(m, 'assert', 't4-none')).code).toBe(0);
    const g = machine('intel-gvtg-desktop');
    const r = await mrun(g, 'apply', 'gvtg-three', '--yes');
    expect(r.code).toBe(7);
    expect(r.doc.data.problems).toEqual([expect.stringContaining('its mediated device parents have no room for 1 more GVTg_V5_4 (i915-GVTg_V5_4)')]);
    expect(g.host.writes).toEqual([]);
  });

  it('a failure at any step is undone: the instances as before', async () => {
    for (const [fixture, config] of [['nvidia-t4-mdev', 't4'], ['nvidia-t4-mdev', 't4-none'], ['nvidia-a40-mdev', 'a40']] as const) {
      const plan = (await mrun(machine(fixture), 'apply', config, '--dry-run')).doc.data.steps as { kind: string; title: string }[];
      const steps = plan.flatMap((st, i) => (['write', 'exec', 'file', 'remove-file'].includes(st.kind) ? [i] : []));
      expect(steps.length, `${fixture} ${config}`).toBeGreaterThan(0);
      for (const i of steps) {
        const m = machine(fixture);
        const before = treeState(m.root);
        const death: Death = { atStep: i, after: 0, dead: false, faultOnly: true };
        const r = await m.run(['host', 'apply', '-f', MDEV, '-c', config, '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
        expect(death.faulted, `${config}: step ${i} was reached`).toBe(true);
        expect(r.code, `${config}: failure at step ${i} (${plan[i]!.title})`).toBe(1);
        expect(treeDiff(before, treeState(m.root)), `${config}: host after a failure at step ${i} (${plan[i]!.title})`).toEqual([]);
      }
    }
  });
});
