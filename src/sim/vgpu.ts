// NVIDIA vGPU on the vendor-specific VFIO framework (kernel >= 6.8, vGPU 17+): each SR-IOV VF
// bound to nvidia has nvidia/current_vgpu_type, whose ->store creates or destroys the VF's vGPU,
// and nvidia/creatable_vgpu_types, the types a free VF could take now.
//
// What the store does, from two NVIDIA sources that differ in details:
// - NVIDIA's host driver (vgpu vfio-pci-core glue, 2022): kstrtol(buf, 10) (garbage: EINVAL);
//   0 removes the VF's vGPU, EPERM when it has none ("No vGPU exists on current device");
//   a type id on a VF that already has a vGPU: EPERM ("vGPU device already created"), hence
//   Proxmox's `0` first; the creatable list is asked of the resource manager for the VF, and
//   printed as "ID    : vGPU Name" then "%-5d : %s" lines.
// - NVIDIA's upstream proposal (vfio/nvidia-vgpu sysfs.c, 2025): EBUSY while the VF's VFIO
//   device is open (a VM runs on it); an id the GPU does not know: ENODEV; the homogeneous
//   rule, one vGPU type per GPU at a time: another type than the one running: EINVAL; when
//   max_instance of it exist: ENOSPC; the creatable list is every type while no vGPU exists on
//   the GPU, then only the running type while another instance fits, then nothing.
// Modelled: the first source's EPERMs and list format (with its header always, as the fixtures
// record it), the second's EBUSY, ENODEV, EINVAL, ENOSPC and homogeneous rule, for the boards
// in BOARDS; every VF of the GPU shows the GPU-wide list (the second source shows a VF that has
// a vGPU an empty one; the first asks the driver, whose answer is not in the source).
// max_instance is assumed: the board's memory over the type's frame buffer, at most one per VF.
// MIG-backed types (MIG_BOARDS, with MIG state from the simulated nvidia-smi): a type
// `<board>-<slices>-<GB>C` lives on a GPU instance of profile `<slices>g.<GB>gb`; the driver
// picks a free one (with a compute instance, no vGPU on it) and shows it in the VF's
// gpu_instance_id, an output (harvester/pcidevices gpuhelper reads it; it reads ENXIO without a
// vGPU, modelled as absent); creatable lists show the types with a free
// instance; none free: ENOSPC (the driver's errno here is not in the sources: modelled).
// Left out: mixed-size (heterogeneous) mode; on boards in neither table the lists are left as
// they are and a type must be in the VF's own list (EINVAL).
import * as nodePath from 'node:path';
import { linkName, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { readVirtfns } from '../detect/pci.js';
import type { Kern } from './drivers.js';
import { chomp, fail } from './state.js';
import { migProfileOfType } from '../sharing/mig.js';

interface Board {
  memoryGiB: number;
  /** [id, name] as creatable_vgpu_types lists them on a GPU without vGPUs. */
  types: [number, string][];
}

/** harvester/pcidevices pkg/util/gpuhelper testdata: an L40S VF's creatable_vgpu_types. */
const L40S: [number, string][] = [
  [1145, 'NVIDIA L40S-1B'], [1146, 'NVIDIA L40S-2B'], [1147, 'NVIDIA L40S-1Q'], [1148, 'NVIDIA L40S-2Q'],
  [1149, 'NVIDIA L40S-3Q'], [1150, 'NVIDIA L40S-4Q'], [1151, 'NVIDIA L40S-6Q'], [1152, 'NVIDIA L40S-8Q'],
  [1153, 'NVIDIA L40S-12Q'], [1154, 'NVIDIA L40S-16Q'], [1155, 'NVIDIA L40S-24Q'], [1156, 'NVIDIA L40S-48Q'],
  [1157, 'NVIDIA L40S-1A'], [1158, 'NVIDIA L40S-2A'], [1159, 'NVIDIA L40S-3A'], [1160, 'NVIDIA L40S-4A'],
  [1161, 'NVIDIA L40S-6A'], [1162, 'NVIDIA L40S-8A'], [1163, 'NVIDIA L40S-12A'], [1164, 'NVIDIA L40S-16A'],
  [1165, 'NVIDIA L40S-24A'], [1166, 'NVIDIA L40S-48A'], [2164, 'NVIDIA L40S-3B'],
];

/** MIG-backed types of an H100 80GB (ids as the nvidia-h100-mig fixture has them; illustrative). */
const H100_MIG: [number, string][] = [
  [1060, 'NVIDIA H100-1-10C'], [1061, 'NVIDIA H100-2-20C'], [1062, 'NVIDIA H100-1-20C'], [1063, 'NVIDIA H100-3-40C'],
  [1064, 'NVIDIA H100-4-40C'], [1065, 'NVIDIA H100-7-80C'],
];
const MIG_BOARDS: Record<string, [number, string][]> = { '10de:2331': H100_MIG };

/** PF vendor:device → the board's vGPU types. */
const BOARDS: Record<string, Board> = { '10de:26b9': { memoryGiB: 48, types: L40S } };

const HEADER = 'ID    : vGPU Name\n';

/** True for <device>/nvidia/current_vgpu_type. */
export function isVgpuTypeStore(file: string): boolean {
  return nodePath.basename(file) === 'current_vgpu_type' && nodePath.basename(nodePath.dirname(file)) === 'nvidia';
}

const attr = (vf: string, name: string) => paths.pciAttr(vf, `nvidia/${name}`);

const boardId = (k: Kern, pf: string) => {
  const id = (a: string) => (readAttr(k.tree.host, paths.pciAttr(pf, a)) ?? '').replace(/^0x/, '');
  return `${id('vendor')}:${id('device')}`;
};

function boardOf(k: Kern, pf: string): Board | null {
  return BOARDS[boardId(k, pf)] ?? null;
}

/** A MIG board with MIG state: its types, and the GPU instances a new vGPU could go on. */
function migBoard(k: Kern, pf: string): { types: [number, string][]; free: (profile: string) => number | null } | null {
  const types = MIG_BOARDS[boardId(k, pf)];
  const mig = k.state.mig?.[pf];
  if (!types || !mig) return null;
  const used = new Set(readVirtfns(k.tree.host, pf).flatMap((vf) => {
    if ((readAttr(k.tree.host, attr(vf, 'current_vgpu_type')) ?? '0') === '0') return [];
    const gi = readAttr(k.tree.host, attr(vf, 'gpu_instance_id'));
    return gi === null ? [] : [gi];
  }));
  const free = (profile: string) => (mig.current !== 'Enabled' ? null
    : mig.gpuInstances.find((g) => g.profile === profile && g.computeInstances.length && !used.has(String(g.id)))?.id ?? null);
  return { types, free };
}

/** Every VF's creatable list on a MIG board: the types with a free GPU instance of their profile. */
export function refreshMigCreatable(k: Kern, pf: string): void {
  const b = migBoard(k, pf);
  if (!b) return;
  const list = render(b.types.filter(([, name]) => { const p = migProfileOfType(name); return p !== null && b.free(p) !== null; }));
  for (const v of readVirtfns(k.tree.host, pf)) if (k.tree.host.exists(attr(v, 'creatable_vgpu_types'))) k.tree.rewrite(attr(v, 'creatable_vgpu_types'), list);
}

function maxInstances(board: Board, name: string, vfs: number): number {
  const fb = /-(\d+)[A-Z]+$/.exec(name);
  return Math.min(fb ? Math.floor(board.memoryGiB / Number(fb[1])) : 1, vfs);
}

/** Type id → how many VFs of the GPU hold it. */
function running(k: Kern, vfs: readonly string[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const vf of vfs) {
    const t = Number(readAttr(k.tree.host, attr(vf, 'current_vgpu_type')) ?? '0');
    if (t) out.set(t, (out.get(t) ?? 0) + 1);
  }
  return out;
}

/** The homogeneous rule: every type on an idle GPU; then the running type while one more fits. */
function creatable(board: Board, run: Map<number, number>, vfs: number): [number, string][] {
  if (run.size === 0) return board.types;
  const [id, n] = [...run.entries()][0]!;
  const t = board.types.find(([x]) => x === id);
  return t && run.size === 1 && n < maxInstances(board, t[1], vfs) ? [t] : [];
}

const render = (types: readonly [number, string][]) => HEADER + types.map(([id, name]) => `${String(id).padEnd(5)} : ${name}\n`).join('');

/** Whether a process holds the VF's VFIO device open: a hold set by a test, or /proc/<pid>/fd. */
function opened(k: Kern, vf: string): boolean {
  if (k.state.holds[vf]) return true;
  const group = k.tree.groupOf(vf);
  const cdevs = (k.tree.host.list(paths.pciAttr(vf, 'vfio-dev')) ?? []).map((n) => `/dev/vfio/devices/${n}`);
  const files = new Set([...(group === null ? [] : [paths.devVfioGroup(group)]), ...cdevs]);
  for (const pid of k.tree.host.list(paths.procDir) ?? []) {
    if (!/^\d+$/.test(pid)) continue;
    for (const fd of k.tree.host.list(`${paths.procPid(pid)}/fd`) ?? []) {
      const target = k.tree.host.readLink(`${paths.procPid(pid)}/fd/${fd}`);
      if (target !== null && files.has(target)) return true;
    }
  }
  return false;
}

export function writeCurrentVgpuType(k: Kern, vf: string, value: string): void {
  const text = chomp(value);
  if (!/^\+?\d+$/.test(text)) fail('EINVAL');
  const id = Number(text.replace(/^\+/, ''));
  if (id > 0xffffffff) fail('ERANGE');
  if (opened(k, vf)) fail('EBUSY');
  const path = attr(vf, 'current_vgpu_type');
  const current = Number(readAttr(k.tree.host, path) ?? '0');
  const pf = linkName(k.tree.host, paths.pciAttr(vf, 'physfn'));
  const vfs = pf === null ? [vf] : readVirtfns(k.tree.host, pf);
  const board = pf === null ? null : boardOf(k, pf);
  if (id === 0) {
    if (current === 0) fail('EPERM');
  } else {
    if (current !== 0) fail('EPERM');
    if (board) {
      const type = board.types.find(([x]) => x === id);
      if (!type) fail('ENODEV');
      const run = running(k, vfs);
      if (run.size && !run.has(id)) fail('EINVAL');
      if ((run.get(id) ?? 0) >= maxInstances(board, type[1], vfs.length)) fail('ENOSPC');
    } else if (pf !== null && migBoard(k, pf)) {
      const mb = migBoard(k, pf)!;
      const name = mb.types.find(([x]) => x === id)?.[1];
      if (!name) fail('ENODEV');
      const gi = mb.free(migProfileOfType(name)!);
      if (gi === null) fail('ENOSPC');
      // Like its sibling attributes (a fixture keeps their modes as captured).
      k.tree.put(attr(vf, 'gpu_instance_id'), `${gi}\n`, (k.tree.stat(attr(vf, 'creatable_vgpu_types'))?.mode ?? 0o444) & 0o7777);
    } else {
      const listed = (readAttr(k.tree.host, attr(vf, 'creatable_vgpu_types')) ?? '').split('\n').some((l) => l.split(':')[0]!.trim() === String(id));
      if (!listed) fail('EINVAL');
    }
  }
  k.tree.rewrite(path, `${id}\n`);
  if (id === 0 && pf !== null && migBoard(k, pf) && k.tree.host.exists(attr(vf, 'gpu_instance_id'))) k.tree.remove(attr(vf, 'gpu_instance_id'));
  if (pf !== null) refreshMigCreatable(k, pf);
  if (!board) return;
  const list = render(creatable(board, running(k, vfs), vfs.length));
  for (const v of vfs) if (k.tree.host.exists(attr(v, 'creatable_vgpu_types'))) k.tree.rewrite(attr(v, 'creatable_vgpu_types'), list);
}

/**
 * VFs of an NVIDIA vGPU board as they appear on the nvidia driver (sriov-manage -e): the
 * driver's per-VF attributes, no type yet and the board's creatable list as it stands.
 */
export function vgpuVfsAppeared(k: Kern, pf: string, vfs: readonly string[]): void {
  const board = boardOf(k, pf);
  if (!board) return;
  const list = render(creatable(board, running(k, vfs), vfs.length));
  for (const vf of vfs) {
    if (linkName(k.tree.host, paths.pciAttr(vf, 'driver')) !== 'nvidia' || k.tree.host.exists(attr(vf, 'current_vgpu_type'))) continue;
    k.tree.mkdir(paths.pciAttr(vf, 'nvidia'));
    k.tree.put(attr(vf, 'current_vgpu_type'), '0\n', 0o644);
    k.tree.put(attr(vf, 'creatable_vgpu_types'), list, 0o444);
  }
}

