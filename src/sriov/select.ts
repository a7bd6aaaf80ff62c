// Which PF a `gpuvirt sriov` command works on: the named one, or the single SR-IOV GPU.
import type { Ctx } from '../context.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import { isGpuClass } from '../detect/pci.js';
import { deviceFiles, findHolders, type Holder } from '../detect/usage.js';
import { parseAddress } from '../pci/address.js';
import { assertDevicesExist } from '../passthrough/resolve.js';
import { listPfs, readPf, type PfInfo } from './detect.js';

export async function selectPf(ctx: Ctx, named: string | undefined): Promise<PfInfo> {
  if (named !== undefined) {
    const addr = parseAddress(named).full;
    assertDevicesExist(ctx.host, [addr]);
    const pf = readPf(ctx.host, addr);
    if (!pf) {
      throw new GpuvirtError('E_NO_SRIOV', `${addr} has no SR-IOV capability (no sriov_totalvfs)`, {
        exitCode: ExitCode.unsupported,
        hint: '`gpuvirt sriov status` lists the SR-IOV capable devices; a VF cannot have VFs of its own',
      });
    }
    return pf;
  }
  const gpus = listPfs(ctx.host).filter((p) => isGpuClass(p.classId));
  if (gpus.length === 1) return gpus[0]!;
  if (!gpus.length) {
    throw new GpuvirtError('E_NO_SRIOV', 'no SR-IOV capable GPU on this host', {
      exitCode: ExitCode.unsupported,
      hint: 'name the PF to use another SR-IOV device (NIC, NVMe, accelerator): `gpuvirt sriov status` lists them',
    });
  }
  const list = gpus.map((g) => `${g.address} (${ctx.names.name(g.vendorId, g.deviceId)})`);
  if (ctx.json || !ctx.io.isTTY) {
    throw new GpuvirtError('E_AMBIGUOUS', `several SR-IOV GPUs: ${list.join(', ')}`, { exitCode: ExitCode.usage, hint: 'name the PF, e.g. `gpuvirt sriov enable 0b:00.0 --vfs 4`' });
  }
  const chosen = await ctx.prompt.select('Which GPU?', gpus.map((g, i) => ({ value: g.address, name: list[i]! })));
  return gpus.find((g) => g.address === chosen)!;
}

export interface VfUse {
  vf: string;
  driver: string | null;
  holders: Holder[];
}

/** VFs that something uses: open through VFIO (a running VM) or through a host driver's files. */
export function vfsInUse(ctx: Ctx, pf: PfInfo): VfUse[] {
  return pf.vfs
    .map((v) => ({ vf: v.address, driver: v.driver, holders: findHolders(ctx.host, deviceFiles(ctx.host, v.address)) }))
    .filter((u) => u.holders.length > 0);
}

/** A VF held open through VFIO makes the kernel block a disable until the VM lets go. */
export function heldByVfio(uses: readonly VfUse[]): VfUse[] {
  return uses.filter((u) => u.holders.some((h) => h.file.startsWith('/dev/vfio/')));
}

/**
 * Why the VFs may not be removed now: one held through VFIO always stops it (the write of 0
 * would block); one used by a host driver stops it unless --force. `verb` names what --force does.
 */
export function inUseRefusals(ctx: Ctx, pf: PfInfo, force: boolean, verb: string): string[] {
  const uses = vfsInUse(ctx, pf);
  const vfio = heldByVfio(uses);
  const who = (u: VfUse) => u.holders.map((h) => `${h.comm} (pid ${h.pid})`).join(', ');
  const out = vfio.map((u) => `VF ${u.vf} is open through VFIO by ${who(u)}: the kernel would block until the VM lets go; stop the VM first`);
  if (!force) for (const u of uses.filter((x) => !vfio.includes(x))) out.push(`VF ${u.vf} is in use by ${who(u)} (--force ${verb} anyway)`);
  return out;
}

/** The PF read again under the change engine's lock, so the plan is made from what is true then. */
export function fresh(ctx: Ctx, pf: PfInfo): PfInfo {
  const now = readPf(ctx.host, pf.address);
  if (!now) throw new GpuvirtError('E_NOT_FOUND', `${pf.address} is gone`, { exitCode: ExitCode.notFound });
  return now;
}
