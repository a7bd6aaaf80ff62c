import type { CommandDef } from '../command.js';
import { ExitCode } from '../../errors.js';
import type { Style } from '../../output.js';
import { confirmChange, requireRoot } from '../../mutate/guard.js';
import { stepJson, type Step } from '../../mutate/steps.js';
import { paths } from '../../host/paths.js';
import { readState, type SriovRecord } from '../../state.js';
import { readPf } from '../../sriov/detect.js';
import { applySriov } from '../../sriov/apply.js';
import { planSriovPersist } from '../../sriov/persist.js';
import { inUseRefusals, selectPf } from '../../sriov/select.js';
import { planDisableFor } from '../../sriov/vendor-plans.js';
import { chooseAdapter } from '../../sriov/vendors.js';
import { persistedPfs } from './enable.js';
import { pfJson } from './status.js';
import { renderSriovChange, type SriovChangeData } from './render.js';

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
  configure(cmd) {
    cmd
      .argument('[pf]', 'the physical function (default: the single SR-IOV GPU)')
      .option('--persist', 'also stop creating the VFs at boot')
      .option('--dry-run', 'print the plan and change nothing')
      .option('-y, --yes', 'apply without asking')
      .option('--force', 'disable even though a host driver uses a VF');
  },
  parse: (args, opts) => ({ pf: args[0], persist: Boolean(opts.persist), dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes), force: Boolean(opts.force) }),
  async run(opts, ctx) {
    if (!opts.dryRun) requireRoot(ctx, 'sriov disable');
    const pf = await selectPf(ctx, opts.pf);
    const adapter = chooseAdapter(pf);
    const data: SriovChangeData = { action: 'disable', pf: pfJson(ctx, pf), adapter: adapter.id, requested: 0, dryRun: opts.dryRun, errors: [], notes: [], steps: [], applied: null, hint: null, after: null };
    if (pf.sriov.numVfs > 0 && !pf.driver && adapter.id === 'generic') {
      // The kernel disables VFs through the PF's driver: without one, sriov_numvfs says ENOENT.
      data.errors.push(`${pf.address} has no driver, and the kernel disables VFs through it (sriov_numvfs would fail with ENOENT): bind its driver again first (\`echo ${pf.address} > /sys/bus/pci/drivers_probe\`)`);
      return { ok: false, data, warnings: [], exitCode: ExitCode.refused };
    }
    data.errors.push(...inUseRefusals(ctx, pf, opts.force, 'disables it'));
    if (data.errors.length) return { ok: false, data, warnings: [], exitCode: ExitCode.refused };
    const previous = readState(ctx.host).sriov?.[pf.address];
    const steps: Step[] = planDisableFor(adapter.id, pf);
    if (previous?.originalAutoprobe === true && pf.sriov.driversAutoprobe === false) {
      steps.push({ kind: 'write', path: paths.pciAttr(pf.address, 'sriov_drivers_autoprobe'), value: '1', title: `restore sriov_drivers_autoprobe of ${pf.address}` });
    }
    if (opts.persist) steps.push(...planSriovPersist(ctx.host, persistedPfs(ctx, pf.address)));
    data.steps = steps.map(stepJson);
    const warnings = previous?.persisted && !opts.persist ? [`${pf.address} stays persisted: the next boot creates its ${previous.numVfs} VFs again (--persist removes that)`] : [];
    if (!steps.length || opts.dryRun) return { ok: true, data, warnings };
    await confirmChange(ctx, opts.yes, `Remove the ${pf.sriov.numVfs} VFs of ${pf.address}?`);
    const record: SriovRecord = {
      pf: pf.address, numVfs: 0, bind: null, adapter: adapter.id, persisted: !opts.persist && (previous?.persisted ?? false),
      originalNumVfs: pf.sriov.numVfs, originalAutoprobe: pf.sriov.driversAutoprobe, status: 'done', since: new Date().toISOString(),
    };
    const keep = record.persisted;
    const { report, hint } = await applySriov(ctx, pf, steps, previous && keep ? { ...previous, ...record, numVfs: previous.numVfs, bind: previous.bind } : record, keep, pf.vfs.map((v) => v.address));
    data.applied = report;
    data.hint = hint;
    const live = readPf(ctx.host, pf.address);
    data.after = live ? pfJson(ctx, live) : null;
    return { ok: report.ok, data, warnings };
  },
  render: (d, s: Style) => renderSriovChange(d, s),
};
