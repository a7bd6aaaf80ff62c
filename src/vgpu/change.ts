// `gpuvirt vgpu create|remove` as changes, over both mechanisms, chosen per GPU:
// - NVIDIA vendor-specific VFIO (kernel >= 6.8): the type id written to a VF's
//   nvidia/current_vgpu_type; `0` first when the VF holds another type (the driver refuses a
//   type on a VF that has one); `0` removes it, written again while the driver says EBUSY (it
//   may, right after QEMU lets go: Proxmox retries 10 times a second apart). Undo: the VF's type
//   as it was. A VF a VM has open is never touched: the driver refuses (EBUSY), and the VM
//   would lose its GPU.
// - mdev (GVT-g, NVIDIA before 6.8): the mdev change (src/mdev/change.ts) on the right parent.
import { linkName } from '../host/host.js';
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import { findHolders, type Holder } from '../detect/usage.js';
import type { Ctx } from '../context.js';
import type { ChangePlan, Refusal } from '../change/types.js';
import type { Undo } from '../change/undo.js';
import type { Step } from '../mutate/steps.js';
import { parseAddress } from '../pci/address.js';
import { assertDevicesExist } from '../passthrough/resolve.js';
import { readMdevTypes } from '../mdev/types.js';
import { planMdevCreate, planMdevRemove, type MdevView } from '../mdev/change.js';
import { readVgpuDevices, type VgpuDevice } from '../sharing/vgpu.js';
import { vgpuTypePath } from './paths.js';
import { migProfileOfType } from '../sharing/mig.js';
import { migHint, requireInstance, withInstance } from './mig-placement.js';
import { readState } from '../state.js';
import { planRecordEdit } from '../hostconfig/early.js';
import { keptAtBoot, type DeviceEdit, type VgpuWant } from '../hostconfig/record.js';
import { readPf } from '../sriov/detect.js';

export interface VgpuView {
  action: 'create' | 'remove';
  mechanism: 'vendor-vfio' | 'mdev';
  /** The GPU (PF). */
  gpu: string | null;
  /** vendor-vfio: the VF the vGPU is on. */
  vf: string | null;
  /** gpuvirt chose the VF (none was named). */
  chosen: boolean;
  /** mdev: the instance and its parent. */
  uuid: string | null;
  parent: string | null;
  type: string | null;
  typeName: string | null;
  /** The type the VF held before (replaced by create, removed by remove). */
  previous: string | null;
  previousName: string | null;
  /** A MIG-backed type: the GPU instance profile it lives on (`1g.10gb`), else null. */
  migProfile?: string | null;
  /** The GPU instance asked for (--gpu-instance), or, after the run, the one the driver chose. */
  gpuInstance?: number | null;
}

/** Proxmox's cleanup_pci_devices: up to 10 writes of `0`, a second apart. */
export const REMOVE_RETRY = { attempts: 10, delayMs: 1000, errnos: ['EBUSY'] };

type Vf = VgpuDevice['vfs'][number];

/** Processes with the VF's VFIO device open (its group, or its vfio-dev cdev): a VM using it. */
export function vfHolders(host: Host, vf: string): Holder[] {
  const group = linkName(host, paths.pciAttr(vf, 'iommu_group'));
  const cdevs = (host.list(paths.pciAttr(vf, 'vfio-dev')) ?? []).map((n) => `/dev/vfio/devices/${n}`);
  return findHolders(host, [...(group === null ? [] : [paths.devVfioGroup(Number(group))]), ...cdevs]);
}

function heldRefusal(host: Host, vf: string): Refusal[] {
  const holders = vfHolders(host, vf);
  if (!holders.length) return [];
  const who = holders.map((h) => `${h.comm} (pid ${h.pid})`).join(', ');
  return [{ code: 'vf-vfio-held', address: vf, force: null, message: `VF ${vf} is open through VFIO by ${who}: its vGPU is in use (the driver answers EBUSY); stop the VM first` }];
}

const noVgpu = (what: string) => new GpuvirtError('E_NO_VGPU', `${what} offers no vGPU types`, {
  exitCode: ExitCode.unsupported,
  hint: '`gpuvirt doctor` says how each GPU can be shared and what is missing (driver, VFs, kernel)',
});

/** The GPU a device argument names (the GPU, one of its VFs or mdev parents), or the only vGPU GPU. */
export function resolveGpu(ctx: Ctx, device: string | undefined): { gpu: VgpuDevice; named: string | null } {
  const all = readVgpuDevices(ctx.host);
  if (device === undefined) {
    if (all.length === 1) return { gpu: all[0]!, named: null };
    if (!all.length) throw noVgpu('no GPU on this host');
    throw new GpuvirtError('E_AMBIGUOUS', `several GPUs offer vGPUs: ${all.map((g) => g.address).join(', ')}`, {
      exitCode: ExitCode.usage, hint: 'name the GPU or one of its VFs, e.g. `gpuvirt vgpu create 41:00.0 --type 1152`',
    });
  }
  const addr = parseAddress(device).full;
  assertDevicesExist(ctx.host, [addr]);
  const gpu = all.find((d) => d.address === addr || d.vfs.some((v) => v.address === addr) || d.parents.includes(addr));
  if (!gpu) throw noVgpu(addr);
  return { gpu, named: addr === gpu.address && !gpu.parents.includes(addr) ? null : addr };
}

export interface KnownType {
  id: string;
  name: string | null;
}

/** A type by its id (1152, nvidia-222) or its name, with or without the vendor's prefix (NVIDIA L40S-8Q, L40S-8Q). */
export function matchType(known: readonly KnownType[], asked: string): KnownType | null {
  const bare = (s: string) => s.trim().toLowerCase().replace(/^(nvidia|grid)\s+/, '');
  return known.find((t) => t.id === asked) ?? known.find((t) => t.name !== null && bare(t.name) === bare(asked)) ?? null;
}

export const label = (t: KnownType) => (t.name ? `${t.name} (${t.id})` : `type ${t.id}`);

export function vendorTypes(gpu: VgpuDevice): KnownType[] {
  const out = new Map<string, KnownType>();
  for (const vf of gpu.vfs) {
    for (const t of vf.creatable) out.set(t.id, { id: t.id, name: t.name });
    if (vf.current && !out.has(vf.current)) out.set(vf.current, { id: vf.current, name: vf.currentName });
  }
  return [...out.values()];
}

function vendorSteps(vf: string, type: KnownType, previous: KnownType | null): Step[] {
  const path = vgpuTypePath(vf);
  const undo: Undo[] = [{ kind: 'restore-vgpu-type', vf, type: previous?.id ?? null }];
  const steps: Step[] = [];
  if (previous) {
    steps.push({ kind: 'write', path, value: '0', title: `remove ${label(previous)} from VF ${vf} first: the driver takes a type only on a VF without one`, undo });
  }
  steps.push(
    { kind: 'write', path, value: type.id, title: `create ${label(type)} on VF ${vf}`, undo },
    { kind: 'verify-text', path, contains: [type.id], absent: [], title: `VF ${vf} reads back type ${type.id}`, undo },
  );
  return steps;
}

function vendorView(gpu: VgpuDevice, vf: Vf, type: KnownType | null, action: VgpuView['action'], chosen: boolean): VgpuView {
  return {
    action, mechanism: 'vendor-vfio', gpu: gpu.address, vf: vf.address, chosen, uuid: null, parent: null,
    type: type?.id ?? null, typeName: type?.name ?? null, previous: vf.current, previousName: vf.current ? vf.currentName : null,
    migProfile: type?.name ? migProfileOfType(type.name) : null, gpuInstance: null,
  };
}

async function planVendorCreate(ctx: Ctx, gpu: VgpuDevice, named: string | null, asked: string, persist: boolean, gi: number | null): Promise<ChangePlan<VgpuView>> {
  const known = vendorTypes(gpu);
  const held = named === null ? null : gpu.vfs.find((v) => v.address === named && v.current);
  // The lists show what fits beside the vGPUs there are: a VF being emptied may take an id no list shows yet.
  const type = matchType(known, asked) ?? (held && /^[1-9]\d*$/.test(asked) ? { id: asked, name: null } : null);
  const offered = (vf: Vf) => type !== null && vf.creatable.some((t) => t.id === type.id);
  const listing = (vf: Vf | null) => {
    const ts = vf ? vf.creatable : gpu.vfs.filter((v) => !v.current).flatMap((v) => v.creatable);
    return [...new Set(ts.map((t) => `${t.name} (${t.id})`))].join(', ') || 'nothing';
  };
  if (named === null) {
    // The first free VF that offers the type and that no process has open.
    const vf = gpu.vfs.find((v) => !v.current && offered(v) && !vfHolders(ctx.host, v.address).length);
    const migProfile = migProfileOfType(type?.name ?? asked);
    if (!vf || !type) {
      throw new GpuvirtError('E_VGPU_UNAVAILABLE', `no free VF of ${gpu.address} can take ${type ? label(type) : asked} now`, {
        exitCode: ExitCode.busy,
        hint: migProfile
          ? `${type ? label(type) : asked} is MIG-backed: ${await migHint(ctx, gpu.address, migProfile)}; the free VFs offer ${listing(null)}`
          : `the free VFs offer ${listing(null)}; the GPU runs one vGPU type at a time, as many as its memory holds (\`gpuvirt vgpu status ${gpu.address}\`)`,
      });
    }
    const need = gi === null ? { refusals: [], steps: [] } : await requireInstance(ctx, gpu, vf, gi, migProfile);
    return withInstance(createOn(ctx, gpu, vf, type, true, need.refusals, [], persist), need.steps, gi);
  }
  const vf = gpu.vfs.find((v) => v.address === named);
  if (!vf) throw new GpuvirtError('E_NO_VGPU', `${named} is not a VF of ${gpu.address} with NVIDIA's vGPU attributes`, { exitCode: ExitCode.unsupported, hint: 'name one of the VFs `gpuvirt vgpu status` lists, or the GPU to let gpuvirt choose' });
  const migProfile = migProfileOfType(type?.name ?? asked);
  if (!type) {
    throw new GpuvirtError('E_NO_VGPU_TYPE', `no VF of ${gpu.address} lists a vGPU type ${JSON.stringify(asked)}`, {
      exitCode: ExitCode.unsupported, hint: `${vf.address} offers ${listing(vf)} now${migProfile ? `; ${asked} is MIG-backed: ${await migHint(ctx, gpu.address, migProfile)}` : ''}`,
    });
  }
  const refusals: Refusal[] = [];
  const warnings: string[] = [];
  if (!vf.current && !offered(vf)) {
    const why = migProfile ? `it is MIG-backed: ${await migHint(ctx, gpu.address, migProfile)}` : 'the GPU runs one vGPU type at a time, as many as its memory holds';
    refusals.push({ code: 'type-not-creatable', address: vf.address, force: null, message: `VF ${vf.address} cannot take ${label(type)} now: it offers ${listing(vf)} (${why})` });
  }
  if (vf.current && vf.current !== type.id && !offered(vf)) {
    warnings.push(`${vf.address} lists what fits while it holds ${vf.current}: if ${type.id} does not fit once it is free, the write fails and ${vf.current} is put back`);
  }
  const need = gi === null ? { refusals: [], steps: [] } : await requireInstance(ctx, gpu, vf, gi, migProfile);
  return withInstance(createOn(ctx, gpu, vf, type, false, [...refusals, ...need.refusals], warnings, persist), need.steps, gi);
}


function createOn(ctx: Ctx, gpu: VgpuDevice, vf: Vf, type: KnownType, chosen: boolean, refusals: Refusal[], warnings: string[] = [], persist = false): ChangePlan<VgpuView> {
  const view = vendorView(gpu, vf, type, 'create', chosen);
  const path = vgpuTypePath(vf.address);
  const expect = [{ fact: { kind: 'attr' as const, path }, value: type.id }];
  const previous = vf.current && vf.current !== type.id ? { id: vf.current, name: vf.currentName } : null;
  const steps = vf.current === type.id ? [] : vendorSteps(vf.address, type, previous);
  // --persist: the GPU's vGPUs per type in the boot record (host.yaml); gpuvirt-host.service makes them at boot.
  const boot = persist ? planRecordEdit(ctx, vgpuEdits(ctx, gpu, vf, type, 'create')) : null;
  const blocking = steps.length ? [...refusals, ...heldRefusal(ctx.host, vf.address)] : [];
  if (boot) steps.push(...boot.steps);
  return {
    view, steps,
    refusals: [...blocking, ...(boot?.refusals ?? [])],
    blockedExit: refusals.length ? ExitCode.unsupported : ExitCode.busy,
    question: previous ? `Replace ${label(previous)} on ${vf.address} with ${label(type)}?` : `Create ${label(type)} on ${vf.address}?`,
    expect, warnings: [...warnings, ...(boot?.warnings ?? [])],
    ...(boot ? { state: boot.state } : {}),
  };
}

const sameType = (w: VgpuWant, t: KnownType): boolean => {
  const name = t.name?.toLowerCase();
  const wt = w.type.toLowerCase();
  return wt === t.id.toLowerCase() || (!!name && (wt === name || `nvidia ${wt}` === name));
};

/**
 * The record's vGPUs of a GPU after `create` or `remove` on one VF. The record keeps vGPUs per
 * GPU and type, as a host config does (which VF carries one is chosen again at boot): with
 * --persist, each type the change touches is recorded with as many vGPUs as the GPU carries
 * after it (so a second identical --persist changes nothing). A GPU whose VFs the record does
 * not make yet gets its VF count recorded too: its vGPUs live on them.
 */
function vgpuEdits(ctx: Ctx, gpu: VgpuDevice, vf: Vf, type: KnownType | null, action: 'create' | 'remove'): DeviceEdit[] {
  const kept = keptAtBoot(ctx, readState(ctx.host));
  const now = kept.vgpu.get(gpu.address) ?? [];
  const list = now.map((w) => ({ ...w }));
  const carried = (id: string) => gpu.vfs.filter((v) => (v.address === vf.address ? (action === 'create' ? type!.id : null) : v.current) === id).length;
  const previous = vf.current ? { id: vf.current, name: vf.currentName } : null;
  if (previous && previous.id !== type?.id) {
    const w = list.find((x) => sameType(x, previous));
    if (w) w.count = carried(previous.id);
  }
  if (action === 'create' && type) {
    const w = list.find((x) => sameType(x, type));
    if (w) w.count = carried(type.id);
    else list.push({ type: type.id, count: carried(type.id) });
  }
  const next = list.filter((w) => w.count > 0);
  if (JSON.stringify(next) === JSON.stringify(now)) return [];
  const numVfs = readPf(ctx.host, gpu.address)?.sriov.numVfs ?? 0;
  const vfs = action === 'create' && !kept.sriov.has(gpu.address) && numVfs > 0 ? { sriov: { vfs: numVfs } } : {};
  return [{ address: gpu.address, vgpu: next.length ? next : null, ...vfs }];
}

function mdevVgpuView(gpu: VgpuDevice | null, v: MdevView, typeName: string | null): VgpuView {
  return {
    action: v.action, mechanism: 'mdev', gpu: gpu?.address ?? null, vf: null, chosen: false, uuid: v.uuid, parent: v.parent,
    type: v.type, typeName, previous: null, previousName: null,
  };
}

function planMdevVgpuCreate(ctx: Ctx, gpu: VgpuDevice, named: string | null, asked: string, uuid: string, persist: boolean): ChangePlan<VgpuView> {
  const parents = (named ? [named] : gpu.parents).map((parent) => ({ parent, types: readMdevTypes(ctx.host, parent) }));
  const offers = parents.flatMap((p) => {
    const t = matchType(p.types.map((x) => ({ id: x.id, name: x.name })), asked);
    const full = p.types.find((x) => x.id === t?.id);
    return t && full ? [{ parent: p.parent, type: t, available: full.availableInstances }] : [];
  });
  if (!offers.length) {
    const all = [...new Set(parents.flatMap((p) => p.types.map((t) => `${t.name ?? t.id} (${t.id})`)))].join(', ');
    throw new GpuvirtError('E_NO_MDEV_TYPE', `${named ?? gpu.address} offers no mediated device type ${JSON.stringify(asked)}`, { exitCode: ExitCode.unsupported, hint: `it offers ${all || 'none'}` });
  }
  const pick = offers.find((o) => o.available === null || o.available > 0) ?? offers[0]!;
  const plan = planMdevCreate(ctx.host, pick.parent, pick.type.id, uuid, persist, { command: 'vgpu create', profile: null, since: (ctx.clock?.() ?? new Date()).toISOString() });
  return { ...plan, view: mdevVgpuView(gpu, plan.view, pick.type.name) };
}

/** `vgpu create`: the plan for the GPU or VF named (or the only vGPU GPU), on its mechanism. */
export async function planVgpuCreate(ctx: Ctx, device: string | undefined, asked: string, uuid: string, persist = false, gi: number | null = null): Promise<ChangePlan<VgpuView>> {
  const { gpu, named } = resolveGpu(ctx, device);
  if (gpu.mechanism === 'vendor-vfio') return planVendorCreate(ctx, gpu, named, asked, persist, gi);
  if (gi !== null) throw new GpuvirtError('E_USAGE', '--gpu-instance is for NVIDIA vendor-specific VFIO vGPUs (MIG-backed types)', { exitCode: ExitCode.usage });
  return planMdevVgpuCreate(ctx, gpu, named, asked, uuid, persist);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `vgpu remove`: a mediated device by UUID, or the vGPU on a VF by its address. */
export function planVgpuRemove(ctx: Ctx, target: string, persist = false): ChangePlan<VgpuView> {
  if (UUID.test(target)) {
    // A mediated device's mdevctl definition always goes with it (--persist changes nothing here).
    const plan = planMdevRemove(ctx.host, target.toLowerCase());
    const gpu = readVgpuDevices(ctx.host).find((d) => plan.view.parent !== null && d.parents.includes(plan.view.parent)) ?? null;
    const name = gpu?.instances.find((i) => i.uuid === plan.view.uuid)?.typeName ?? null;
    return { ...plan, view: mdevVgpuView(gpu, plan.view, name) };
  }
  const { gpu, named } = resolveGpu(ctx, target);
  const vf = gpu.vfs.find((v) => v.address === named);
  if (gpu.mechanism !== 'vendor-vfio' || !vf) {
    throw new GpuvirtError('E_USAGE', `${parseAddress(target).full} holds no vGPU of its own: name a VF (vendor-specific VFIO) or a mediated device's UUID`, {
      exitCode: ExitCode.usage, hint: '`gpuvirt vgpu status` lists the vGPUs with their VF or UUID',
    });
  }
  const path = vgpuTypePath(vf.address);
  const previous = vf.current ? { id: vf.current, name: vf.currentName } : null;
  const view = vendorView(gpu, vf, null, 'remove', false);
  const expect = [{ fact: { kind: 'attr' as const, path }, value: '0' }];
  const kept = keptAtBoot(ctx, readState(ctx.host)).vgpu.get(gpu.address)?.find((w) => previous && sameType(w, previous));
  const steps: Step[] = [];
  if (previous) {
    const undo: Undo[] = [{ kind: 'restore-vgpu-type', vf: vf.address, type: previous.id }];
    steps.push(
      { kind: 'write', path, value: '0', retry: REMOVE_RETRY, title: `remove ${label(previous)} from VF ${vf.address}`, undo },
      { kind: 'verify-text', path, contains: ['0'], absent: [], title: `VF ${vf.address} reads back 0 (no vGPU)`, undo },
    );
  }
  // --persist: the GPU's count of that type in the boot record becomes what it carries after this.
  const boot = persist ? planRecordEdit(ctx, vgpuEdits(ctx, gpu, vf, null, 'remove')) : null;
  if (boot) steps.push(...boot.steps);
  const warnings = kept && previous && !persist
    ? [`${vf.address} stays persisted: the next boot makes ${kept.count} vGPU(s) of ${label(previous)} on ${gpu.address} again (--persist records the count without it)`]
    : [...(boot?.warnings ?? [])];
  return {
    view, steps, warnings,
    refusals: [...(previous ? heldRefusal(ctx.host, vf.address) : []), ...(boot?.refusals ?? [])], blockedExit: ExitCode.busy,
    question: previous ? `Remove ${label(previous)} from ${vf.address}?` : `Remove nothing from ${vf.address} (it has no vGPU)?`,
    expect,
    ...(boot ? { state: boot.state } : {}),
  };
}
