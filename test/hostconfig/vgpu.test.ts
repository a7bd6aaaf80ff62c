// A host config's vgpu on the simulated kernel: vGPUs per type on an NVIDIA GPU's VFs (vendor-
// specific VFIO), made by the same changes as `vgpu remove|create`, shown by diff, checked by
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

  it('VFs this apply makes: their vGPUs are a difference, left for the next apply with a warning (the driver lists types once the VFs exist)', async () => {
    const m = machine('nvidia-vgpu-host');
    const f = configFile(`${HEAD}  x:\n    devices:\n      - select: { address: "${PF}" }\n        sriov: { vfs: 32 }\n        vgpu: [{ type: L40S-8Q, count: 2 }]\n`);
    const d = await m.run(['host', 'diff', '-f', f, '-c', 'x', '--json']);
    expect(d.doc.data.problems).toEqual([]);
    expect(d.doc.data.differences.map((x: { field: string; before: unknown; after: unknown }) => [x.field, x.before, x.after])).toEqual([['vfs', 0, 32], ['vgpu', {}, { 'L40S-8Q': 2 }]]);
    const r = await m.run(['host', 'apply', '-f', f, '-c', 'x', '--yes', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.warnings).toContain(`${PF}: this apply makes its VFs, and the driver lists their vGPU types once they exist: apply the config again for its vGPUs`);
    expect(r.doc.data.steps.some((s: { title: string }) => /vGPU|vgpu/.test(s.title))).toBe(false);
    // Not done until the vGPUs are there: assert says so (here the VFs have no vGPU attributes at all).
    expect((await m.run(['host', 'assert', '-f', f, '-c', 'x', '--json'])).code).toBe(1);
  });

  it('a GPU that makes vGPUs as mediated devices, or none: a problem naming why, nothing changes', async () => {
    for (const fixture of ['nvidia-a40-mdev', 'nvidia-t4-mdev', 'intel-gvtg-desktop']) {
      const m = machine(fixture);
      const f = configFile(`${HEAD}  x:\n    devices:\n      - select: { all: true }\n        vgpu: [{ type: 1, count: 1 }]\n`);
      const r = await m.run(['host', 'apply', '-f', f, '-c', 'x', '--yes', '--json']);
      expect(r.code, fixture).toBe(7);
      const problems: string[] = r.doc.data.problems;
      expect(problems.length, fixture).toBeGreaterThan(0);
      for (const p of problems) expect(p, fixture).toMatch(/makes vGPUs as mediated devices \(mdev\)|offers no vGPU types/);
      // The GPU with mdev types is named as such, not as offering none.
      expect(problems.some((p) => p.includes('mediated devices')), fixture).toBe(true);
      expect(m.host.writes, fixture).toEqual([]);
    }
  });
});
