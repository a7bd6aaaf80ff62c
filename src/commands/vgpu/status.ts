// `gpuvirt vgpu status [device]`: the vGPUs that exist (the type on each NVIDIA VF, the mdev
// instances) and the MIG layout of MIG-capable NVIDIA GPUs. MIG state comes from nvidia-smi
// through the exec seam; under --root it is reported as unknown, with the reason.
import type { CommandDef } from '../command.js';
import type { Style } from '../../output.js';
import { parseAddress } from '../../pci/address.js';
import { readMigLayouts, readVgpuDevices, type MigLayout, type VgpuDevice } from '../../sharing/vgpu.js';
import { selectDevices } from './types.js';

export interface VgpuStatusData {
  devices: {
    address: string;
    name: string;
    mechanism: VgpuDevice['mechanism'];
    vfs: { index: number; address: string; driver: string | null; currentType: string | null; currentName: string | null; gpuInstanceId: number | null }[];
    instances: VgpuDevice['instances'];
  }[];
  mig: MigLayout[];
}

function renderMig(m: MigLayout, s: Style): string[] {
  const profiles = m.profiles ? [s.dim(`    GPU instance profiles (gpuvirt's table): ${m.profiles.map((p) => `${p.name} (id ${p.id}) ×${p.instances}`).join(', ')}`)] : [];
  if (!m.known) return [`  MIG: ${s.dim(`unknown: ${m.reason}`)}`, ...profiles];
  const pending = m.pending && m.pending !== m.current ? ` (pending: ${m.pending})` : '';
  const lines = [`  MIG: ${m.current}${pending}`];
  for (const gi of m.gpuInstances) {
    lines.push(`    GPU instance ${gi.id}: compute instances ${gi.computeInstances.join(', ')} · ${gi.multiprocessors ?? '?'} SMs · ${gi.memoryMiB ?? '?'} MiB`);
  }
  return [...lines, ...profiles];
}

export function renderVgpuStatus(d: VgpuStatusData, s: Style): string {
  const out: string[] = [];
  const addrs = [...new Set([...d.devices.map((x) => x.address), ...d.mig.map((m) => m.address)])];
  if (!addrs.length) return 'no vGPU-capable GPU on this host (`gpuvirt doctor` says why, per GPU)\n';
  for (const a of addrs) {
    const dev = d.devices.find((x) => x.address === a);
    out.push(`${s.bold(a)}  ${dev?.name ?? ''}${dev ? `  (${dev.mechanism})` : ''}`);
    for (const vf of dev?.vfs ?? []) {
      const t = vf.currentType ? `${vf.currentName ? `${vf.currentName} (${vf.currentType})` : `type ${vf.currentType}`}${vf.gpuInstanceId !== null ? ` on GPU instance ${vf.gpuInstanceId}` : ''}` : s.dim('free');
      out.push(`  VF ${String(vf.index).padStart(2)}  ${vf.address}  ${t}`);
    }
    for (const i of dev?.instances ?? []) out.push(`  mdev ${i.uuid}  ${i.typeName ?? ''} (${i.type ?? '?'}) on ${i.parent}`);
    if (dev?.mechanism === 'mdev' && !dev.instances.length) out.push(s.dim('  no mediated devices'));
    const m = d.mig.find((x) => x.address === a);
    if (m) out.push(...renderMig(m, s));
  }
  return `${out.join('\n')}\n`;
}

export const vgpuStatus: CommandDef<{ device: string | undefined }, VgpuStatusData> = {
  name: 'vgpu status',
  summary: 'show the vGPUs that exist (per VF or mdev) and the MIG layout of each GPU',
  linuxOnly: true,
  args: [
    { name: '[device]', help: 'only this GPU (or one of its VFs)' },
  ],
  parse: (args) => ({ device: args[0] }),
  async run(opts, ctx) {
    const all = readVgpuDevices(ctx.host);
    const only = opts.device === undefined ? undefined : parseAddress(opts.device).full;
    const mig = await readMigLayouts(ctx.host, ctx.exec, only);
    const devices = only !== undefined && mig.some((m) => m.address === only) && !all.some((d) => d.address === only) ? [] : selectDevices(ctx, all, opts.device);
    const data: VgpuStatusData = {
      devices: devices.map((dev) => ({
        address: dev.address, name: ctx.names.name(dev.vendorId, dev.deviceId), mechanism: dev.mechanism,
        vfs: dev.vfs.map((v) => ({ index: v.index, address: v.address, driver: v.driver, currentType: v.current, currentName: v.currentName, gpuInstanceId: v.gpuInstanceId })),
        instances: dev.instances,
      })),
      mig,
    };
    return { ok: true, data, warnings: [] };
  },
  render: (d, s) => renderVgpuStatus(d, s),
};
