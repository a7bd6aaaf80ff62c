// `gpuvirt vgpu types [device]`: the vGPU types each GPU offers, over both mechanisms (NVIDIA
// vendor-specific VFIO on SR-IOV VFs, mdev on the GPU or its VFs), with how many more of each
// fit. Read-only; creating and removing vGPUs goes through the change engine.
import type { CommandDef } from '../command.js';
import type { Ctx } from '../../context.js';
import type { Style } from '../../output.js';
import { parseAddress } from '../../pci/address.js';
import { assertDevicesExist } from '../../passthrough/resolve.js';
import { readVgpuDevices, type VgpuDevice } from '../../sharing/vgpu.js';
import { ExitCode, GpuvirtError } from '../../errors.js';

export interface VgpuTypeJson {
  id: string;
  name: string | null;
  /** Free VFs that offer it (vendor-vfio) or available_instances (mdev). */
  available: number | null;
  migBacked: boolean;
  parent: string;
}

export interface VgpuTypesData {
  devices: { address: string; name: string; mechanism: VgpuDevice['mechanism']; parents: string[]; types: VgpuTypeJson[] }[];
}

/** The GPU a device argument names: a PF itself, or the PF of a named VF. */
export function selectDevices(ctx: Ctx, all: VgpuDevice[], device: string | undefined): VgpuDevice[] {
  if (device === undefined) return all;
  const addr = parseAddress(device).full;
  assertDevicesExist(ctx.host, [addr]);
  const hit = all.filter((d) => d.address === addr || d.vfs.some((v) => v.address === addr) || d.types.some((t) => t.parent === addr));
  if (!hit.length) {
    throw new GpuvirtError('E_NO_VGPU', `${addr} offers no vGPU types`, {
      exitCode: ExitCode.unsupported,
      hint: '`gpuvirt doctor` says how this GPU can be shared and what is missing (driver, VFs, kernel)',
    });
  }
  return hit;
}

export function renderVgpuTypes(d: VgpuTypesData, s: Style): string {
  if (!d.devices.length) return 'no GPU offers vGPU types on this host (`gpuvirt doctor` says why, per GPU)\n';
  const out: string[] = [];
  for (const dev of d.devices) {
    const mech = dev.mechanism === 'vendor-vfio' ? 'vendor-specific VFIO: types per VF' : dev.parents.length > 1 ? `mdev on each of ${dev.parents.length} VFs` : 'mdev';
    out.push(`${s.bold(dev.address)}  ${dev.name}  (${mech})`);
    if (!dev.types.length) out.push(s.dim('  no type can be created now'));
    for (const t of dev.types) {
      const where = dev.mechanism === 'mdev' && t.parent !== dev.address ? ` on ${t.parent}` : '';
      const avail = dev.mechanism === 'vendor-vfio' ? `${t.available ?? '?'} free VFs` : `${t.available ?? '?'} available`;
      out.push(`  ${t.id.padEnd(12)} ${(t.name ?? '').padEnd(24)} ${avail}${t.migBacked ? ' · MIG-backed' : ''}${where}`);
    }
  }
  return `${out.join('\n')}\n`;
}

export const vgpuTypes: CommandDef<{ device: string | undefined }, VgpuTypesData> = {
  name: 'vgpu types',
  summary: 'list the vGPU types each GPU offers (NVIDIA vendor-specific VFIO or mdev), with free capacity',
  linuxOnly: true,
  args: [
    { name: '[device]', help: 'only this GPU (or one of its VFs)' },
  ],
  parse: (args) => ({ device: args[0] }),
  async run(opts, ctx) {
    const devices = selectDevices(ctx, readVgpuDevices(ctx.host), opts.device);
    const data: VgpuTypesData = {
      devices: devices.map((dev) => ({
        address: dev.address, name: ctx.names.name(dev.vendorId, dev.deviceId), mechanism: dev.mechanism, parents: dev.parents,
        types: dev.types.map((t) => ({ id: t.id, name: t.name, available: t.available, migBacked: t.migBacked, parent: t.parent })),
      })),
    };
    return { ok: true, data, warnings: [] };
  },
  render: (d, s) => renderVgpuTypes(d, s),
};
