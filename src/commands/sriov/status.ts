import type { CommandDef } from '../command.js';
import type { Ctx } from '../../context.js';
import { readAttr } from '../../host/host.js';
import { paths } from '../../host/paths.js';
import type { Style } from '../../output.js';
import { parseAddress } from '../../pci/address.js';
import { assertDevicesExist } from '../../passthrough/resolve.js';
import { deviceFiles, findHolders, processesVisible } from '../../detect/usage.js';
import { listPfs, readPf, type PfInfo } from '../../sriov/detect.js';
import { chooseAdapter } from '../../sriov/vendors.js';
import { ExitCode, GpuvirtError } from '../../errors.js';

export interface VfJson {
  index: number;
  address: string;
  vendorId: string;
  deviceId: string;
  driver: string | null;
  iommuGroup: number | null;
  /** A process holds the VF's device files (its VFIO group: a VM; a DRM node); null when no process is visible (a snapshot). */
  inUse: boolean | null;
  /** vGPU types this VF can host (NVIDIA: creatable_vgpu_types or mdev types), when the driver lists them. */
  vgpuTypes: string[] | null;
}

export interface PfJson {
  address: string;
  vendorId: string;
  deviceId: string;
  name: string;
  classId: string;
  driver: string | null;
  adapter: string;
  adapterReason: string;
  totalVfs: number;
  numVfs: number;
  driversAutoprobe: boolean | null;
  vfs: VfJson[];
}

export interface SriovStatusData {
  pfs: PfJson[];
}

function vgpuTypes(ctx: Ctx, vf: string): string[] | null {
  const creatable = readAttr(ctx.host, paths.pciAttr(vf, 'nvidia/creatable_vgpu_types'));
  if (creatable !== null) return creatable.split('\n').slice(1).map((l) => l.trim()).filter(Boolean);
  const mdev = ctx.host.list(paths.pciAttr(vf, 'mdev_supported_types'));
  return mdev ?? null;
}

/**
 * Which of the VFs of these PFs something holds open, from one pass over the processes (each
 * pass reads every process's open files); null when none are visible.
 */
function vfsHeld(ctx: Ctx, pfs: readonly PfInfo[]): Set<string> | null {
  const vfs = pfs.flatMap((pf) => pf.vfs);
  if (!vfs.length || !processesVisible(ctx.host)) return vfs.length ? null : new Set();
  const files = new Map<string, string[]>();
  for (const v of vfs) for (const f of deviceFiles(ctx.host, v.address)) files.set(f, [...(files.get(f) ?? []), v.address]);
  return new Set(findHolders(ctx.host, [...files.keys()]).flatMap((h) => files.get(h.file)!));
}

/** A PF as sriov status shows it; `held`: what vfsHeld found for the PFs shown together. */
export function pfJson(ctx: Ctx, pf: PfInfo, held: Set<string> | null = vfsHeld(ctx, [pf])): PfJson {
  const adapter = chooseAdapter(pf);
  return {
    address: pf.address, vendorId: pf.vendorId, deviceId: pf.deviceId, name: ctx.names.name(pf.vendorId, pf.deviceId), classId: pf.classId, driver: pf.driver,
    adapter: adapter.id, adapterReason: adapter.reason, totalVfs: pf.sriov.totalVfs, numVfs: pf.sriov.numVfs,
    driversAutoprobe: pf.sriov.driversAutoprobe,
    vfs: pf.vfs.map((v) => ({ ...v, inUse: held && held.has(v.address), vgpuTypes: adapter.id === 'nvidia' ? vgpuTypes(ctx, v.address) : null })),
  };
}

export function renderSriovStatus(d: SriovStatusData, s: Style): string {
  if (!d.pfs.length) return 'no SR-IOV capable device on this host\n';
  const out: string[] = [];
  for (const pf of d.pfs) {
    out.push(`${s.bold(pf.address)}  ${pf.name} [${pf.classId.slice(0, 4)}]`);
    out.push(`  driver ${pf.driver ?? 'none'} · ${pf.adapter} path · ${pf.numVfs} of ${pf.totalVfs} VFs enabled${pf.driversAutoprobe === false ? ' · autoprobe off' : ''}`);
    for (const vf of pf.vfs) {
      const types = vf.vgpuTypes ? ` · vGPU types: ${vf.vgpuTypes.join(', ') || 'none'}` : '';
      const use = vf.inUse ? ' · in use' : '';
      out.push(`    VF ${String(vf.index).padStart(2)}  ${vf.address}  driver ${vf.driver ?? 'none'} · group ${vf.iommuGroup ?? 'none'}${use}${types}`);
    }
  }
  return `${out.join('\n')}\n`;
}

export const sriovStatus: CommandDef<{ pf: string | undefined }, SriovStatusData> = {
  name: 'sriov status',
  summary: 'show the SR-IOV capable devices, their VF counts and each VF',
  linuxOnly: true,
  args: [
    { name: '[pf]', help: 'only this physical function' },
  ],
  parse: (args) => ({ pf: args[0] }),
  async run(opts, ctx) {
    let pfs: PfInfo[];
    if (opts.pf !== undefined) {
      const addr = parseAddress(opts.pf).full;
      assertDevicesExist(ctx.host, [addr]);
      const pf = readPf(ctx.host, addr);
      if (!pf) throw new GpuvirtError('E_NO_SRIOV', `${addr} has no SR-IOV capability (no sriov_totalvfs)`, { exitCode: ExitCode.unsupported });
      pfs = [pf];
    } else pfs = listPfs(ctx.host);
    // One pass over the processes for all of them, not one per PF.
    const held = vfsHeld(ctx, pfs);
    return { ok: true, data: { pfs: pfs.map((p) => pfJson(ctx, p, held)) }, warnings: [] };
  },
  render: (d, s) => renderSriovStatus(d, s),
};
