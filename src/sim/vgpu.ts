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
// Left out: mixed-size (heterogeneous) mode, MIG-backed placement (gpu_instance_id): on boards
// not in BOARDS the lists are left as they are and a type must be in the VF's own list (EINVAL).
import * as nodePath from 'node:path';
import { linkName, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { readVirtfns } from '../detect/pci.js';
import type { Kern } from './drivers.js';
import { chomp, fail } from './state.js';

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

/** PF vendor:device → the board's vGPU types. */
const BOARDS: Record<string, Board> = { '10de:26b9': { memoryGiB: 48, types: L40S } };

const HEADER = 'ID    : vGPU Name\n';

/** True for <device>/nvidia/current_vgpu_type. */
export function isVgpuTypeStore(file: string): boolean {
  return nodePath.basename(file) === 'current_vgpu_type' && nodePath.basename(nodePath.dirname(file)) === 'nvidia';
}

const attr = (vf: string, name: string) => paths.pciAttr(vf, `nvidia/${name}`);

function boardOf(k: Kern, pf: string): Board | null {
  const id = (a: string) => (readAttr(k.tree.host, paths.pciAttr(pf, a)) ?? '').replace(/^0x/, '');
  return BOARDS[`${id('vendor')}:${id('device')}`] ?? null;
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
    } else {
      const listed = (readAttr(k.tree.host, attr(vf, 'creatable_vgpu_types')) ?? '').split('\n').some((l) => l.split(':')[0]!.trim() === String(id));
      if (!listed) fail('EINVAL');
    }
  }
  k.tree.rewrite(path, `${id}\n`);
  if (!board) return;
  const list = render(creatable(board, running(k, vfs), vfs.length));
  for (const v of vfs) if (k.tree.host.exists(attr(v, 'creatable_vgpu_types'))) k.tree.rewrite(attr(v, 'creatable_vgpu_types'), list);
}
