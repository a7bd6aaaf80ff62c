// A device entry's `vgpu` against this host: how many vGPUs of each type the GPU has now, how
// many the config wants, and what changes, through the vendor paths `gpuvirt vgpu` uses:
// - NVIDIA vendor-specific VFIO (kernel 6.8+), one vGPU per VF, made by `vgpu remove|create` on
//   named VFs (src/vgpu/change.ts), so refusals (a VF a VM has open, a type no free VF can take)
//   say what they say there. VFs that already hold a wanted type keep it (lowest index first, up
//   to the count); every other vGPU is removed first; new ones go on the lowest free VFs that
//   list the type, then on the VFs just emptied.
// - mdev (GVT-g, NVIDIA before 6.8): the same rule over mediated devices (mdevLayout), made by
//   the mdev change with UUIDs derived from parent, type and a number (mdevUuid).
import type { Ctx } from '../context.js';
import { GpuvirtError } from '../errors.js';
import type { ChangePlan } from '../change/types.js';
import type { Undo } from '../change/undo.js';
import { readAttr, type Host } from '../host/host.js';
import { readMdevTypes } from '../mdev/types.js';
import { mdevDevice, planMdevCreate } from '../mdev/change.js';
import { vgpuTypePath } from '../vgpu/paths.js';
import type { VgpuDevice } from '../sharing/vgpu.js';
import { label, matchType, planVgpuCreate, planVgpuRemove, vendorTypes, vfHolders, type KnownType } from '../vgpu/change.js';
import type { SelectedDevice } from './state.js';
import { nameUuid } from '../mdev/uuid.js';

export interface VgpuLayout {
  /** vGPUs per type label ("NVIDIA L40S-8Q (1152)"), now and as the config wants them. */
  before: Record<string, number>;
  after: Record<string, number>;
  /** VFs whose vGPU goes, and the VFs that get one (type id). */
  remove: string[];
  create: { vf: string; type: string }[];
  /** The VFs do not exist yet (this apply makes them): their vGPUs come with the next apply. */
  deferred: boolean;
  /** mdev: the instances that go (UUIDs), and the ones made (UUIDs derived from parent, type and a number). */
  mdevRemove?: string[];
  mdevCreate?: { parent: string; type: string; uuid: string; freed: boolean }[];
}

const sorted = (r: Record<string, number>) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));

export function vgpuLayout(host: Host, d: SelectedDevice, gpus: readonly VgpuDevice[], held: (vf: string) => boolean, problems: string[]): VgpuLayout | null {
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
    problems.push(`${where} offers no vGPU types: vgpu needs a vGPU host driver (NVIDIA's, with its VFs enabled: sriov: { vfs: N }; i915 with GVT-g); \`gpuvirt vgpu types\` and \`gpuvirt doctor\` say what this host offers and lacks`);
    return null;
  }
  if (gpu.mechanism !== 'vendor-vfio') return mdevLayout(host, d, gpu, problems);
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

/** A mediated device's UUID from its parent, type and number: the same on every node and every run (version 5 layout, SHA-1). */
export function mdevUuid(parent: string, type: string, n: number): string {
  return nameUuid(`gpuvirt host config mdev\0${parent}\0${type}\0${n}`);
}

/**
 * mdev (GVT-g, NVIDIA before 6.8): instances of a wanted type are kept up to the count (by parent
 * and UUID), every other instance on the GPU's parents goes, and new ones are made on the parents
 * that have room (available_instances, plus what the removals free there), in parent order.
 */
function mdevLayout(host: Host, d: SelectedDevice, gpu: VgpuDevice, problems: string[]): VgpuLayout | null {
  const where = `${d.now.address} (${d.now.name})`;
  const parents = gpu.parents.map((parent) => ({ parent, types: readMdevTypes(host, parent) }));
  const known = new Map<string, KnownType>();
  for (const p of parents) for (const t of p.types) if (!known.has(t.id)) known.set(t.id, { id: t.id, name: t.name });
  const name = (id: string | null) => label(known.get(id ?? '') ?? { id: id ?? '?', name: null });
  const types: { type: KnownType; count: number }[] = [];
  for (const w of d.want.vgpu ?? []) {
    const t = matchType([...known.values()], w.type);
    if (!t) problems.push(`${where}: no mediated device parent of it offers a type ${JSON.stringify(w.type)} (they offer ${[...known.values()].map(label).join(', ') || 'none'})`);
    else types.push({ type: t, count: w.count });
  }
  if (types.length !== (d.want.vgpu ?? []).length) return null;
  const instances = [...gpu.instances].sort((a, b) => a.parent.localeCompare(b.parent) || a.uuid.localeCompare(b.uuid));
  const before: Record<string, number> = {};
  for (const i of instances) before[name(i.type)] = (before[name(i.type)] ?? 0) + 1;
  const after = Object.fromEntries(types.filter((t) => t.count > 0).map((t) => [label(t.type), t.count]));
  const keep = new Set<string>();
  for (const t of types) for (const i of instances.filter((x) => x.type === t.type.id).slice(0, t.count)) keep.add(i.uuid);
  const remove = instances.filter((i) => !keep.has(i.uuid));
  const create: NonNullable<VgpuLayout['mdevCreate']> = [];
  const used = new Set(instances.map((i) => i.uuid));
  for (const t of types) {
    let need = t.count - instances.filter((i) => keep.has(i.uuid) && i.type === t.type.id).length;
    for (const p of parents) {
      const offer = p.types.find((x) => x.id === t.type.id);
      if (!offer) continue;
      const freed = remove.filter((i) => i.parent === p.parent).length;
      let room = (offer.availableInstances ?? 1) + freed - create.filter((c) => c.parent === p.parent).length;
      for (let n = 0; need > 0 && room > 0; n++) {
        const uuid = mdevUuid(p.parent, t.type.id, n);
        if (used.has(uuid) || host.exists(mdevDevice(uuid))) continue;
        used.add(uuid);
        create.push({ parent: p.parent, type: t.type.id, uuid, freed: (offer.availableInstances ?? 1) === 0 });
        need--;
        room--;
      }
    }
    if (need > 0) problems.push(`${where}: its mediated device parents have no room for ${need} more ${label(t.type)} (available_instances, after the removals the config asks for)`);
  }
  return { before: sorted(before), after: sorted(after), remove: [], create: [], deferred: false, mdevRemove: remove.map((i) => i.uuid), mdevCreate: create };
}

/** The vgpu remove/create changes for a layout: removals first, so the memory they free is there for the creations. */
export async function planVgpuLayout(ctx: Ctx, layout: VgpuLayout, problems: string[]): Promise<ChangePlan<unknown>[]> {
  const parts: ChangePlan<unknown>[] = [];
  if (layout.mdevRemove || layout.mdevCreate) {
    try {
      // Removals first: what they free is the room the creations count on.
      parts.push(...(layout.mdevRemove ?? []).map((uuid) => planVgpuRemove(ctx, uuid)));
      for (const c of layout.mdevCreate ?? []) {
        const plan = planMdevCreate(ctx.host, c.parent, c.type, c.uuid, false);
        // "no instances left" counts before the removals above free one on this parent.
        if (c.freed) plan.refusals = (plan.refusals ?? []).filter((r) => r.code !== 'mdev-full');
        parts.push(plan);
      }
    } catch (err) {
      if (!(err instanceof GpuvirtError)) throw err;
      problems.push(`${err.message}${err.hint ? ` (${err.hint})` : ''}`);
      return [];
    }
    return parts;
  }
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
