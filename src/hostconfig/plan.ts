// `host apply` as one change, concatenated from the planners the single commands use, in the
// order a host needs them: boot configuration (kernel parameters, vfio modules: setup's
// planner), SR-IOV VF counts (VFs must exist before they are bound), vGPU types on VFs
// (`vgpu remove|create`), then passthrough bindings. Nothing here writes: the change engine runs the plan.
import type { Ctx } from '../context.js';
import { combine } from '../change/combine.js';
import type { ChangePlan, Refusal } from '../change/types.js';
import { planPassthrough } from '../passthrough/change.js';
import { planSriovDisable, planSriovEnable } from '../sriov/change.js';
import { readPf } from '../sriov/detect.js';
import type { Inspection } from './inspect.js';

export function planHostApply<V>(ctx: Ctx, view: V, inspection: Inspection, configName: string, force: boolean): ChangePlan<V> {
  const parts: ChangePlan<unknown>[] = [];
  const refusals: Refusal[] = inspection.problems.map((message) => ({ code: 'host-config', message, force: null }));
  if (inspection.setup) parts.push(inspection.setup);
  const bind: Record<'vfio-pci' | 'pci-stub', string[]> = { 'vfio-pci': [], 'pci-stub': [] };
  for (const d of inspection.devices) {
    const w = d.want;
    if (w.driver && d.now.driver !== w.driver) bind[w.driver].push(d.now.address);
    if (!w.sriov || !d.now.sriov) continue;
    const pf = readPf(ctx.host, d.now.address);
    if (!pf) continue;
    if (pf.sriov.numVfs !== w.sriov.vfs) {
      parts.push(w.sriov.vfs === 0 ? planSriovDisable(ctx, pf, false) : planSriovEnable(ctx, pf, { numVfs: w.sriov.vfs, bind: w.sriov.vfDriver ?? null, persist: false, noPersistFiles: true }));
    } else if (w.sriov.vfDriver) {
      // The count is right, the VFs are not on their driver: each VF is bound alone, as passthrough binds a VF.
      bind[w.sriov.vfDriver].push(...pf.vfs.filter((v) => v.driver !== w.sriov!.vfDriver).map((v) => v.address));
    }
  }
  // vGPUs on VFs that exist (a VF count changed here is a VF that does not exist yet).
  parts.push(...inspection.vgpu);
  for (const driver of ['vfio-pci', 'pci-stub'] as const) {
    if (bind[driver].length) parts.push(planPassthrough(ctx, { addresses: bind[driver], driver, force, persist: false }));
  }
  const plan = combine(view, parts, '');
  if (inspection.vgpuDeferred.length) {
    plan.warnings = [...(plan.warnings ?? []), ...inspection.vgpuDeferred.map((a) => `${a}: this apply makes its VFs, and the driver lists their vGPU types once they exist: apply the config again for its vGPUs`)];
  }
  if (inspection.vfDeferred.length) {
    plan.warnings = [...(plan.warnings ?? []), ...inspection.vfDeferred.map(({ vf, pf }) => `${vf}: a VF this apply makes (of ${pf}): apply the config again for its own entry once it exists`)];
  }
  plan.refusals = [...refusals, ...(plan.refusals ?? [])];
  plan.question = `Apply ${plan.steps.length} steps to make this host match config ${configName}?`;
  return plan;
}
