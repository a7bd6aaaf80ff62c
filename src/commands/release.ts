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
  /** Mediated devices named by UUID. */
  uuids: string[];
  all: boolean;
  persist: boolean;
  dryRun: boolean;
  yes: boolean;
}

export type ReleaseData = ChangeResult<ReleaseView>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function head(d: ReleaseData, s: Style): string[] {
  const out = d.devices.length || !(d.mdevs ?? []).length ? renderDevices(d, s) : [];
  if ((d.mdevs ?? []).length) out.push(s.bold('Mediated devices to remove:'));
  for (const m of d.mdevs ?? []) {
    const by = m.profile ? `apply of ${m.profile}` : m.command;
    out.push(`  ${m.uuid}  ${m.type} on ${m.parent}${m.present ? '' : s.dim(' (gone already)')}${s.dim(` · made by ${by}${m.persisted ? ' · defined in mdevctl' : ''}`)}`);
  }
  return out;
}

const render = (d: ReleaseData, s: Style) => renderChangeText(d, s, head(d, s), 'Nothing to do: every device is already where it belongs.');

export const release: CommandDef<ReleaseOptions, ReleaseData> = {
  name: 'release',
  summary: 'give devices taken by passthrough back to their original drivers, and remove the mdevs apply made',
  help: [
    'Returns devices to the driver they had before `gpuvirt passthrough` (recorded on the host),',
    'always as the whole set passthrough took (slot functions and group members), so a group is',
    'never left half-bound. A device on vfio-pci or pci-stub that gpuvirt did not record goes',
    'back to whatever driver the kernel matches. A device whose VFIO group a VM holds open is',
    'refused. `--all` releases everything gpuvirt manages.',
    'Mediated devices that `apply` made go too: all with --all, those on a named parent, or one',
    'named by UUID; each is removed and, when apply defined it with mdevctl, undefined. One a VM',
    'holds is refused.',
  ].join('\n'),
  linuxOnly: true,
  args: [
    { name: '[address...]', help: 'PCI addresses (any device of a set releases the whole set; a parent, its mdevs), or mdev UUIDs' },
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
    const uuids = [...new Set(args.filter((a) => UUID.test(a)).map((a) => a.toLowerCase()))];
    const addresses = [...new Set(args.filter((a) => !UUID.test(a)).map((a) => parseAddress(a).full))];
    return { addresses, uuids, all, persist: Boolean(opts.persist), dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes) };
  },
  run: (opts, ctx) => runChange(ctx, 'release', { ...opts, force: false }, async () => planRelease(ctx, opts), async (d) => render(d, await ctx.style())),
  render,
};
