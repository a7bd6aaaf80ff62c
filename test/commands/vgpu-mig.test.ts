// `gpuvirt vgpu mig enable|disable|create|destroy` on the MIG H100 under the simulated kernel,
// whose nvidia-smi starts from the recorded outputs (test/fixtures/exec/nvidia-h100-mig/).
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MIG_MODE_ARGV, MIG_XML_ARGV, parseMigXml, parseModeCsv } from '../../src/sharing/mig.js';
import { seedMig } from '../../src/sim/nvidia-smi.js';
import { machine } from '../helpers/sim.js';
import { dying, type Death } from '../helpers/dying.js';
import { EXEC_FIXTURES, seedRecordedMig } from '../helpers/recorded-exec.js';

const GPU = '0000:41:00.0';
const BUS = '00000000:41:00.0';
const VF0 = '0000:41:00.4';

function h100() {
  const m = machine('nvidia-h100-mig');
  seedRecordedMig(m.host, 'nvidia-h100-mig');
  return m;
}
async function layout(m: ReturnType<typeof machine>) {
  const r = await m.exec.run(MIG_XML_ARGV);
  return [...new Set((parseMigXml(r.stdout).get(GPU) ?? []).map((d) => d.gpuInstanceId))].sort((a, b) => a - b);
}
async function mode(m: ReturnType<typeof machine>) {
  const g = parseModeCsv((await m.exec.run(MIG_MODE_ARGV)).stdout).find((x) => x.address === GPU)!;
  return [g.current, g.pending];
}
/** A process holding the GPU's device node, as nvidia-persistenced does. */
function persistenced(m: ReturnType<typeof machine>) {
  mkdirSync(`${m.root}/proc/1234/fd`, { recursive: true });
  writeFileSync(`${m.root}/proc/1234/comm`, 'nvidia-persiste\n');
  symlinkSync('/dev/nvidia0', `${m.root}/proc/1234/fd/3`);
}

describe('simulated nvidia-smi', () => {
  it('answers the MIG queries as recorded on the H100', async () => {
    const m = h100();
    const recorded = (f: string) => readFileSync(`${EXEC_FIXTURES}nvidia-h100-mig/${f}`, 'utf8');
    expect(parseModeCsv((await m.exec.run(MIG_MODE_ARGV)).stdout)).toEqual(parseModeCsv(recorded('mig-mode.csv')));
    expect(parseMigXml((await m.exec.run(MIG_XML_ARGV)).stdout)).toEqual(parseMigXml(recorded('query.xml')));
  });
});

describe('vgpu mig create', () => {
  it('plans one nvidia-smi run, its verification, and the undo that destroys what it made', async () => {
    const m = h100();
    const r = await m.run(['vgpu', 'mig', 'create', GPU, '--profile', '1g.10gb', '--dry-run', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data.steps.map((s: { kind: string; argv?: string[]; undo?: unknown }) => [s.kind, s.argv ?? null, s.undo ?? null])).toEqual([
      ['exec', ['nvidia-smi', 'mig', '-i', BUS, '-cgi', '19', '-C'], [{ kind: 'restore-mig', gpu: GPU, keep: [1, 5, 13] }]],
      ['verify-mig', null, null],
    ]);
    expect(r.doc.data.profiles).toEqual([{ name: '1g.10gb', id: 19 }]);
    expect(await layout(m)).toEqual([1, 5, 13]);
  });

  it('creates the instance, verified by nvidia-smi, and `vgpu status` shows it', async () => {
    const m = h100();
    const r = await m.run(['vgpu', 'mig', 'create', GPU, '--profile', '1g.10gb', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data.after).toEqual({ current: 'Enabled', pending: 'Enabled', gpuInstances: [1, 2, 5, 13] });
    const status = await m.run(['vgpu', 'status', GPU, '--json']);
    expect(status.doc.data.mig[0].gpuInstances.map((g: { id: number }) => g.id)).toEqual([1, 2, 5, 13]);
  });

  it('a profile that no longer fits fails in nvidia-smi; what the run made is destroyed again', async () => {
    const m = h100();
    // 3g + 2g + 1g use 6 of 7 slices: the 1g.10gb fits, the 3g.40gb after it does not
    const r = await m.run(['vgpu', 'mig', 'create', GPU, '--profile', '1g.10gb,3g.40gb', '--yes', '--json']);
    expect(r.code).toBe(1);
    expect(r.doc.data.applied.steps[0].error).toMatch(/Insufficient Resources/);
    expect(r.doc.data.applied.rollback.ok).toBe(true);
    expect(await layout(m)).toEqual([1, 5, 13]);
  });

  it('a failed verification undoes the new instance', async () => {
    const m = h100();
    const death: Death = { atStep: 1, after: 0, dead: false, faultOnly: true };
    const r = await m.run(['vgpu', 'mig', 'create', GPU, '--profile', '1g.10gb', '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
    expect(death.faulted).toBe(true);
    expect(r.code).toBe(1);
    expect(r.doc.data.applied.rollback.ok).toBe(true);
    expect(await layout(m)).toEqual([1, 5, 13]);
  });

  it('a run killed after nvidia-smi made the instance is undone by `recover`', async () => {
    const m = h100();
    const death: Death = { atStep: 1, after: 0, dead: false };
    await m.run(['vgpu', 'mig', 'create', GPU, '--profile', '1g.10gb', '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
    expect(death.dead).toBe(true);
    expect(await layout(m)).toEqual([1, 2, 5, 13]);
    const r = await m.run(['recover', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(await layout(m)).toEqual([1, 5, 13]);
  });

  it('with MIG off, it is refused with the command that turns it on', async () => {
    const m = machine('nvidia-h100-mig');
    seedMig(m.host, GPU, { current: 'Disabled', pending: 'Disabled', gpuInstances: [] });
    const r = await m.run(['vgpu', 'mig', 'create', GPU, '--profile', '1g.10gb', '--dry-run', '--json']);
    expect(r.code).toBe(7);
    expect(r.doc.error.message).toContain(`gpuvirt vgpu mig enable ${GPU}`);
  });

  it.each([
    [['create', GPU], /needs --profile/],
    [['create', GPU, '--profile', '9g.9gb'], /not a GPU instance profile of 0000:41:00.0/],
    [['destroy', GPU], /needs --gpu-instance/],
    [['grow', GPU], /not a MIG action/],
    [['enable', '0000:c1:00.0'], /not an NVIDIA GPU with MIG/],
  ])('%j is a one-line error', async (args, message) => {
    const m = h100();
    const r = await m.run(['vgpu', 'mig', ...args, '--dry-run']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('vgpu mig destroy', () => {
  it('destroys a GPU instance (compute instances first); --profile makes it undoable', async () => {
    const m = h100();
    const plan = await m.run(['vgpu', 'mig', 'destroy', GPU, '--gpu-instance', '13', '--profile', '1g.10gb', '--dry-run', '--json']);
    expect(plan.doc.data.steps.map((s: { argv?: string[] }) => s.argv?.slice(-3) ?? null)).toEqual([['-gi', '13', '-dci'], ['-gi', '13', '-dgi'], null]);
    expect(plan.doc.data.steps[0].undo).toEqual([{ kind: 'restore-mig', gpu: GPU, restore: [{ id: 13, profile: '1g.10gb', profileId: 19 }] }]);
    const r = await m.run(['vgpu', 'mig', 'destroy', GPU, '--gpu-instance', '13', '--profile', '1g.10gb', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(await layout(m)).toEqual([1, 5]);
  });

  it('when the instance cannot be destroyed, its compute instance is made again', async () => {
    const m = h100();
    m.exec.failOn({ argv: ['nvidia-smi', 'mig', '-i', BUS, '-gi', '5', '-dgi'], exitCode: 1, stderr: 'Unable to destroy GPU instance ID 5: In use by another client', times: 1 });
    const r = await m.run(['vgpu', 'mig', 'destroy', GPU, '--gpu-instance', '5', '--profile', '2g.20gb', '--yes', '--json']);
    expect(r.code).toBe(1);
    expect(r.doc.data.applied.rollback.ok, JSON.stringify(r.doc.data.applied.rollback)).toBe(true);
    expect(await layout(m)).toEqual([1, 5, 13]);
  });

  it('without a known profile it is refused (--force goes ahead); an instance under a vGPU never', async () => {
    const m = h100();
    const r = await m.run(['vgpu', 'mig', 'destroy', GPU, '--gpu-instance', '13', '--dry-run', '--json']);
    expect(r.code).toBe(7);
    expect(r.doc.data.refusals.map((x: { code: string; force: string | null }) => [x.code, x.force !== null])).toEqual([['profile-unknown', true]]);
    const vgpu = await m.run(['vgpu', 'mig', 'destroy', GPU, '--gpu-instance', '1', '--profile', '3g.40gb', '--dry-run', '--json']);
    expect(vgpu.code).toBe(7);
    expect(vgpu.doc.data.refusals).toEqual([expect.objectContaining({ code: 'vgpu-on-instance', address: VF0, force: null })]);
    expect((await m.run(['vgpu', 'mig', 'destroy', GPU, '--gpu-instance', '99', '--dry-run'])).stderr).toMatch(/has no GPU instance 99/);
  });
});

describe('vgpu mig enable|disable', () => {
  it('disable is refused while GPU instances and vGPUs exist; enable has nothing to do', async () => {
    const m = h100();
    const r = await m.run(['vgpu', 'mig', 'disable', GPU, '--dry-run', '--json']);
    expect(r.code).toBe(7);
    expect(r.doc.data.refusals.map((x: { code: string }) => x.code)).toEqual(['vgpu-exists', 'gpu-instances']);
    expect((await m.run(['vgpu', 'mig', 'enable', GPU, '--dry-run', '--json'])).doc.data.noop).toBe(true);
  });

  it('enables MIG on an idle GPU: in effect at once', async () => {
    const m = machine('nvidia-h100-mig');
    seedMig(m.host, GPU, { current: 'Disabled', pending: 'Disabled', gpuInstances: [] });
    expect((await m.run(['vgpu', 'remove', VF0, '--yes'])).code).toBe(0);
    const r = await m.run(['vgpu', 'mig', 'enable', GPU, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data.steps[0].argv).toEqual(['nvidia-smi', '-i', BUS, '-mig', '1']);
    expect(r.doc.data.steps[0].undo).toEqual([{ kind: 'run', argv: ['nvidia-smi', '-i', BUS, '-mig', '0'], title: `set MIG mode of ${GPU} back to Disabled` }]);
    expect(r.doc.data.after).toMatchObject({ current: 'Enabled', pending: 'Enabled' });
    expect(r.doc.data.pendingReset).toBe(false);
  });

  it('names what holds the GPU; with --force the mode is set but pending, and says so', async () => {
    const m = machine('nvidia-h100-mig');
    seedMig(m.host, GPU, { current: 'Disabled', pending: 'Disabled', gpuInstances: [] });
    expect((await m.run(['vgpu', 'remove', VF0, '--yes'])).code).toBe(0);
    persistenced(m);
    const refused = await m.run(['vgpu', 'mig', 'enable', GPU, '--yes', '--json']);
    expect(refused.code).toBe(8);
    expect(refused.doc.data.refusals[0]).toMatchObject({ code: 'gpu-in-use', force: expect.stringContaining('pending') });
    expect(refused.doc.data.holders).toEqual([{ pid: 1234, comm: 'nvidia-persiste', file: '/dev/nvidia0' }]);
    expect(await mode(m)).toEqual(['Disabled', 'Disabled']);
    const r = await m.run(['vgpu', 'mig', 'enable', GPU, '--yes', '--force', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data.pendingReset).toBe(true);
    expect(r.doc.data.after).toMatchObject({ current: 'Disabled', pending: 'Enabled' });
    expect(r.doc.warnings.join(' ')).toContain('pending until the GPU is reset');
    expect((await m.run(['vgpu', 'mig', 'enable', GPU, '--yes', '--force'])).stdout).toContain('pending');
  });

  it('a failed verification sets the mode back', async () => {
    const m = machine('nvidia-h100-mig');
    seedMig(m.host, GPU, { current: 'Disabled', pending: 'Disabled', gpuInstances: [] });
    expect((await m.run(['vgpu', 'remove', VF0, '--yes'])).code).toBe(0);
    const death: Death = { atStep: 1, after: 0, dead: false, faultOnly: true };
    const r = await m.run(['vgpu', 'mig', 'enable', GPU, '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
    expect(r.code).toBe(1);
    expect(r.doc.data.applied.rollback.ok).toBe(true);
    expect(await mode(m)).toEqual(['Disabled', 'Disabled']);
  });
});

describe('vgpu mig --json documents', () => {
  it('match the published schema: plan, applied, refused, rolled back, usage error', async () => {
    const { validate } = await import('../helpers/json-schema.js');
    const m = h100();
    const schema = JSON.parse((await m.run(['schema', 'vgpu', 'mig'])).stdout);
    const docs = [
      await m.run(['vgpu', 'mig', 'create', GPU, '--profile', '1g.10gb', '--dry-run', '--json']),
      await m.run(['vgpu', 'mig', 'create', GPU, '--profile', '1g.10gb', '--yes', '--json']),
      await m.run(['vgpu', 'mig', 'disable', GPU, '--yes', '--json']),
      await m.run(['vgpu', 'mig', 'create', GPU, '--profile', '7g.80gb', '--yes', '--json']),
      await m.run(['vgpu', 'mig', 'destroy', GPU, '--json']),
    ];
    expect(docs.map((d) => d.code)).toEqual([0, 0, 7, 1, 2]);
    for (const d of docs) expect(validate(schema, d.doc, { closed: true }), d.stdout).toEqual([]);
  });
});
