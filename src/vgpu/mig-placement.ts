// Placing a MIG-backed vGPU type (`<board>-<slices>-<GB>C`) for `vgpu create`: the driver lists
// such a type as creatable only while a GPU instance of its profile is free, and picks that
// instance itself (nvidia/gpu_instance_id is its answer), so gpuvirt explains a missing
// instance with the command that makes one, and checks the driver's choice when one is asked.
import type { Ctx } from '../context.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import { paths } from '../host/paths.js';
import type { ChangePlan, Refusal } from '../change/types.js';
import type { Undo } from '../change/undo.js';
import type { Step } from '../mutate/steps.js';
import { gpuInstancesOf, readMig } from '../sharing/mig.js';
import type { VgpuDevice } from '../sharing/vgpu.js';
import type { VgpuView } from './change.js';

type Vf = VgpuDevice['vfs'][number];

/**
 * Why a MIG-backed type cannot be placed, and the command that makes room: the driver lists a
 * MIG-backed type as creatable only while a GPU instance of its profile is free (and picks that
 * instance itself: gpu_instance_id is an output), so "not creatable" means "no such instance".
 */
export async function migHint(ctx: Ctx, gpu: string, profile: string): Promise<string> {
  const report = await readMig(ctx.exec);
  const g = report.known ? report.gpus.find((x) => x.address === gpu) : null;
  const make = `\`gpuvirt vgpu mig create ${gpu} --profile ${profile}\``;
  if (g && g.current !== 'Enabled') {
    return `a MIG-backed type needs MIG mode (${gpu}: ${g.current}${g.pending !== g.current ? `, pending ${g.pending}` : ''}): \`gpuvirt vgpu mig enable ${gpu}\`, then ${make}`;
  }
  const used = g ? ` (GPU instances now: ${[...gpuInstancesOf(g).keys()].join(', ') || 'none'})` : '';
  return `it needs a free GPU instance of profile ${profile}${used}: ${make} makes one`;
}

/** --gpu-instance N: N must exist and hold no vGPU; the driver's choice is checked after the write. */
export async function requireInstance(ctx: Ctx, gpu: VgpuDevice, vf: Vf, gi: number, profile: string | null): Promise<{ refusals: Refusal[]; steps: Step[] }> {
  if (profile === null) throw new GpuvirtError('E_USAGE', '--gpu-instance is for MIG-backed types (names like H100-1-10C)', { exitCode: ExitCode.usage });
  const report = await readMig(ctx.exec);
  const g = report.known ? report.gpus.find((x) => x.address === gpu.address) : null;
  if (!g) throw new GpuvirtError('E_MIG_UNKNOWN', `MIG state of ${gpu.address} is unknown${report.known ? '' : `: ${report.reason}`}`, { exitCode: ExitCode.unsupported });
  if (!gpuInstancesOf(g).has(gi)) {
    throw new GpuvirtError('E_NO_GPU_INSTANCE', `${gpu.address} has no GPU instance ${gi} (with a compute instance)`, { exitCode: ExitCode.unsupported, hint: `\`gpuvirt vgpu mig create ${gpu.address} --profile ${profile}\` makes one` });
  }
  const taken = gpu.vfs.filter((v) => v.address !== vf.address && v.current && v.gpuInstanceId === gi);
  const refusals: Refusal[] = taken.map((v) => ({ code: 'gpu-instance-taken', address: v.address, force: null, message: `GPU instance ${gi} already carries the vGPU of VF ${v.address}` }));
  const path = paths.pciAttr(vf.address, 'nvidia/gpu_instance_id');
  const undo: Undo[] = [{ kind: 'restore-vgpu-type', vf: vf.address, type: vf.current }];
  return { refusals, steps: [{ kind: 'verify-text', path, contains: [String(gi)], absent: [], title: `the driver placed the vGPU of VF ${vf.address} on GPU instance ${gi}`, undo }] };
}

/** The placement check goes right after the type's own read-back. */
export function withInstance(plan: ChangePlan<VgpuView>, check: Step[], gi: number | null): ChangePlan<VgpuView> {
  if (!check.length || !plan.steps.length) return plan;
  const at = plan.steps.findIndex((s) => s.kind === 'verify-text') + 1;
  return { ...plan, steps: [...plan.steps.slice(0, at), ...check, ...plan.steps.slice(at)], view: { ...plan.view, gpuInstance: gi } };
}
