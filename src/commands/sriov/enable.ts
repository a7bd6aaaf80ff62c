import type { CommandDef } from '../command.js';
import type { Ctx } from '../../context.js';
import { ExitCode, usageError } from '../../errors.js';
import { paths } from '../../host/paths.js';
import type { Style } from '../../output.js';
import { confirmChange, requireRoot } from '../../mutate/guard.js';
import { stepJson, type Step } from '../../mutate/steps.js';
import { readState, type SriovRecord } from '../../state.js';
import { readPf, type PfInfo } from '../../sriov/detect.js';
import { applySriov } from '../../sriov/apply.js';
import { planSriovPersist, type PersistedPf } from '../../sriov/persist.js';
import { vfAddresses } from '../../sriov/plan.js';
import { inUseRefusals, selectPf } from '../../sriov/select.js';
import { planEnableFor } from '../../sriov/vendor-plans.js';
import { chooseAdapter, validateEnable } from '../../sriov/vendors.js';
import { pfJson, type PfJson } from './status.js';
import { renderSriovChange, type SriovChangeData } from './render.js';

export interface EnableOptions {
  pf: string | undefined;
  vfs: number;
  bind: 'vfio-pci' | null;
  persist: boolean;
  dryRun: boolean;
  yes: boolean;
  force: boolean;
}

export function persistedPfs(ctx: Ctx, except: string): PersistedPf[] {
  const out: PersistedPf[] = [];
  for (const r of Object.values(readState(ctx.host).sriov ?? {})) {
    if (!r.persisted || r.pf === except) continue;
    const pf = readPf(ctx.host, r.pf);
    out.push({ pf: r.pf, numVfs: r.numVfs, bind: r.bind, adapter: r.adapter, vfs: pf ? vfAddresses(pf, r.numVfs) : [] });
  }
  return out;
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
  ].join('\n'),
  linuxOnly: true,
  configure(cmd) {
    cmd
      .argument('[pf]', 'the physical function (default: the single SR-IOV GPU)')
      .requiredOption('--vfs <n>', 'number of virtual functions')
      .option('--bind <driver>', 'bind the VFs to this driver (vfio-pci)')
      .option('--persist', 'create the VFs again at every boot')
      .option('--dry-run', 'print the plan and change nothing')
      .option('-y, --yes', 'apply without asking')
      .option('--force', 'change the count even though a host driver uses a VF');
  },
  parse(args, opts) {
    const vfs = Number(opts.vfs);
    if (!/^\d+$/.test(String(opts.vfs))) throw usageError(`--vfs ${String(opts.vfs)}: not a whole number`);
    if (opts.bind !== undefined && opts.bind !== 'vfio-pci') throw usageError(`--bind ${String(opts.bind)}: only vfio-pci is supported`);
    return { pf: args[0], vfs, bind: opts.bind ? 'vfio-pci' : null, persist: Boolean(opts.persist), dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes), force: Boolean(opts.force) };
  },
  async run(opts, ctx) {
    if (!opts.dryRun) requireRoot(ctx, 'sriov enable');
    const pf = await selectPf(ctx, opts.pf);
    const adapter = chooseAdapter(pf);
    const { errors, notes } = validateEnable(ctx.host, pf, adapter, opts.vfs);
    const data: SriovChangeData = { action: 'enable', pf: pfJson(ctx, pf), adapter: adapter.id, requested: opts.vfs, dryRun: opts.dryRun, errors, notes, steps: [], applied: null, hint: null, after: null };
    if (errors.length) return { ok: false, data, warnings: [], exitCode: ExitCode.unsupported };
    if (opts.bind === 'vfio-pci' && pf.iommuGroup === null) {
      // As for passthrough: without an IOMMU vfio-pci's probe fails (-EINVAL) and the VFs would end driverless.
      data.errors.push(`${pf.address} has no IOMMU group: no IOMMU is active, so vfio-pci cannot take its VFs (run \`gpuvirt doctor\` for the fix)`);
      return { ok: false, data, warnings: [], exitCode: ExitCode.refused };
    }
    if (pf.sriov.numVfs !== opts.vfs && pf.sriov.numVfs > 0) data.errors.push(...inUseRefusals(ctx, pf, opts.force, 'changes the count'));
    if (data.errors.length) return { ok: false, data, warnings: [], exitCode: ExitCode.refused };
    const req = { numVfs: opts.vfs, bind: opts.bind, vfioLoaded: ctx.host.exists(paths.pciDriver('vfio-pci')) };
    const steps: Step[] = planEnableFor(adapter.id, pf, req, opts.persist);
    const previous = readState(ctx.host).sriov?.[pf.address];
    const persisted = opts.persist || (previous?.persisted ?? false);
    if (persisted) {
      steps.push(...planSriovPersist(ctx.host, [...persistedPfs(ctx, pf.address), { pf: pf.address, numVfs: opts.vfs, bind: opts.bind, adapter: adapter.id, vfs: vfAddresses(pf, opts.vfs) }]));
    }
    data.steps = steps.map(stepJson);
    if (!steps.length || opts.dryRun) return { ok: true, data, warnings: [] };
    await confirmChange(ctx, opts.yes, `Enable ${opts.vfs} VFs on ${pf.address}?`);
    const record: SriovRecord = {
      pf: pf.address, numVfs: opts.vfs, bind: opts.bind, adapter: adapter.id, persisted,
      originalNumVfs: previous?.originalNumVfs ?? pf.sriov.numVfs, originalAutoprobe: previous?.originalAutoprobe ?? pf.sriov.driversAutoprobe,
      status: 'done', since: new Date().toISOString(),
    };
    const { report, hint } = await applySriov(ctx, pf, steps, record, true);
    data.applied = report;
    data.hint = hint;
    const live = readPf(ctx.host, pf.address);
    data.after = live ? pfJson(ctx, live) : null;
    return { ok: report.ok, data, warnings: [] };
  },
  render: (d, s: Style) => renderSriovChange(d, s),
};

export type { PfJson };
