import type { CommandDef } from '../command.js';
import type { Style } from '../../output.js';
import { runChange } from '../../change/engine.js';
import { planSriovDisable } from '../../sriov/change.js';
import { fresh, selectPf } from '../../sriov/select.js';
import { renderSriovChange, settle, type SriovChangeData } from './render.js';

export interface DisableOptions {
  pf: string | undefined;
  persist: boolean;
  dryRun: boolean;
  yes: boolean;
  force: boolean;
}

export const sriovDisable: CommandDef<DisableOptions, SriovChangeData> = {
  name: 'sriov disable',
  summary: 'remove the virtual functions of a PF',
  help: [
    'Removes every VF of the PF (the kernel allows all or none). Refuses while a VF is open',
    'through VFIO (a running VM: the kernel would block until it lets go) and, without --force,',
    'while a host driver uses one. --persist also removes the boot-time configuration.',
  ].join('\n'),
  linuxOnly: true,
  args: [
    { name: '[pf]', help: 'the physical function (default: the single SR-IOV GPU)' },
  ],
  options: [
    { flags: '--persist', help: 'also stop creating the VFs at boot (the PF leaves the boot record)' },
    { flags: '--dry-run', help: 'print the plan and change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
    { flags: '--force', help: 'disable even though a host driver uses a VF' },
  ],
  parse: (args, opts) => ({ pf: args[0], persist: Boolean(opts.persist), dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes), force: Boolean(opts.force) }),
  async run(opts, ctx) {
    const pf = await selectPf(ctx, opts.pf);
    const outcome = await runChange(ctx, 'sriov disable', opts, async () => planSriovDisable(ctx, fresh(ctx, pf), opts.persist), async (d) => renderSriovChange(d, await ctx.style()));
    return settle(ctx, outcome);
  },
  render: (d, s: Style) => renderSriovChange(d, s),
};
