// `gpuvirt vgpu mig enable|disable|create|destroy` as changes. MIG has no sysfs interface: the
// state comes from nvidia-smi's CSV and XML (src/sharing/mig.ts) and every change is an
// nvidia-smi run through the exec seam (NVIDIA MIG user guide, "Getting Started with MIG"):
//   nvidia-smi -i BUS -mig 1|0                  mode, pending until the GPU resets
//   nvidia-smi mig -i BUS -cgi ID,... -C        GPU instances, each with its full compute instance
//   nvidia-smi mig -i BUS -gi N -dci | -dgi     a GPU instance's compute instances, then the instance
// Each run is followed by a verify-mig step that asks nvidia-smi again, and undone by data: the
// mode set back, the instances made destroyed, the instances destroyed made again.
// A mode change takes effect only when the driver can reset the GPU: nothing may hold it (a
// process with /dev/nvidia* open, nvidia-persistenced included, a VM on a VF, a vGPU on a VF).
import type { Ctx } from '../context.js';
import { ExitCode, GpuvirtError, usageError } from '../errors.js';
import type { ChangePlan, Refusal } from '../change/types.js';
import type { Step } from '../mutate/steps.js';
import { findHoldersWhere, type Holder } from '../detect/usage.js';
import { readVirtfns } from '../detect/pci.js';
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { parseAddress } from '../pci/address.js';
import { assertDevicesExist } from '../passthrough/resolve.js';
import { rowFor, type MigProfile } from '../sharing/families.js';
import { gpuInstancesOf, readMig, smiBusId, type MigGpu, type MigMode } from '../sharing/mig.js';
import { migCandidates } from '../sharing/vgpu.js';
import { vfHolders } from './change.js';

export interface MigView {
  action: 'enable' | 'disable' | 'create' | 'destroy';
  gpu: string;
  /** MIG mode as nvidia-smi showed it when planned. */
  current: MigMode;
  pending: MigMode;
  /** GPU instances when planned (id and compute instances). */
  gpuInstances: { id: number; computeInstances: number[] }[];
  /** create: the profiles asked for; destroy: the instances' profiles where known. */
  profiles: { name: string | null; id: number | null }[];
  /** destroy: the GPU instances asked for. */
  destroy: number[];
  /** What keeps the GPU from resetting (a mode change stays pending while any is there). */
  holders: { pid: number; comm: string; file: string }[];
  /** After the run, as nvidia-smi shows it. */
  after: { current: MigMode; pending: MigMode; gpuInstances: number[] } | null;
  /** The mode asked for is set but waits for a GPU reset (reboot, or nothing holding the GPU). */
  pendingReset: boolean;
}

export interface MigState {
  gpu: string;
  mig: MigGpu;
  profiles: readonly MigProfile[];
}

/** The GPU and its MIG state from nvidia-smi; a one-line error when it has no MIG or nvidia-smi cannot tell. */
export async function readMigState(ctx: Ctx, device: string): Promise<MigState> {
  const gpu = parseAddress(device).full;
  assertDevicesExist(ctx.host, [gpu]);
  const cand = migCandidates(ctx.host).find((g) => g.address === gpu);
  if (!cand) {
    throw new GpuvirtError('E_NO_MIG', `${gpu} is not an NVIDIA GPU with MIG on the nvidia driver`, {
      exitCode: ExitCode.unsupported, hint: '`gpuvirt doctor` says which sharing strategies each GPU has (MIG: A100, A30, H100)',
    });
  }
  const report = await readMig(ctx.exec);
  if (!report.known) throw new GpuvirtError('E_MIG_UNKNOWN', `MIG state of ${gpu} is unknown: ${report.reason}`, { exitCode: ExitCode.unsupported, hint: 'MIG is changed and read with nvidia-smi (the NVIDIA driver\'s tools)' });
  const mig = report.gpus.find((g) => g.address === gpu);
  if (!mig) throw new GpuvirtError('E_MIG_UNKNOWN', `nvidia-smi does not list ${gpu}`, { exitCode: ExitCode.unsupported });
  return { gpu, mig, profiles: rowFor(cand.vendorId, cand.deviceId, 'mig')?.migProfiles ?? [] };
}

/** Processes with one of NVIDIA's device nodes open, and VMs on the GPU's VFs. */
export function gpuHolders(ctx: Ctx, gpu: string): Holder[] {
  const nodes = findHoldersWhere(ctx.host, (t) => /^\/dev\/nvidia(\d+|ctl|-uvm|-uvm-tools|-modeset|-caps\/.*)$/.test(t));
  return [...nodes, ...readVirtfns(ctx.host, gpu).flatMap((vf) => vfHolders(ctx.host, vf))];
}

/** VFs holding a vGPU (current_vgpu_type not 0), with the GPU instance it sits on where the driver says. */
function vgpusOn(ctx: Ctx, gpu: string): { vf: string; gi: number | null }[] {
  return readVirtfns(ctx.host, gpu).flatMap((vf) => {
    const t = readAttr(ctx.host, paths.pciAttr(vf, 'nvidia/current_vgpu_type'));
    if (t === null || t === '0') return [];
    const gi = readAttr(ctx.host, paths.pciAttr(vf, 'nvidia/gpu_instance_id'));
    return [{ vf, gi: gi !== null && /^\d+$/.test(gi) ? Number(gi) : null }];
  });
}

function view(s: MigState, action: MigView['action'], holders: Holder[]): MigView {
  const gis = gpuInstancesOf(s.mig);
  return {
    action, gpu: s.gpu, current: s.mig.current, pending: s.mig.pending,
    gpuInstances: [...gis.entries()].sort(([a], [b]) => a - b).map(([id, cis]) => ({ id, computeInstances: cis })),
    profiles: [], destroy: [], holders: holders.map((h) => ({ pid: h.pid, comm: h.comm, file: h.file })), after: null, pendingReset: false,
  };
}

const who = (hs: Holder[]) => hs.map((h) => `${h.comm} (pid ${h.pid}, ${h.file})`).join(', ');

export function planMigMode(ctx: Ctx, s: MigState, on: boolean): ChangePlan<MigView> {
  const want: MigMode = on ? 'Enabled' : 'Disabled';
  const holders = gpuHolders(ctx, s.gpu);
  const v = view(s, on ? 'enable' : 'disable', holders);
  if (s.mig.current === want && s.mig.pending === want) return { view: v, steps: [], question: '' };
  const refusals: Refusal[] = [];
  const vgpus = vgpusOn(ctx, s.gpu);
  if (vgpus.length) {
    refusals.push({ code: 'vgpu-exists', address: s.gpu, force: null, message: `${vgpus.map((x) => x.vf).join(', ')} hold vGPUs: a MIG mode change resets the GPU under them; remove them first (\`gpuvirt vgpu remove VF\`)` });
  }
  if (!on && v.gpuInstances.length) {
    refusals.push({ code: 'gpu-instances', address: s.gpu, force: null, message: `${s.gpu} has GPU instances ${v.gpuInstances.map((g) => g.id).join(', ')}: destroy them first (\`gpuvirt vgpu mig destroy ${s.gpu} --gpu-instance ${v.gpuInstances.map((g) => g.id).join(',')}\`)` });
  }
  if (holders.length) {
    refusals.push({ code: 'gpu-in-use', address: s.gpu, message: `${s.gpu} is held by ${who(holders)}: the driver cannot reset it, so the mode would stay pending`,
      force: 'set the mode anyway: it stays pending until the GPU is reset (a reboot, or once nothing holds it)' });
  }
  const bus = smiBusId(s.gpu);
  const back = s.mig.pending === 'Enabled' ? '1' : '0';
  const steps: Step[] = [
    { kind: 'exec', argv: ['nvidia-smi', '-i', bus, '-mig', on ? '1' : '0'], title: `${on ? 'enable' : 'disable'} MIG mode on ${s.gpu}`,
      undo: [{ kind: 'run', argv: ['nvidia-smi', '-i', bus, '-mig', back], title: `set MIG mode of ${s.gpu} back to ${s.mig.pending}` }] },
    { kind: 'verify-mig', gpu: s.gpu, pending: want, title: `nvidia-smi shows MIG ${want} (pending) on ${s.gpu}` },
  ];
  return { view: v, steps, refusals, blockedExit: refusals.some((r) => r.force === null) ? ExitCode.refused : ExitCode.busy, question: `${on ? 'Enable' : 'Disable'} MIG mode on ${s.gpu}?` };
}

/** `1g.10gb,9` → the board's profiles, by name or id. */
export function resolveProfiles(s: MigState, asked: readonly string[]): MigProfile[] {
  return asked.map((a) => {
    const p = s.profiles.find((x) => x.name === a || String(x.id) === a);
    if (p) return p;
    if (!s.profiles.length && /^\d+$/.test(a)) return { name: `profile ${a}`, id: Number(a), instances: 1 };
    throw usageError(`--profile ${a}: not a GPU instance profile of ${s.gpu}`, s.profiles.length ? `it has ${s.profiles.map((x) => `${x.name} (${x.id})`).join(', ')}` : 'this board is not in gpuvirt\'s table: give profile ids (`nvidia-smi mig -lgip` lists them)');
  });
}

function needMigOn(s: MigState): Refusal[] {
  if (s.mig.current === 'Enabled') return [];
  const pending = s.mig.pending === 'Enabled' ? ' (enabled, pending a GPU reset: reboot, or stop what holds the GPU)' : `: \`gpuvirt vgpu mig enable ${s.gpu}\` first`;
  return [{ code: 'mig-disabled', address: s.gpu, force: null, message: `MIG mode is ${s.mig.current} on ${s.gpu}${pending}` }];
}

export function planMigCreate(ctx: Ctx, s: MigState, asked: readonly string[]): ChangePlan<MigView> {
  const profiles = resolveProfiles(s, asked);
  const v = { ...view(s, 'create', []), profiles: profiles.map((p) => ({ name: p.name, id: p.id })) };
  const keep = v.gpuInstances.map((g) => g.id);
  const steps: Step[] = [
    { kind: 'exec', argv: ['nvidia-smi', 'mig', '-i', smiBusId(s.gpu), '-cgi', profiles.map((p) => p.id).join(','), '-C'],
      title: `create GPU instance${profiles.length > 1 ? 's' : ''} ${profiles.map((p) => p.name).join(', ')} on ${s.gpu}, each with its compute instance`,
      undo: [{ kind: 'restore-mig', gpu: s.gpu, keep }] },
    { kind: 'verify-mig', gpu: s.gpu, gpuInstances: keep.length + profiles.length, title: `nvidia-smi shows ${keep.length + profiles.length} GPU instances on ${s.gpu}` },
  ];
  return { view: v, steps, refusals: needMigOn(s), question: `Create ${profiles.map((p) => p.name).join(', ')} on ${s.gpu}?` };
}

/** A GPU instance's profile from its memory, when exactly one of the board's profiles has that size. */
function profileByMemory(s: MigState, memoryMiB: number | null): MigProfile | null {
  if (memoryMiB === null) return null;
  const gb = Math.round(memoryMiB / 1024 / 5) * 5;
  const hits = s.profiles.filter((p) => Number(/\.(\d+)gb/.exec(p.name)?.[1]) === gb);
  return hits.length === 1 ? hits[0]! : null;
}

export function planMigDestroy(ctx: Ctx, s: MigState, ids: readonly number[], named: readonly string[]): ChangePlan<MigView> {
  const gis = gpuInstancesOf(s.mig);
  const missing = ids.filter((id) => !gis.has(id));
  if (missing.length) {
    throw new GpuvirtError('E_NO_GPU_INSTANCE', `${s.gpu} has no GPU instance ${missing.join(', ')}`, { exitCode: ExitCode.usage, hint: `it has ${[...gis.keys()].join(', ') || 'none'} (\`gpuvirt vgpu status ${s.gpu}\`)` });
  }
  if (named.length && named.length !== ids.length) throw usageError('--profile: name one profile per GPU instance, in the same order');
  const given = named.length ? resolveProfiles(s, named) : [];
  const profiles = ids.map((id, i) => given[i] ?? profileByMemory(s, s.mig.devices.find((d) => d.gpuInstanceId === id)?.memoryMiB ?? null));
  const v = { ...view(s, 'destroy', []), destroy: [...ids], profiles: profiles.map((p) => ({ name: p?.name ?? null, id: p?.id ?? null })) };
  const refusals: Refusal[] = [...needMigOn(s)];
  for (const x of vgpusOn(ctx, s.gpu).filter((x) => x.gi !== null && ids.includes(x.gi))) {
    refusals.push({ code: 'vgpu-on-instance', address: x.vf, force: null, message: `VF ${x.vf}'s vGPU sits on GPU instance ${x.gi}: remove it first (\`gpuvirt vgpu remove ${x.vf}\`)` });
  }
  const unknown = ids.filter((_, i) => !profiles[i]);
  if (unknown.length) {
    refusals.push({ code: 'profile-unknown', address: s.gpu,
      message: `nvidia-smi's XML does not name the profile of GPU instance ${unknown.join(', ')}, so a failed run could not make it again: name it with --profile (\`nvidia-smi mig -lgi\` shows it)`,
      force: 'destroy it anyway: if a later step fails, it is not made again' });
  }
  const bus = smiBusId(s.gpu);
  const restore = ids.map((id, i) => ({ id, profile: profiles[i]?.name ?? null, profileId: profiles[i]?.id ?? null }));
  const undo = [{ kind: 'restore-mig' as const, gpu: s.gpu, restore }];
  const steps: Step[] = ids.flatMap((id) => [
    { kind: 'exec' as const, argv: ['nvidia-smi', 'mig', '-i', bus, '-gi', String(id), '-dci'], title: `destroy the compute instances of GPU instance ${id}`, undo },
    { kind: 'exec' as const, argv: ['nvidia-smi', 'mig', '-i', bus, '-gi', String(id), '-dgi'], title: `destroy GPU instance ${id}${profiles[ids.indexOf(id)] ? ` (${profiles[ids.indexOf(id)]!.name})` : ''}`, undo },
  ]);
  steps.push({ kind: 'verify-mig', gpu: s.gpu, absent: [...ids], title: `nvidia-smi no longer shows GPU instance ${ids.join(', ')} on ${s.gpu}` });
  return { view: v, steps, refusals, question: `Destroy GPU instance ${ids.join(', ')} of ${s.gpu}?` };
}

/** After a run: MIG as nvidia-smi shows it now, and whether the mode asked for waits for a reset. */
export async function settleMig(ctx: Ctx, v: MigView): Promise<void> {
  const report = await readMig(ctx.exec);
  const g = report.known ? report.gpus.find((x) => x.address === v.gpu) : null;
  if (!g) return;
  v.after = { current: g.current, pending: g.pending, gpuInstances: [...gpuInstancesOf(g).keys()].sort((a, b) => a - b) };
  v.pendingReset = g.current !== g.pending;
}
