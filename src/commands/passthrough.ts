import type { CommandDef } from './command.js';
import { usageError } from '../errors.js';
import type { Style } from '../output.js';
import { parseAddress } from '../pci/address.js';
import { runChange } from '../change/engine.js';
import { renderChangeText } from '../change/render.js';
import type { ChangeResult } from '../change/types.js';
import { planPassthrough, type PassthroughView } from '../passthrough/change.js';
import { renderDevices } from '../passthrough/render.js';
import type { PassthroughDriver } from '../state.js';

export interface PassthroughOptions {
  addresses: string[];
  driver: PassthroughDriver;
  dryRun: boolean;
  yes: boolean;
  force: boolean;
  persist: boolean;
}

export type PassthroughData = ChangeResult<PassthroughView>;

const render = (d: PassthroughData, s: Style) => renderChangeText(d, s, renderDevices(d, s), 'Nothing to do: every device is already there.');

export const passthrough: CommandDef<PassthroughOptions, PassthroughData> = {
  name: 'passthrough',
  summary: 'bind devices (with their slot and IOMMU group) to vfio-pci or pci-stub, safely',
  help: [
    'Takes the named devices, every other function of their slots (a GPU\'s HDMI audio, USB-C),',
    'and checks the rest of their IOMMU group. Refuses what would hurt the host (a shared group,',
    'the boot GPU in use, the root disk, the default-route NIC, devices held open, a PF whose VFs',
    'exist), showing every refusal at once; shows the plan, asks, applies it step by step,',
    'verifies each device, and undoes everything on failure. Undo with `gpuvirt release`.',
  ].join('\n'),
  linuxOnly: true,
  args: [
    { name: '<address...>', help: 'PCI addresses, e.g. 0b:00.0 or 0000:0b:00.0' },
  ],
  options: [
    { flags: '--driver <name>', help: 'vfio-pci or pci-stub', default: 'vfio-pci' },
    { flags: '--dry-run', help: 'print the plan and change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
    { flags: '--force', help: 'take refused devices anyway (each refusal says what this does)' },
    { flags: '--persist', help: 'keep the binding across reboots (per device address, in the boot record /etc/gpuvirt/host.yaml)' },
  ],
  parse(args, opts) {
    const driver = String(opts.driver);
    if (driver !== 'vfio-pci' && driver !== 'pci-stub') throw usageError(`--driver ${driver}: must be vfio-pci or pci-stub`);
    const addresses = [...new Set(args.map((a) => parseAddress(a).full))];
    return { addresses, driver, dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes), force: Boolean(opts.force), persist: Boolean(opts.persist) };
  },
  run: (opts, ctx) => runChange(ctx, 'passthrough', opts, async () => planPassthrough(ctx, opts), async (d) => render(d, await ctx.style())),
  render,
};
