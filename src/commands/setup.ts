import type { CommandDef } from './command.js';
import type { Ctx } from '../context.js';
import { ExitCode, GpuvirtError, usageError } from '../errors.js';
import type { Style } from '../output.js';
import { detectInitramfs } from '../boot/initramfs.js';
import type { KernelParam } from '../detect/cmdline.js';
import { gatherFacts } from '../doctor/facts.js';
import { applyEnvFor, applySteps, runId as newRunId, type ApplyReport } from '../mutate/apply.js';
import { confirmChange, requireRoot } from '../mutate/guard.js';
import { acquireLock } from '../mutate/lock.js';
import { stepJson, type Step, type StepJson, renderSteps } from '../mutate/steps.js';
import { planCmdlineEdit, rerun } from '../setup/cmdline-edit.js';
import { diffs, type FileDiff } from '../setup/diff.js';
import type { FileChange } from '../setup/grub.js';
import { sha256, writeManifest, type SetupManifest } from '../setup/manifest.js';
import { planVfioModules, vfioLoadedAtBoot } from '../setup/modules.js';
import { paramText, type ParamChange } from '../setup/params.js';
import { parseParamArg, recommend } from '../setup/recommend.js';
import { planUndo } from '../setup/undo.js';

export interface SetupOptions {
  iommu: boolean;
  vfioModules: boolean;
  params: KernelParam[];
  removeParams: string[];
  undo: boolean;
  dryRun: boolean;
  yes: boolean;
  force: boolean;
}

export interface SetupData {
  action: 'setup' | 'undo';
  bootloader: { kind: string; reason: string };
  change: { add: string[]; remove: string[] };
  vfioModules: boolean;
  notes: string[];
  files: FileDiff[];
  steps: StepJson[];
  dryRun: boolean;
  applied: ApplyReport | null;
}

/** The kernel's ACS override is an out-of-tree patch; these kernels are known to carry it. */
const ACS_PATCHED = /-(pve|zen|vfio|acso)\b/;

function validateParams(opts: SetupOptions, kernel: string | null): void {
  for (const p of opts.params) {
    if (p.key.replace(/-/g, '_') === 'amd_iommu' && p.value === 'on') {
      throw new GpuvirtError('E_NOT_A_PARAM', '`amd_iommu=on` is not a kernel option: the kernel ignores it ("AMD-Vi: Unknown option")', {
        exitCode: ExitCode.usage,
        hint: 'AMD-Vi is on whenever the firmware provides the IVRS table; nothing needs to be added',
      });
    }
    if (p.key === 'pcie_acs_override' && !ACS_PATCHED.test(kernel ?? '')) {
      throw new GpuvirtError('E_NO_ACS_PATCH', `kernel ${kernel ?? '?'} does not carry the ACS override patch: pcie_acs_override would do nothing`, {
        exitCode: ExitCode.unsupported,
        hint: 'only patched kernels (Proxmox -pve, -zen, linux-vfio) know it; and it breaks the isolation IOMMU groups promise',
      });
    }
  }
}

function fileSteps(changes: readonly FileChange[]): Step[] {
  return changes.map((c) => ({ kind: 'file', path: c.path, content: c.after, title: `${c.before === null ? 'create' : 'edit'} ${c.path}` }));
}

async function applySetup(ctx: Ctx, steps: Step[], runId: string, manifest: () => SetupManifest | null): Promise<ApplyReport> {
  const unlock = acquireLock(ctx.host, 'setup');
  try {
    // Only files change here; the engine puts them back from this run's backups on failure.
    const report = await applySteps(steps, applyEnvFor(ctx, runId), async () => ({ ok: true, actions: [], errors: [] }));
    const m = report.ok ? manifest() : null;
    if (m) writeManifest(ctx.host, m);
    return report;
  } finally {
    unlock();
  }
}

async function runSetup(opts: SetupOptions, ctx: Ctx): Promise<{ data: SetupData; steps: Step[]; manifest: (runId: string) => SetupManifest }> {
  const facts = gatherFacts(ctx.host);
  validateParams(opts, facts.kernel);
  const rec = recommend(facts, vfioLoadedAtBoot(ctx.host));
  const chosen = opts.iommu || opts.vfioModules || opts.params.length > 0 || opts.removeParams.length > 0;
  const change: ParamChange = chosen
    ? { add: [...(opts.iommu ? rec.change.add : []), ...opts.params], remove: [...(opts.iommu ? rec.change.remove : []), ...opts.removeParams] }
    : rec.change;
  const vfioModules = chosen ? opts.vfioModules : rec.vfioModules;
  const edit = planCmdlineEdit(ctx.host, facts.boot, facts.cmdline.running, change);
  const initramfs = detectInitramfs(ctx.host);
  const moduleChanges = vfioModules ? planVfioModules(ctx.host, initramfs) : [];
  const changes = [...edit.changes, ...moduleChanges];
  const rebuild: Step[] = moduleChanges.length && initramfs.rebuild ? [{ kind: 'exec', argv: initramfs.rebuild, title: `rebuild the initramfs (${initramfs.kind})`, undo: [rerun(initramfs.rebuild)] }] : [];
  const steps = [...fileSteps(changes), ...edit.commands, ...rebuild, ...edit.verify];
  const notes = chosen ? rec.notes.filter((n) => !n.startsWith('vfio') || vfioModules) : rec.notes;
  const data: SetupData = {
    action: 'setup', bootloader: { kind: facts.boot.kind, reason: facts.boot.reason },
    change: { add: change.add.map(paramText), remove: change.remove }, vfioModules, notes,
    files: await diffs(changes), steps: steps.map(stepJson), dryRun: opts.dryRun, applied: null,
  };
  const manifest = (runId: string): SetupManifest => ({
    format: 1, command: 'setup', runId, createdAt: new Date().toISOString(), bootloader: facts.boot.kind, change,
    files: changes.map((c) => ({ path: c.path, existed: c.before !== null, afterSha256: sha256(c.after) })),
    commands: [...edit.commands, ...rebuild].flatMap((s) => (s.kind === 'exec' ? [s.argv] : [])), initramfsRebuilt: rebuild.length > 0,
  });
  if (facts.boot.kind === 'unknown' && (change.add.length || change.remove.length)) {
    throw new GpuvirtError('E_NO_BOOTLOADER', `no bootloader gpuvirt can edit was found: add \`${change.add.map(paramText).join(' ')}\`${change.remove.length ? ` and remove \`${change.remove.join(' ')}\`` : ''} to the kernel command line yourself`, {
      exitCode: ExitCode.unsupported,
      hint: facts.boot.reason,
    });
  }
  return { data, steps, manifest };
}

export function renderSetup(d: SetupData, s: Style): string {
  const out = [s.bold(`${d.action === 'undo' ? 'Undo of the last setup' : 'Setup'}: bootloader ${d.bootloader.kind}`) + s.dim(` (${d.bootloader.reason})`)];
  if (d.change.add.length || d.change.remove.length) out.push(`  kernel command line: ${[...d.change.add.map((a) => `+${a}`), ...d.change.remove.map((r) => `-${r}`)].join(' ')}`);
  for (const n of d.notes) out.push(s.dim(`  note: ${n}`));
  if (!d.steps.length) return `${out.join('\n')}\nNothing to do: the host is already set up that way.\n`;
  if (!d.applied) {
    for (const f of d.files) out.push('', ...f.diff.split('\n').map((l) => (l.startsWith('+') && !l.startsWith('+++') ? s.green(l) : l.startsWith('-') && !l.startsWith('---') ? s.red(l) : l)));
    out.push('', s.bold(d.dryRun ? 'Plan (dry run, nothing changed):' : 'Plan:'));
    out.push(...renderSteps(d.steps, s.dim));
  } else if (d.applied.ok) {
    out.push(s.green(`Done: ${d.applied.steps.length} steps applied and verified.`), d.action === 'undo' ? 'Reboot to run the restored command line.' : 'Reboot to use the new command line (`gpuvirt doctor` shows boot.pending until then); `gpuvirt setup --undo` reverts.');
  } else {
    const failed = d.applied.steps.find((x) => x.status === 'failed');
    out.push(s.red(`Failed: ${failed?.error ?? 'a step failed'}`), d.applied.rollback?.ok ? 'Every file was restored from its backup.' : s.red(`Restore incomplete: ${(d.applied.rollback?.errors ?? []).join('; ')}`));
  }
  return `${out.join('\n')}\n`;
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
  configure(cmd) {
    cmd
      .option('--iommu', 'turn the IOMMU on (intel_iommu=on on Intel kernels that need it)')
      .option('--vfio-modules', 'load vfio, vfio_iommu_type1 and vfio_pci at boot and in the initramfs')
      .option('--param <key[=value]>', 'add a kernel parameter (repeatable)', (v: string, acc: string[]) => [...acc, v], [])
      .option('--remove-param <key[=value]>', 'remove a kernel parameter (repeatable)', (v: string, acc: string[]) => [...acc, v], [])
      .option('--undo', 'restore every file the last setup changed, and rerun the bootloader tool')
      .option('--dry-run', 'print the diffs and the plan, change nothing')
      .option('-y, --yes', 'apply without asking')
      .option('--force', 'with --undo: restore even files changed since setup');
  },
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
    if (undo && (opts.iommu || opts.vfioModules || params.length || removeParams.length)) throw usageError('--undo takes no other selection');
    return { iommu: Boolean(opts.iommu), vfioModules: Boolean(opts.vfioModules), params, removeParams, undo, dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes), force: Boolean(opts.force) };
  },
  async run(opts, ctx) {
    if (!opts.dryRun) requireRoot(ctx, 'setup');
    const runId = newRunId();
    const { data, steps, manifest } = opts.undo ? await planUndo(ctx, opts) : await runSetup(opts, ctx);
    if (!steps.length || opts.dryRun) return { ok: true, data, warnings: [] };
    await confirmChange(ctx, opts.yes, data.action === 'undo' ? 'Restore these files?' : 'Apply these changes to the boot configuration?');
    data.applied = await applySetup(ctx, steps, runId, () => manifest(runId));
    return { ok: data.applied.ok, data, warnings: [] };
  },
  render: (d, s) => renderSetup(d, s),
};
