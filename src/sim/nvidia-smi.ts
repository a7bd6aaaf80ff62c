// NVIDIA's nvidia-smi, for MIG only: the machine-readable queries gpuvirt reads and the MIG
// commands it runs, answered from MIG state kept in the kernel's sidecar (MIG has no sysfs).
//   nvidia-smi --query-gpu=pci.bus_id,mig.mode.current,mig.mode.pending --format=csv,noheader
//   nvidia-smi -q -x                                  (nvsmi_device_v12 XML, MIG parts only)
//   nvidia-smi -i BUS -mig 0|1
//   nvidia-smi mig -i BUS -cgi ID[,ID...] -C          nvidia-smi mig -i BUS -gi N -cci CIPROFILE
//   nvidia-smi mig -i BUS -gi N -dci                  nvidia-smi mig -i BUS -gi N -dgi
// What it models (NVIDIA MIG user guide, "Enable MIG Mode", "Creating/Destroying GPU Instances"):
// a mode change is pending until the GPU resets, which the driver does at once only when
// nothing holds the GPU (a process with /dev/nvidia* open, a vGPU on a VF; otherwise the
// "pending enable state ... In use by another client" warning, exit 0); instances only in MIG
// mode; a GPU instance whose compute instances remain, or that a vGPU sits on, is not
// destroyed ("In use by another client"); room on the GPU: 7 compute slices and 8 memory slices
// (profile `<N>g.<GB>gb`: N compute slices, GB / (board GB / 8) memory slices), which is coarser
// than the real placement rules. New GPU instances take the lowest free id (the driver's ids
// follow placement; ids here are illustrative). A GPU nvidia-smi is asked about without MIG
// state in the sidecar shows MIG Disabled when its family has MIG in the facts table, else N/A.
import type { ExecResult } from '../host/exec.js';
import { linkName, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { listAddresses, readVirtfns } from '../detect/pci.js';
import { rowFor } from '../sharing/families.js';
import { smiBusId } from '../sharing/mig.js';
import type { SimKernel } from './kernel.js';
import type { Kern } from './drivers.js';
import { refreshMigCreatable } from './vgpu.js';

export interface SimMigGpu {
  current: 'Enabled' | 'Disabled';
  pending: 'Enabled' | 'Disabled';
  gpuInstances: { id: number; profile: string; profileId: number; computeInstances: number[] }[];
}

const ok = (stdout: string): ExecResult => ({ exitCode: 0, stdout, stderr: '' });
const fails = (stderr: string, exitCode = 1): ExecResult => ({ exitCode, stdout: '', stderr: `${stderr}\n` });

/** MIG state for a GPU, kept in the sidecar (tests seed it from recorded nvidia-smi output). */
export function seedMig(kernel: SimKernel, gpu: string, state: SimMigGpu): void {
  kernel.withState((k) => {
    (k.state.mig ??= {})[gpu] = state;
    refreshMigCreatable(k, gpu);
  });
}

function nvidiaGpus(k: Kern): string[] {
  return listAddresses(k.tree.host).filter((a) => readAttr(k.tree.host, paths.pciAttr(a, 'vendor')) === '0x10de'
    && linkName(k.tree.host, paths.pciAttr(a, 'driver')) === 'nvidia' && linkName(k.tree.host, paths.pciAttr(a, 'physfn')) === null);
}

function stateOf(k: Kern, gpu: string): SimMigGpu | null {
  const seeded = k.state.mig?.[gpu];
  if (seeded) return seeded;
  const id = (a: string) => (readAttr(k.tree.host, paths.pciAttr(gpu, a)) ?? '').replace(/^0x/, '');
  if (!rowFor(id('vendor'), id('device'), 'mig')?.supported) return null;
  return ((k.state.mig ??= {})[gpu] = { current: 'Disabled', pending: 'Disabled', gpuInstances: [] });
}

function profilesOf(k: Kern, gpu: string) {
  const id = (a: string) => (readAttr(k.tree.host, paths.pciAttr(gpu, a)) ?? '').replace(/^0x/, '');
  return rowFor(id('vendor'), id('device'), 'mig')?.migProfiles ?? [];
}

function modeCsv(k: Kern): ExecResult {
  return ok(nvidiaGpus(k).map((g) => {
    const s = stateOf(k, g);
    return `${smiBusId(g)}, ${s?.current ?? '[N/A]'}, ${s?.pending ?? '[N/A]'}\n`;
  }).join(''));
}

/** Memory of a MIG device as the recorded H100 shows it; other sizes: GB × 1000 MiB (illustrative). */
const MIB: Record<number, number> = { 10: 9856, 20: 19968, 40: 40192 };
const slicesOf = (profile: string) => Number(/^(\d+)g/.exec(profile)?.[1] ?? 1);
const gbOf = (profile: string) => Number(/\.(\d+)gb/.exec(profile)?.[1] ?? 0);

function xml(k: Kern): ExecResult {
  const gpus = nvidiaGpus(k).map((g) => {
    const s = stateOf(k, g);
    let index = 0;
    const devices = (s?.current === 'Enabled' ? s.gpuInstances : []).flatMap((gi) => gi.computeInstances.map((ci) => [
      '\t\t\t<mig_device>', `\t\t\t\t<index>${index++}</index>`, `\t\t\t\t<gpu_instance_id>${gi.id}</gpu_instance_id>`,
      `\t\t\t\t<compute_instance_id>${ci}</compute_instance_id>`,
      `\t\t\t\t<device_attributes><shared><multiprocessor_count>${slicesOf(gi.profile) * 14}</multiprocessor_count></shared></device_attributes>`,
      `\t\t\t\t<fb_memory_usage><total>${MIB[gbOf(gi.profile)] ?? gbOf(gi.profile) * 1000} MiB</total></fb_memory_usage>`, '\t\t\t</mig_device>',
    ].join('\n')));
    return [
      `\t<gpu id="${smiBusId(g)}">`, '\t\t<mig_mode>', `\t\t\t<current_mig>${s?.current ?? 'N/A'}</current_mig>`, `\t\t\t<pending_mig>${s?.pending ?? 'N/A'}</pending_mig>`, '\t\t</mig_mode>',
      devices.length ? `\t\t<mig_devices>\n${devices.join('\n')}\n\t\t</mig_devices>` : '\t\t<mig_devices>\n\t\t\tNone\n\t\t</mig_devices>', '\t</gpu>',
    ].join('\n');
  });
  return ok(`<?xml version="1.0" ?>\n<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">\n<nvidia_smi_log>\n\t<attached_gpus>${gpus.length}</attached_gpus>\n${gpus.join('\n')}\n</nvidia_smi_log>\n`);
}

/** What keeps the driver from resetting the GPU: a process with its device files open, a vGPU on a VF. */
function busy(k: Kern, gpu: string): boolean {
  const vfs = readVirtfns(k.tree.host, gpu);
  if (vfs.some((vf) => (readAttr(k.tree.host, paths.pciAttr(vf, 'nvidia/current_vgpu_type')) ?? '0') !== '0')) return true;
  for (const pid of k.tree.host.list(paths.procDir) ?? []) {
    if (!/^\d+$/.test(pid)) continue;
    for (const fd of k.tree.host.list(`${paths.procPid(pid)}/fd`) ?? []) {
      if ((k.tree.host.readLink(`${paths.procPid(pid)}/fd/${fd}`) ?? '').startsWith('/dev/nvidia')) return true;
    }
  }
  return false;
}

function setMode(k: Kern, gpu: string, on: boolean): ExecResult {
  const s = stateOf(k, gpu);
  if (!s) return fails(`Unable to ${on ? 'enable' : 'disable'} MIG Mode for GPU ${smiBusId(gpu)}: Not Supported`, 3);
  const want = on ? 'Enabled' : 'Disabled';
  if (!on && s.gpuInstances.length) return fails(`Unable to disable MIG Mode for GPU ${smiBusId(gpu)}: In use by another client`, 1);
  s.pending = want;
  if (busy(k, gpu)) return ok(`Warning: MIG mode is in pending ${on ? 'enable' : 'disable'} state for GPU ${smiBusId(gpu)}:In use by another client\nAll done.\n`);
  s.current = want;
  return ok(`${on ? 'Enabled' : 'Disabled'} MIG Mode for GPU ${smiBusId(gpu)}\nAll done.\n`);
}

function createGis(k: Kern, gpu: string, list: string): ExecResult {
  const s = stateOf(k, gpu);
  if (!s || s.current !== 'Enabled') return fails(`Unable to create a GPU instance on GPU ${smiBusId(gpu)}: Not Supported`, 3);
  const profiles = profilesOf(k, gpu);
  const boardGb = gbOf(profiles.find((p) => p.name.startsWith('7g.'))?.name ?? '7g.80gb');
  const used = () => s.gpuInstances.reduce((a, gi) => [a[0]! + slicesOf(gi.profile), a[1]! + Math.ceil(gbOf(gi.profile) / (boardGb / 8))], [0, 0]);
  let out = '';
  for (const item of list.split(',')) {
    const p = profiles.find((x) => String(x.id) === item || x.name === item);
    if (!p) return { exitCode: 2, stdout: out, stderr: `Invalid GPU instance profile "${item}"\n` };
    const [c, m] = used();
    if (c! + slicesOf(p.name) > 7 || m! + Math.ceil(gbOf(p.name) / (boardGb / 8)) > 8 || s.gpuInstances.filter((g) => g.profileId === p.id).length >= p.instances) {
      return { exitCode: 1, stdout: out, stderr: `Unable to create a GPU instance on GPU ${smiBusId(gpu)} using profile ${p.id}: Insufficient Resources\n` };
    }
    let id = 1;
    while (s.gpuInstances.some((g) => g.id === id)) id++;
    s.gpuInstances.push({ id, profile: p.name, profileId: p.id, computeInstances: [0] });
    out += `Successfully created GPU instance ID ${id} on GPU ${smiBusId(gpu)} using profile MIG ${p.name} (ID ${p.id})\n`;
    out += `Successfully created compute instance ID  0 on GPU ${smiBusId(gpu)} GPU instance ID ${id} using profile MIG ${p.name} (ID ${p.id})\n`;
  }
  return ok(out);
}

function onGi(k: Kern, gpu: string, gi: number, op: string, arg: string | undefined): ExecResult {
  const s = stateOf(k, gpu);
  const inst = s?.gpuInstances.find((g) => g.id === gi);
  if (!s || !inst) return fails(`Unable to find GPU instance ${gi} on GPU ${smiBusId(gpu)}: Not Found`, 6);
  if (op === '-dci') {
    if (!inst.computeInstances.length) return fails(`No compute instances found on GPU instance ${gi}: Not Found`, 6);
    const n = inst.computeInstances.length;
    inst.computeInstances = [];
    return ok(`Successfully destroyed ${n} compute instance(s) on GPU instance ID ${gi} of GPU ${smiBusId(gpu)}\n`);
  }
  if (op === '-cci') {
    if (inst.computeInstances.length) return fails(`Unable to create a compute instance on GPU instance ${gi}: Insufficient Resources`);
    inst.computeInstances = [0];
    return ok(`Successfully created compute instance ID  0 on GPU ${smiBusId(gpu)} GPU instance ID ${gi} using profile ${arg}\n`);
  }
  const onVf = readVirtfns(k.tree.host, gpu).some((vf) => readAttr(k.tree.host, paths.pciAttr(vf, 'nvidia/gpu_instance_id')) === String(gi)
    && (readAttr(k.tree.host, paths.pciAttr(vf, 'nvidia/current_vgpu_type')) ?? '0') !== '0');
  if (inst.computeInstances.length || onVf) return fails(`Unable to destroy GPU instance ID ${gi} from GPU ${smiBusId(gpu)}: In use by another client`);
  s.gpuInstances = s.gpuInstances.filter((g) => g !== inst);
  return ok(`Successfully destroyed GPU instance ID ${gi} from GPU ${smiBusId(gpu)}\n`);
}

/** The driver's creatable lists follow the GPU instances (MIG-backed types, src/sim/vgpu.ts). */
function refreshed(k: Kern, gpu: string, r: ExecResult): ExecResult {
  refreshMigCreatable(k, gpu);
  return r;
}

const BUS = /^[0-9A-Fa-f]{8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const gpuOf = (k: Kern, bus: string) => nvidiaGpus(k).find((g) => smiBusId(g) === bus.toLowerCase()) ?? null;

/** nvidia-smi's answer, or null when the argv is not one modelled. */
export function nvidiaSmi(kernel: SimKernel, args: readonly string[]): ExecResult | null {
  return kernel.withState((k) => {
    const line = args.join(' ');
    if (line === '--query-gpu=pci.bus_id,mig.mode.current,mig.mode.pending --format=csv,noheader') return modeCsv(k);
    if (line === '-q -x') return xml(k);
    const [a, b, c, d, e, f, g] = args;
    if (args.length === 4 && a === '-i' && BUS.test(b!) && c === '-mig' && (d === '0' || d === '1')) {
      const gpu = gpuOf(k, b!);
      return gpu ? refreshed(k, gpu, setMode(k, gpu, d === '1')) : fails(`No devices were found`, 6);
    }
    if (a !== 'mig' || b !== '-i' || !BUS.test(c!)) return null;
    const gpu = gpuOf(k, c!);
    if (args.length === 6 && d === '-cgi' && /^[\w.+]+(,[\w.+]+)*$/.test(e!) && f === '-C') return gpu ? refreshed(k, gpu, createGis(k, gpu, e!)) : fails('No devices were found', 6);
    if (d === '-gi' && /^\d+$/.test(e!) && ((args.length === 6 && (f === '-dci' || f === '-dgi')) || (args.length === 7 && f === '-cci' && /^\d+$/.test(g!)))) {
      return gpu ? refreshed(k, gpu, onGi(k, gpu, Number(e), f!, g)) : fails('No devices were found', 6);
    }
    return null;
  });
}
