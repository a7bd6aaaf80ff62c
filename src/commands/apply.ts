import type { CommandDef } from './command.js';
import type { Ctx } from '../context.js';
import { ExitCode } from '../errors.js';
import type { Style } from '../output.js';
import type { ApplyReport } from '../mutate/apply.js';
import type { StepJson } from '../mutate/steps.js';
import type { Refusal } from '../passthrough/preflight.js';
import type { ApplyPlan, ConfigFile } from '../profiles/apply-plan.js';
import type { Profile } from '../profiles/schema.js';
import type { ResolvedDevice } from '../profiles/resolve.js';
import { deviceJson, generateFor, type DeviceJson } from './generate.js';
import { fileResult, renderFileResult, type FileResult } from './profile/validate.js';

export interface ApplyOptions {
  file: string;
  dryRun: boolean;
  yes: boolean;
  force: boolean;
  persist: boolean;
}

export interface ApplyData {
  file: string;
  dryRun: boolean;
  devices: DeviceJson[];
  refusals: Refusal[];
  errors: string[];
  blocked: boolean;
  steps: StepJson[];
  configs: { target: string; path: string }[];
  applied: ApplyReport | null;
  noop: boolean;
  profile: FileResult;
}

async function configsFor(profile: Profile, devices: ResolvedDevice[]): Promise<ConfigFile[]> {
  const { configDir } = await import('../profiles/apply-plan.js');
  const dir = configDir(profile);
  const slug = dir.slice(dir.lastIndexOf('/') + 1);
  const out: ConfigFile[] = [];
  out.push({ target: 'qemu', path: `${dir}/${slug}.sh`, content: (await generateFor('qemu', profile, devices)).text, mode: 0o755 });
  out.push({ target: 'libvirt', path: `${dir}/${slug}.xml`, content: (await generateFor('libvirt', profile, devices)).text });
  if (profile.targets.proxmox) {
    const px = await generateFor('proxmox', profile, devices);
    if (!px.problems.length) out.push({ target: 'proxmox', path: `${dir}/proxmox-${profile.targets.proxmox.vmid}.txt`, content: px.text });
  }
  return out;
}

/** Records the run in gpuvirt's state (so `release` and `sriov disable` know it), applies, and settles the records. */
async function execute(ctx: Ctx, plan: ApplyPlan): Promise<ApplyReport> {
  const [{ applySteps, runId }, { acquireLock }, state, { restoreAll }] = await Promise.all([
    import('../mutate/apply.js'), import('../mutate/lock.js'), import('../state.js'), import('../profiles/apply-plan.js'),
  ]);
  const unlock = acquireLock(ctx.host, 'apply');
  try {
    const before = state.readState(ctx.host);
    state.assertNotInterrupted(before);
    const journal = structuredClone(before);
    for (const e of plan.entries) journal.devices[e.address] = e;
    journal.sriov = { ...journal.sriov };
    for (const { record } of plan.pfs) journal.sriov[record.pf] = { ...record, status: 'applying' };
    state.writeState(ctx.host, journal);
    const progress = ctx.json ? undefined : (line: string) => ctx.io.err(`${line}\n`);
    const report = await applySteps(plan.steps, { host: ctx.host, exec: ctx.exec, progress, runId: runId() }, () => restoreAll(ctx, plan));
    if (report.ok) {
      const after = state.readState(ctx.host);
      for (const e of plan.entries) after.devices[e.address] = { ...e, status: 'bound' };
      after.sriov = { ...after.sriov };
      for (const { record } of plan.pfs) after.sriov[record.pf] = record;
      state.writeState(ctx.host, after);
    } else if (report.rollback?.ok) state.writeState(ctx.host, before);
    // A failed rollback leaves the records `applying`, so `release --all` can finish the job.
    return report;
  } finally {
    unlock();
  }
}

function renderApply(d: ApplyData, s: Style, ctx: Ctx): string {
  if (!d.profile.valid) {
    ctx.io.err(renderFileResult(d.profile, s));
    return '';
  }
  const out = [s.bold(`gpuvirt apply ${d.file}`)];
  for (const v of d.devices) out.push(`  devices[${v.index}] ${v.kind}: ${v.addresses.join(', ')}${v.uuid ? ` (mdev ${v.uuid})` : ''}`);
  if (d.errors.length) out.push('', s.red(s.bold('Cannot:')), ...d.errors.map((e) => `  ${e}`));
  if (d.refusals.length) {
    out.push('', d.blocked ? s.red(s.bold('Refused:')) : s.yellow(s.bold('Forced past:')));
    for (const r of d.refusals) out.push(`  ${r.message}`, s.dim(r.force ? `    --force would ${r.force}` : '    --force cannot override this'));
  }
  if (d.noop) out.push('', 'Nothing to do: the host already matches the profile.');
  else if (!d.applied) {
    out.push('', s.bold(d.dryRun ? 'Plan (dry run, nothing changed):' : 'Plan (not applied):'));
    d.steps.forEach((st, i) => out.push(`  ${String(i + 1).padStart(2)}. ${st.title}`, s.dim(`      ${st.action}`)));
  } else if (d.applied.ok) {
    out.push('', s.green(`Done: ${d.applied.steps.length} steps applied and verified.`));
    for (const c of d.configs) out.push(`  ${c.target}: ${c.path}`);
  } else {
    const failed = d.applied.steps.find((x) => x.status === 'failed');
    out.push('', s.red(`Failed: ${failed?.error ?? 'a step failed'}`));
    out.push(d.applied.rollback?.ok ? 'Rolled back: the host is as it was before.' : s.red(`Rollback incomplete: ${(d.applied.rollback?.errors ?? []).join('; ')}`));
  }
  return `${out.join('\n')}\n`;
}

export const apply: CommandDef<ApplyOptions, ApplyData> = {
  name: 'apply',
  summary: 'make this host match a profile (VF counts, vfio-pci, persistence), then write its VM configs',
  help: [
    'Plans everything the profile needs as one list of steps: SR-IOV VF counts, vfio-pci for every',
    'function it passes (with the passthrough preflight: shared groups, the boot GPU, disks and NICs',
    'in use), mdev instances, boot-time persistence (unless --no-persist), and the generated QEMU,',
    'libvirt and Proxmox configs under /var/lib/gpuvirt/vms/<name>/. Asks once, applies step by',
    'step, and on any failure undoes all of it.',
  ].join('\n'),
  linuxOnly: true,
  configure(cmd) {
    cmd
      .argument('<profile>', 'profile file')
      .option('--dry-run', 'print the plan and change nothing')
      .option('-y, --yes', 'apply without asking')
      .option('--force', 'go past the refusals --force can override (each says what it does)')
      .option('--no-persist', 'change the running host only, not what happens at boot');
  },
  parse: (args, opts) => ({ file: args[0]!, dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes), force: Boolean(opts.force), persist: opts.persist !== false }),
  async run(opts, ctx) {
    const [{ openProfile }, { planApply }, { stepJson }, guard] = await Promise.all([
      import('../profiles/session.js'), import('../profiles/apply-plan.js'), import('../mutate/steps.js'), import('../mutate/guard.js'),
    ]);
    const opened = openProfile(opts.file, ctx, { resolve: true, offline: false, needFunctions: true });
    const data: ApplyData = {
      file: opts.file, dryRun: opts.dryRun, devices: opened.devices.map(deviceJson), refusals: [], errors: [], blocked: false,
      steps: [], configs: [], applied: null, noop: false, profile: fileResult(opts.file, opened.source, opened.problems),
    };
    if (!opened.profile) return { ok: false, data, warnings: [], exitCode: ExitCode.usage };
    if (!opts.dryRun) guard.requireRoot(ctx, 'apply');
    const configs = await configsFor(opened.profile, opened.devices);
    const plan = planApply(ctx, opened.profile, opened.devices, configs, { force: opts.force, persist: opts.persist });
    Object.assign(data, { refusals: plan.refusals, errors: plan.errors, blocked: plan.blocked, steps: plan.steps.map(stepJson), noop: plan.steps.length === 0 });
    data.configs = configs.map((c) => ({ target: c.target, path: c.path }));
    if (plan.blocked) return { ok: false, data, warnings: [], exitCode: plan.errors.length ? ExitCode.unsupported : ExitCode.refused };
    const warnings = opts.force ? plan.refusals.map((r) => `forced: ${r.message}`) : [];
    if (data.noop || opts.dryRun) return { ok: true, data, warnings };
    await guard.confirmChange(ctx, opts.yes, `Apply ${plan.steps.length} steps for ${opened.profile.name}?`);
    data.applied = await execute(ctx, plan);
    return { ok: data.applied.ok, data, warnings };
  },
  render: (d, s, ctx) => renderApply(d, s, ctx),
};
