import type { CommandDef } from '../command.js';
import type { Host } from '../../host/host.js';
import { readAttr } from '../../host/host.js';
import { paths } from '../../host/paths.js';
import type { Style } from '../../output.js';
import { parseAddress } from '../../pci/address.js';
import { ExitCode, GpuvirtError } from '../../errors.js';
import { readMdevTypes, type MdevType } from '../../mdev/types.js';

export { readMdevTypes, type MdevType };

export interface MdevParent {
  parent: string;
  types: MdevType[];
}

export function renderMdevTypes(d: { parents: MdevParent[] }, s: Style): string {
  if (!d.parents.length) return 'no mediated device parents (GVT-g or vGPU) on this host\n';
  const out: string[] = [];
  for (const p of d.parents) {
    out.push(s.bold(p.parent));
    for (const t of p.types) {
      out.push(`  ${t.id}  ${t.name ?? ''}  available ${t.availableInstances ?? '?'} · ${t.deviceApi ?? '?'}${t.description ? s.dim(` · ${t.description.replace(/\n/g, ', ')}`) : ''}`);
    }
  }
  return `${out.join('\n')}\n`;
}

export const mdevTypes: CommandDef<{ parent: string | undefined }, { parents: MdevParent[] }> = {
  name: 'mdev types',
  summary: 'list the mediated device types each parent offers (name, available instances, API)',
  linuxOnly: true,
  args: [
    { name: '[parent]', help: 'only this parent device' },
  ],
  parse: (args) => ({ parent: args[0] === undefined ? undefined : parseAddress(args[0]).full }),
  async run(opts, ctx) {
    const all = ctx.host.list(paths.mdevBus) ?? [];
    if (opts.parent && !all.includes(opts.parent)) {
      throw new GpuvirtError('E_NO_MDEV', `${opts.parent} offers no mediated devices`, {
        exitCode: ExitCode.unsupported,
        hint: 'Intel GVT-g needs i915.enable_gvt=1 and the kvmgt module; NVIDIA vGPU needs the vendor host driver',
      });
    }
    const parents = (opts.parent ? [opts.parent] : all).map((parent) => ({ parent, types: readMdevTypes(ctx.host, parent) }));
    return { ok: true, data: { parents }, warnings: [] };
  },
  render: (d, s) => renderMdevTypes(d, s),
};
