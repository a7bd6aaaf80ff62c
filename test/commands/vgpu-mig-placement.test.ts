// `gpuvirt vgpu create` of a MIG-backed type (H100-<slices>-<GB>C) on the MIG H100: the driver
// places it on a free GPU instance of the type's profile; gpuvirt plans it, says which instance
// it went on, refuses with the command that makes one when none is free, and with
// --gpu-instance checks the driver's choice.
import { describe, expect, it } from 'vitest';
import { paths } from '../../src/host/paths.js';
import { seedMig } from '../../src/sim/nvidia-smi.js';
import { machine } from '../helpers/sim.js';
import { seedRecordedMig } from '../helpers/recorded-exec.js';

const GPU = '0000:41:00.0';
const VF1 = '0000:41:00.5';

function h100() {
  const m = machine('nvidia-h100-mig');
  seedRecordedMig(m.host, 'nvidia-h100-mig');
  return m;
}
const typeOf = (m: ReturnType<typeof machine>, vf: string) => m.host.readText(paths.pciAttr(vf, 'nvidia/current_vgpu_type'))?.trim();

describe('vgpu create, MIG-backed', () => {
  it('places the type on the free GPU instance of its profile and says which', async () => {
    const m = h100();
    const plan = await m.run(['vgpu', 'create', GPU, '--type', 'H100-1-10C', '--dry-run', '--json']);
    expect(plan.code, plan.stdout).toBe(0);
    expect(plan.doc.data).toMatchObject({ vf: VF1, type: '1060', migProfile: '1g.10gb', gpuInstance: null });
    const r = await m.run(['vgpu', 'create', GPU, '--type', 'H100-1-10C', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data.gpuInstance).toBe(13);
    expect(typeOf(m, VF1)).toBe('1060');
    const status = await m.run(['vgpu', 'status', GPU, '--json']);
    expect(status.doc.data.devices[0].vfs.find((v: { address: string }) => v.address === VF1)).toMatchObject({ currentType: '1060', gpuInstanceId: 13 });
  });

  it('with no free instance of the profile, it refuses and names the command that makes one', async () => {
    const m = h100();
    expect((await m.run(['vgpu', 'create', GPU, '--type', 'H100-1-10C', '--yes'])).code).toBe(0);
    const r = await m.run(['vgpu', 'create', GPU, '--type', 'H100-1-10C', '--yes', '--json']);
    expect(r.code).toBe(8);
    expect(r.doc.error.code).toBe('E_VGPU_UNAVAILABLE');
    expect(r.doc.error.hint).toContain(`gpuvirt vgpu mig create ${GPU} --profile 1g.10gb`);
    // made: the next one goes on the new instance
    expect((await m.run(['vgpu', 'mig', 'create', GPU, '--profile', '1g.10gb', '--yes'])).code).toBe(0);
    const again = await m.run(['vgpu', 'create', GPU, '--type', 'H100-1-10C', '--yes', '--json']);
    expect(again.code, again.stdout).toBe(0);
    expect(again.doc.data.gpuInstance).toBe(2);
  });

  it('on a named VF, a type no list offers gets the same advice', async () => {
    const m = h100();
    const r = await m.run(['vgpu', 'create', VF1, '--type', 'NVIDIA H100-3-40C', '--dry-run', '--json']);
    expect(r.code).toBe(5);
    expect(r.doc.error).toMatchObject({ code: 'E_NO_VGPU_TYPE', hint: expect.stringContaining(`gpuvirt vgpu mig create ${GPU} --profile 3g.40gb`) });
    expect(r.doc.error.hint).toContain('GPU instances now: 1, 5, 13');
  });

  it('with MIG off it says to enable MIG first', async () => {
    const m = machine('nvidia-h100-mig');
    seedMig(m.host, GPU, { current: 'Disabled', pending: 'Disabled', gpuInstances: [] });
    const r = await m.run(['vgpu', 'create', GPU, '--type', 'H100-2-20C', '--dry-run', '--json']);
    expect(r.code).toBe(8);
    expect(r.doc.error.hint).toContain(`gpuvirt vgpu mig enable ${GPU}`);
  });

  it('--gpu-instance checks the driver\'s choice; a different one undoes the vGPU', async () => {
    const m = h100();
    const ok = await m.run(['vgpu', 'create', GPU, '--type', 'H100-2-20C', '--gpu-instance', '5', '--yes', '--json']);
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.doc.data.steps.map((s: { kind: string; path: string }) => `${s.kind} ${s.path.split('/').pop()}`)).toEqual([
      'write current_vgpu_type', 'verify-text current_vgpu_type', 'verify-text gpu_instance_id',
    ]);
    const n = h100();
    const wrong = await n.run(['vgpu', 'create', GPU, '--type', 'H100-2-20C', '--gpu-instance', '13', '--yes', '--json']);
    expect(wrong.code).toBe(1);
    expect(wrong.doc.data.applied.rollback.ok).toBe(true);
    expect(typeOf(n, VF1)).toBe('0');
    expect((await n.run(['vgpu', 'create', GPU, '--type', 'H100-2-20C', '--gpu-instance', '42', '--dry-run'])).stderr).toMatch(/has no GPU instance 42/);
  });
});
