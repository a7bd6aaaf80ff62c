// A device entry's `vgpu` against this host: how many vGPUs of each type the GPU's VFs hold now,
// how many the config wants, and which VFs change. The changes themselves are `vgpu remove` and
// `vgpu create` on named VFs (src/vgpu/change.ts), so refusals (a VF a VM has open, a type no
// free VF can take now) say what they say there. NVIDIA vendor-specific VFIO only: one vGPU per
// VF. Layout rule: VFs that already hold a wanted type keep it (lowest index first, up to the
// count); every other vGPU is removed first; new vGPUs go on the lowest free VFs that list the
// type, then on the VFs just emptied.
import type { Ctx } from '../context.js';
import { GpuvirtError } from '../errors.js';
import type { ChangePlan } from '../change/types.js';
import type { Undo } from '../change/undo.js';
import { readAttr } from '../host/host.js';
import { vgpuTypePath } from '../vgpu/paths.js';
import type { VgpuDevice } from '../sharing/vgpu.js';
import { label, matchType, planVgpuCreate, planVgpuRemove, vendorTypes, vfHolders, type KnownType } from '../vgpu/change.js';
import type { SelectedDevice } from './state.js';

export interface VgpuLayout {
  /** vGPUs per type label ("NVIDIA L40S-8Q (1152)"), now and as the config wants them. */
  before: Record<string, number>;
  after: Record<string, number>;
  /** VFs whose vGPU goes, and the VFs that get one (type id). */
  remove: string[];
  create: { vf: string; type: string }[];
  /** The VFs do not exist yet (this apply makes them): their vGPUs come with the next apply. */
  deferred: boolean;
}

const sorted = (r: Record<string, number>) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));

export function vgpuLayout(d: SelectedDevice, gpus: readonly VgpuDevice[], held: (vf: string) => boolean, problems: string[]): VgpuLayout | null {
  const want = d.want.vgpu ?? [];
  const where = `${d.now.address} (${d.now.name})`;
  const gpu = gpus.find((g) => g.address === d.now.address);
  const deferred = Boolean(d.want.sriov && d.now.sriov && d.want.sriov.vfs !== d.now.sriov.numVfs);
  if (deferred) {
    // The driver lists a VF's types once the VF exists: the counts are compared against no vGPUs.
    const after = sorted(Object.fromEntries(want.filter((w) => w.count > 0).map((w) => [w.type, w.count])));
    return { before: {}, after, remove: [], create: [], deferred: true };
  }
  if (!gpu) {
    problems.push(`${where} offers no vGPU types: vgpu needs NVIDIA's vGPU host driver with its VFs enabled (sriov: { vfs: N }); \`gpuvirt vgpu types\` says what this host offers`);
    return null;
  }
  if (gpu.mechanism !== 'vendor-vfio') {
    problems.push(`${where} makes vGPUs as mediated devices (mdev): host configs set vGPU types on NVIDIA vendor-specific VFIO VFs only for now; use \`gpuvirt vgpu create\` here`);
    return null;
  }
  const known = vendorTypes(gpu);
  const byId = new Map(known.map((t) => [t.id, t]));
  const name = (id: string): string => label(byId.get(id) ?? { id, name: null });
  const types: { type: KnownType; count: number }[] = [];
  for (const w of want) {
    // The lists show what fits beside the vGPUs there are: an id none lists may fit once they are gone (as `vgpu create` on a VF that holds one).
    const t = matchType(known, w.type) ?? (/^[1-9]\d*$/.test(w.type) && gpu.vfs.some((v) => v.current) ? { id: w.type, name: null } : null);
    if (!t) {
      problems.push(`${where}: no VF lists a vGPU type ${JSON.stringify(w.type)} now (they list ${known.map(label).join(', ') || 'none'}; the GPU runs one type at a time: name a type by its id to replace the ones there are)`);
      continue;
    }
    types.push({ type: t, count: w.count });
  }
  if (types.length !== want.length) return null;
  const total = types.reduce((n, t) => n + t.count, 0);
  if (total > gpu.vfs.length) problems.push(`${where} has ${gpu.vfs.length} VFs with vGPU support, one vGPU each: not enough for ${total}`);

  const before: Record<string, number> = {};
  for (const vf of gpu.vfs) if (vf.current) before[name(vf.current)] = (before[name(vf.current)] ?? 0) + 1;
  const after = Object.fromEntries(types.filter((t) => t.count > 0).map((t) => [label(t.type), t.count]));
  const keep = new Set<string>();
  for (const t of types) {
    for (const vf of gpu.vfs.filter((v) => v.current === t.type.id).slice(0, t.count)) keep.add(vf.address);
  }
  const remove = gpu.vfs.filter((v) => v.current && !keep.has(v.address)).map((v) => v.address);
  // Free VFs first, then the ones emptied above; among them, those that list the type now, by index.
  const free = [...gpu.vfs.filter((v) => !v.current && !held(v.address)), ...gpu.vfs.filter((v) => remove.includes(v.address))];
  const create: VgpuLayout['create'] = [];
  for (const t of types) {
    let need = t.count - gpu.vfs.filter((v) => keep.has(v.address) && v.current === t.type.id).length;
    const lists = (v: (typeof free)[number]) => !v.current && v.creatable.some((c) => c.id === t.type.id);
    const order = [...free.filter(lists), ...free.filter((v) => v.current), ...free.filter((v) => !v.current && !lists(v))];
    for (const vf of order) {
      if (need <= 0) break;
      if (create.some((c) => c.vf === vf.address)) continue;
      create.push({ vf: vf.address, type: t.type.id });
      need--;
    }
  }
  // Every removal comes before every creation (a VF given a new type is emptied with the others):
  // the driver runs one type at a time, and the memory freed is there for the new ones.
  return { before: sorted(before), after: sorted(after), remove, create, deferred: false };
}

/** The vgpu remove/create changes for a layout: removals first, so the memory they free is there for the creations. */
export async function planVgpuLayout(ctx: Ctx, layout: VgpuLayout, problems: string[]): Promise<ChangePlan<unknown>[]> {
  const parts: ChangePlan<unknown>[] = [];
  try {
    for (const vf of layout.remove) {
      const plan = planVgpuRemove(ctx, vf);
      // A VF that gets a new type is promised that type, not `0`.
      if (layout.create.some((c) => c.vf === vf)) plan.expect = [];
      parts.push(plan);
    }
    for (const c of layout.create) {
      const plan = await planVgpuCreate(ctx, c.vf, c.type, '');
      // A VF emptied above is empty when its creation runs (the driver refuses `0` on an empty VF).
      if (layout.remove.includes(c.vf)) plan.steps = plan.steps.filter((st) => !(st.kind === 'write' && st.value === '0'));
      parts.push(plan);
    }
    // One undo for the whole layout, the same on each of its steps (so the rollback runs it once):
    // every VF touched emptied first, then the types they held put back. VF by VF would put a type
    // back while another VF still holds a new one, which the driver refuses (one type at a time).
    const touched = [...new Set([...layout.remove, ...layout.create.map((c) => c.vf)])];
    const held = new Map(layout.remove.map((vf) => [vf, readAttr(ctx.host, vgpuTypePath(vf))]));
    const undo: Undo[] = [
      ...touched.map((vf): Undo => ({ kind: 'restore-attr', path: vgpuTypePath(vf), value: '0' })),
      ...[...held].flatMap(([vf, type]): Undo[] => (type && type !== '0' ? [{ kind: 'restore-vgpu-type', vf, type }] : [])),
    ];
    for (const part of parts) {
      for (const st of part.steps) if (st.undo?.some((u) => u.kind === 'restore-vgpu-type')) st.undo = [...st.undo.filter((u) => u.kind !== 'restore-vgpu-type'), ...undo];
    }
  } catch (err) {
    // What `vgpu create` says about a type no VF can take stops the config, with its reason.
    if (!(err instanceof GpuvirtError)) throw err;
    problems.push(`${err.message}${err.hint ? ` (${err.hint})` : ''}`);
    return [];
  }
  return parts;
}

export const vfHeld = (ctx: Ctx) => (vf: string): boolean => vfHolders(ctx.host, vf).length > 0;
