import type { CommandDef } from './command.js';
import { usageError } from '../errors.js';
import type { Style } from '../output.js';
import { parseAddress } from '../pci/address.js';
import { runChange } from '../change/engine.js';
import { renderChangeText } from '../change/render.js';
import type { ChangeResult } from '../change/types.js';
import { planRelease, type ReleaseView } from '../passthrough/release-change.js';
import { renderDevices } from '../passthrough/render.js';

export interface ReleaseOptions {
  addresses: string[];
  all: boolean;
  persist: boolean;
  dryRun: boolean;
  yes: boolean;
}

export type ReleaseData = ChangeResult<ReleaseView>;

const render = (d: ReleaseData, s: Style) => renderChangeText(d, s, renderDevices(d, s), 'Nothing to do: every device is already where it belongs.');

export const release: CommandDef<ReleaseOptions, ReleaseData> = {
  name: 'release',
  summary: 'give devices taken by passthrough back to their original drivers',
  help: [
    'Returns devices to the driver they had before `gpuvirt passthrough` (recorded on the host),',
    'always as the whole set passthrough took (slot functions and group members), so a group is',
    'never left half-bound. A device on vfio-pci or pci-stub that gpuvirt did not record goes',
    'back to whatever driver the kernel matches. A device whose VFIO group a VM holds open is',
    'refused. `--all` releases everything gpuvirt manages.',
  ].join('\n'),
  linuxOnly: true,
  args: [
    { name: '[address...]', help: 'PCI addresses (any device of a set releases the whole set)' },
  ],
  options: [
    { flags: '--all', help: 'release every device gpuvirt manages' },
    { flags: '--persist', help: 'also take the devices out of the boot record (/etc/gpuvirt/host.yaml) and the boot files made from it' },
    { flags: '--dry-run', help: 'print the plan and change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
  ],
  parse(args, opts) {
    const all = Boolean(opts.all);
    if (!all && !args.length) throw usageError('name the devices to release, or pass --all');
    if (all && args.length) throw usageError('--all releases everything: give no addresses with it');
    return { addresses: [...new Set(args.map((a) => parseAddress(a).full))], all, persist: Boolean(opts.persist), dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes) };
  },
  run: (opts, ctx) => runChange(ctx, 'release', { ...opts, force: false }, async () => planRelease(ctx, opts), async (d) => render(d, await ctx.style())),
  render,
};
