import type { CommandDef } from '../command.js';
import { usageError } from '../../errors.js';
import type { Style } from '../../output.js';
import { runChange } from '../../change/engine.js';
import { planSriovEnable } from '../../sriov/change.js';
import { fresh, selectPf } from '../../sriov/select.js';
import { parseXeVfProfile, type XeVfProfile } from '../../sriov/xe-profile.js';
import type { PfJson } from './status.js';
import { renderSriovChange, settle, type SriovChangeData } from './render.js';

export interface EnableOptions {
  pf: string | undefined;
  vfs: number;
  bind: 'vfio-pci' | null;
  persist: boolean;
  vfProfile: XeVfProfile | null;
  dryRun: boolean;
  yes: boolean;
  force: boolean;
}
export const sriovEnable: CommandDef<EnableOptions, SriovChangeData> = {
  name: 'sriov enable',
  summary: 'create SR-IOV virtual functions on a GPU (or any SR-IOV device)',
  help: [
    'Creates N virtual functions on the PF (with no <pf>, the single SR-IOV GPU of this host).',
    'Checks N against sriov_totalvfs and the vendor\'s rules first, writes 0 before changing a',
    'non-zero count (after checking that no VF is in use), waits until the VFs exist, and with',
    '--bind vfio-pci binds them for passthrough. AMD GIM, Intel i915/xe and NVIDIA PFs take their',
    'vendor\'s path. On any failure the PF goes back to its previous count.',
    'On xe with sriov_admin (kernel 6.19+), --vf-profile sets each new VF\'s scheduling profile,',
    'e.g. --vf-profile exec_quantum_ms=20,preempt_timeout_us=40000 (0: no limit).',
  ].join('\n'),
  linuxOnly: true,
  args: [
    { name: '[pf]', help: 'the physical function (default: the single SR-IOV GPU)' },
  ],
  options: [
    { flags: '--vfs <n>', help: 'number of virtual functions', required: true },
    { flags: '--bind <driver>', help: 'bind the VFs to this driver (vfio-pci)' },
    { flags: '--persist', help: 'create the VFs again at every boot (the boot record /etc/gpuvirt/host.yaml)' },
    { flags: '--vf-profile <settings>', help: 'xe: each VF\'s exec_quantum_ms and preempt_timeout_us (sriov_admin), comma-separated key=value' },
    { flags: '--dry-run', help: 'print the plan and change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
    { flags: '--force', help: 'change the count even though a host driver uses a VF' },
  ],
  parse(args, opts) {
    const vfs = Number(opts.vfs);
    if (!/^\d+$/.test(String(opts.vfs))) throw usageError(`--vfs ${String(opts.vfs)}: not a whole number`);
    if (vfs === 0) throw usageError('--vfs 0: enable needs at least one VF', 'to remove the VFs, run `gpuvirt sriov disable`');
    if (opts.bind !== undefined && opts.bind !== 'vfio-pci') throw usageError(`--bind ${String(opts.bind)}: only vfio-pci is supported`);
    return { pf: args[0], vfs, bind: opts.bind ? 'vfio-pci' : null, persist: Boolean(opts.persist), vfProfile: opts.vfProfile === undefined ? null : parseXeVfProfile(String(opts.vfProfile)), dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes), force: Boolean(opts.force) };
  },
  async run(opts, ctx) {
    const pf = await selectPf(ctx, opts.pf);
    const outcome = await runChange(ctx, 'sriov enable', opts, async () => planSriovEnable(ctx, fresh(ctx, pf), { numVfs: opts.vfs, bind: opts.bind, persist: opts.persist, vfProfile: opts.vfProfile }),
      async (d) => renderSriovChange(d, await ctx.style()));
    return settle(ctx, outcome);
  },
  render: (d, s: Style) => renderSriovChange(d, s),
};

export type { PfJson };
