import type { CommandDef } from './command.js';
import { usageError } from '../errors.js';
import type { Style } from '../output.js';
import type { KernelParam } from '../detect/cmdline.js';
import { runChange } from '../change/engine.js';
import { renderChangeText } from '../change/render.js';
import type { ChangeResult } from '../change/types.js';
import { planSetup, type SetupView } from '../setup/change.js';
import { paramText } from '../setup/params.js';
import { parseParamArg } from '../setup/recommend.js';
import { planUndo } from '../setup/undo.js';

export interface SetupOptions {
  iommu: boolean;
  reset: boolean;
  vfioModules: boolean;
  params: KernelParam[];
  removeParams: string[];
  undo: boolean;
  dryRun: boolean;
  yes: boolean;
  force: boolean;
}

export type SetupData = ChangeResult<SetupView> & {
  /**
   * The kernel command line the bootloader is configured with (read after this run) differs from
   * the running one: a reboot is needed for it, as doctor's boot.pending says. Null when the
   * configured line cannot be read.
   */
  rebootRequired: boolean | null;
};

/** What a reboot would change on the kernel command line, read from the host as it is now. */
async function rebootRequired(ctx: Parameters<CommandDef<SetupOptions, SetupData>['run']>[1]): Promise<boolean | null> {
  const [{ gatherFacts }, { pendingChanges }] = await Promise.all([import('../doctor/facts.js'), import('../detect/cmdline.js')]);
  const f = gatherFacts(ctx.host);
  if (f.configuredParams === null || f.cmdline.running === null) return null;
  return pendingChanges(f.cmdline.params, f.configuredParams).length > 0;
}

export function renderSetup(d: SetupData, s: Style): string {
  const head = [s.bold(`${d.action === 'undo' ? 'Undo of the last setup' : 'Setup'}: bootloader ${d.bootloader.kind}`) + s.dim(` (${d.bootloader.reason})`)];
  if (d.change.add.length || d.change.remove.length) head.push(`  kernel command line: ${[...d.change.add.map((a) => `+${a}`), ...d.change.remove.map((r) => `-${r}`)].join(' ')}`);
  for (const g of d.reset) head.push(`  reset: ${g.address} (AMD ${g.family}) resets through vendor-reset (device_specific; was ${g.before.join(' ') || 'none'})`);
  for (const n of d.notes) head.push(s.dim(`  note: ${n}`));
  const cannot = d.cannot ?? [];
  if (cannot.length) head.push(s.yellow('Setup cannot fix this (outside the boot configuration):'), ...cannot.map((c) => `  - ${c}`));
  if (!d.applied) {
    for (const f of d.files) head.push('', ...f.diff.split('\n').map((l) => (l.startsWith('+') && !l.startsWith('+++') ? s.green(l) : l.startsWith('-') && !l.startsWith('---') ? s.red(l) : l)));
  }
  const nothing = cannot.length ? 'Nothing setup can change: the host is not ready for passthrough until the above is done.' : 'Nothing to do: the host is already set up that way.';
  let text = renderChangeText(d, s, head, nothing);
  const cmdline = d.change.add.length > 0 || d.change.remove.length > 0 || d.vfioModules;
  if (d.applied?.ok && cmdline) text += d.action === 'undo' ? 'Reboot to run the restored command line.\n' : 'Reboot to use the new command line (`gpuvirt doctor` shows boot.pending until then); `gpuvirt setup --undo` reverts.\n';
  else if (d.applied?.ok && d.action === 'setup') text += '`gpuvirt setup --undo` reverts.\n';
  return text;
}

export const setup: CommandDef<SetupOptions, SetupData> = {
  name: 'setup',
  summary: 'configure the kernel command line, vfio modules and initramfs for passthrough',
  help: [
    'With no selection, does what `gpuvirt doctor` found missing: intel_iommu=on where the kernel',
    'needs it, the vfio modules at boot and in the initramfs. Edits the file of the bootloader this',
    'host boots with (GRUB, GRUB with BootLoaderSpec via grubby, systemd-boot, Proxmox, kernelstub),',
    'shows the diff of every file, asks, writes atomically with backups, runs the bootloader\'s own',
    'tool, and reads the result back. Any failure restores the backups; `--undo` reverts the last setup.',
  ].join('\n'),
  linuxOnly: true,
  options: [
    { flags: '--iommu', help: 'turn the IOMMU on (intel_iommu=on on Intel kernels that need it)' },
    { flags: '--vfio-modules', help: 'load vfio, vfio_iommu_type1 and vfio_pci at boot and in the initramfs' },
    { flags: '--reset', help: 'let vendor-reset reset AMD Polaris/Vega/Navi 10-14 GPUs: select device_specific now and at every boot (udev rule)' },
    { flags: '--param <key[=value]>', help: 'add a kernel parameter (repeatable)', repeatable: true },
    { flags: '--remove-param <key[=value]>', help: 'remove a kernel parameter (repeatable)', repeatable: true },
    { flags: '--undo', help: 'restore every file the last setup changed, and rerun the bootloader tool' },
    { flags: '--dry-run', help: 'print the diffs and the plan, change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
    { flags: '--force', help: 'go past the refusals --force can override (removing boot parameters, turning the IOMMU off, undoing over later edits)' },
  ],

  parse(_args, opts) {
    const params = (opts.param as string[]).map((t) => {
      const p = parseParamArg(t);
      if ('error' in p) throw usageError(p.error);
      return p;
    });
    const removeParams = (opts.removeParam as string[]).map((t) => {
      const p = parseParamArg(t);
      if ('error' in p) throw usageError(p.error.replace('--param', '--remove-param'));
      return paramText(p);
    });
    const undo = Boolean(opts.undo);
    if (undo && (opts.iommu || opts.vfioModules || opts.reset || params.length || removeParams.length)) throw usageError('--undo takes no other selection');
    return { iommu: Boolean(opts.iommu), reset: Boolean(opts.reset), vfioModules: Boolean(opts.vfioModules), params, removeParams, undo, dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes), force: Boolean(opts.force) };
  },
  async run(opts, ctx) {
    const r = await runChange(ctx, 'setup', opts, () => (opts.undo ? planUndo(ctx) : planSetup(ctx, opts)), async (d) => renderSetup({ ...d, rebootRequired: null }, await ctx.style()));
    return { ...r, data: { ...r.data, rebootRequired: await rebootRequired(ctx) } };
  },
  render: (d, s) => renderSetup(d, s),
};
