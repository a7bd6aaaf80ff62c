import type { CommandDef } from '../command.js';
import type { Ctx } from '../../context.js';
import { ExitCode, usageError } from '../../errors.js';
import type { HostConfig } from '../../hostconfig/schema.js';
import type { Style } from '../../output.js';
import type { ChangeResult } from '../../change/types.js';
import { renderChangeText } from '../../change/render.js';
import { FILE_OPTIONS, openHostConfig, parseFileOptions, renderDifferences, renderInvalid, renderTail, withInspection, type AnsibleResult, type HostOptions } from './common.js';

export interface HostApplyOptions extends HostOptions {
  dryRun: boolean;
  yes: boolean;
  force: boolean;
  /** Record the file and config as what this host applies at every boot (gpuvirt-host.service). */
  persist: boolean;
  /** The run of the boot unit: no question, and a reboot still needed is exit status 10. */
  boot: boolean;
  /** Wait at most this many seconds for the devices and PF drivers the config needs (0: no wait). */
  waitReady: number;
}

export interface HostApplyExtra {
  /** The readiness wait, when --wait-ready asked for one. */
  ready?: { ready: boolean; polls: number; waitedMs: number; missing: string[] };
  /** With --persist: the config applied at boot and where it is recorded. */
  persisted?: { config: string; file: string; unit: string };
  /**
   * When this apply made VFs whose vGPUs it then planned as a second change: the first change's
   * steps (applied; it stays applied whatever the second does). The rest of the document is the
   * second change's, except the diff, which is from before the first.
   */
  firstChange?: { steps: number; applied: boolean };
}

export type HostApplyData = AnsibleResult & HostApplyExtra & Partial<ChangeResult<Record<never, never>>>;

function render(d: HostApplyData, s: Style, ctx: Ctx): string {
  if (!d.configFound) return renderInvalid(d, s, ctx);
  if (d.ready && !d.ready.ready) return renderTail(d, s);
  const head = d.differences.length && !d.applied ? renderDifferences(d, s).trimEnd().split('\n') : [];
  const nothing = `Nothing to do: the host already matches config ${d.config}${d.persisted ? ', and applies it at boot' : ''}.`;
  return `${d.steps ? renderChangeText(d as ChangeResult<object>, s, head, nothing) : ''}${renderTail(d, s)}`;
}

function parseWait(v: unknown): number {
  if (v === undefined) return 0;
  const n = Number(v);
  if (!/^\d+$/.test(String(v)) || n > 3600) throw usageError(`--wait-ready ${JSON.stringify(String(v))}: give whole seconds from 0 to 3600`);
  return n;
}

export const hostApply: CommandDef<HostApplyOptions, HostApplyData> = {
  name: 'host apply',
  summary: 'make this host match a named host config, as one change (never reboots)',
  help: [
    'Plans everything the config needs as one list of steps, in this order: the kernel parameters',
    'and vfio modules at boot (as `gpuvirt setup`), SR-IOV VF counts (as `sriov enable|disable`),',
    'vGPUs on VFs (as `vgpu remove|create`), then passthrough bindings (as `gpuvirt passthrough`,',
    'with its preflight). Shows the whole plan,',
    'asks once (or --yes), applies step by step and undoes all of it on any failure. Applying a',
    'config the host already matches changes nothing (changed: false). Says when a reboot is',
    'needed for the kernel command line, and never reboots.',
    '--persist also records the file and config in /etc/gpuvirt/host.yaml (the boot record every',
    '--persist edits), writes the early files generated from it (passthrough udev rule, softdeps,',
    'initramfs; VF counts) and enables gpuvirt-host.service, which runs `host apply --boot` at every',
    'boot (`gpuvirt host unpersist` removes it all). --wait-ready waits, bounded, for the devices and PF drivers first (exit 9 when',
    'they never come); --boot exits 10 when a reboot is still needed.',
  ].join('\n'),
  linuxOnly: true,
  options: [
    ...FILE_OPTIONS,
    { flags: '--dry-run', help: 'print the plan and change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
    { flags: '--force', help: 'go past the refusals --force can override (each says what it does)' },
    { flags: '--persist', help: 'apply this config again at every boot (/etc/gpuvirt/host.yaml, gpuvirt-host.service)' },
    { flags: '--wait-ready <seconds>', help: 'wait at most this long for the devices and PF drivers the config needs' },
    { flags: '--boot', help: 'the boot unit\'s run: no question; exit 10 when a reboot is still needed' },
  ],
  parse: (_args, opts) => {
    const boot = Boolean(opts.boot);
    if (boot && opts.persist) throw usageError('--boot is the run of the boot unit --persist writes: give one of them');
    return {
      ...parseFileOptions(opts), dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes) || boot, force: Boolean(opts.force),
      persist: Boolean(opts.persist), boot, waitReady: parseWait(opts.waitReady),
    };
  },
  async run(opts, ctx) {
    const opened = await openHostConfig(opts);
    if (!opened.config) return { ok: false, data: opened.result, warnings: [], exitCode: ExitCode.usage };
    const config = opened.config;
    const [{ runChange }, { inspect }, { planHostApply }, boot, early] = await Promise.all([
      import('../../change/engine.js'), import('../../hostconfig/inspect.js'), import('../../hostconfig/plan.js'), import('../../hostconfig/boot.js'),
      import('../../hostconfig/early.js'),
    ]);
    const waited = opts.waitReady > 0 ? await waitFor(ctx, config, opts.waitReady) : undefined;
    if (waited && !waited.ready) {
      const msg = `not ready after ${Math.round(waited.waitedMs / 1000)} s (${waited.polls} looks), nothing was changed: ${waited.missing.join('; ')}`;
      return { ok: false, data: { ...opened.result, ready: waited, failed: true, msg }, warnings: [], exitCode: ExitCode.notReady };
    }
    let deferred: string[] = [];
    const change = (persist: boolean) => runChange(ctx, 'host apply', opts, async () => {
      const found = await inspect(ctx, config);
      deferred = [...new Set([...found.vgpuDeferred, ...found.vfDeferred.map((d) => d.pf)])];
      const plan = planHostApply(ctx, withInspection(opened.result, found, true), found, opts.config, opts.force);
      if (persist) {
        // The file becomes the boot record as given; its early files (bindings, VF counts) are generated from it.
        const files = early.planBootFiles(ctx, opened.source, opts.config);
        plan.steps = [...plan.steps, ...files.steps];
        plan.warnings = [...(plan.warnings ?? []), ...files.warnings, ...early.droppedFromRecord(ctx, opened.source, opts.config)];
        const inner = plan.state;
        plan.state = (st) => files.state(inner ? inner(st) : st);
        plan.watch = [...(plan.watch ?? []), { kind: 'exists', path: boot.HOST_UNIT_WANTS }];
        plan.question = `Apply ${plan.steps.length} steps to make this host match config ${opts.config}, and apply it at every boot?`;
      }
      return plan;
    }, async (d) => render(d, await ctx.style(), ctx));
    let outcome = await change(opts.persist);
    // VFs made by this change list their vGPU types only once they exist, and a VF named by its
    // address can be bound only then: a second change, planned from the host as it is now, gives
    // them their vGPUs and drivers (its own plan, question, journal and rollback; the first change
    // stays applied, as `sriov enable` then `vgpu create` or `passthrough` would).
    const first = outcome.data;
    if (deferred.length && outcome.ok && first.applied?.ok && !first.dryRun) {
      ctx.io.err(`gpuvirt: the VFs of ${deferred.join(', ')} exist now: planning what the config says of them\n`);
      const second = await change(false);
      const extra: HostApplyExtra = { firstChange: { steps: first.steps?.length ?? 0, applied: true } };
      outcome = {
        ...second,
        warnings: [...(outcome.warnings ?? []).filter((w) => !/apply the config again for its (vGPUs|own entry)/.test(w)), ...(second.warnings ?? [])],
        data: Object.assign(second.data, { diff: first.diff, differences: first.differences }, extra),
      };
    }
    const d: HostApplyData = outcome.data;
    if (waited) d.ready = waited;
    if (opts.persist) d.persisted = { config: opts.config, file: boot.HOST_STATE, unit: boot.HOST_UNIT_NAME };
    const applied = Boolean(d.applied?.ok);
    d.changed = (applied && !d.noop) || Boolean(d.firstChange);
    d.failed = !outcome.ok;
    // After a run (applied or rolled back), or when nothing ran, the reboot is about what is configured now.
    if (d.applied || d.blocked || d.noop) d.reboot_required = (await inspect(ctx, config)).rebootRequired;
    const stopped = d.refusals?.map((r) => r.message).join('; ');
    d.msg = d.blocked ? `refused: ${stopped}`
      : d.applied && !d.applied.ok ? `apply failed and was ${d.applied.rollback?.ok ? 'rolled back' : 'not completely rolled back (run `gpuvirt recover`)'}: ${d.applied.steps.find((x) => x.status === 'failed')?.error ?? d.interrupted ?? 'a step failed'}`
        : d.dryRun ? `dry run: ${d.steps?.length ?? 0} step(s) would be applied`
          : d.noop && !d.firstChange ? `the host already matches config ${opts.config}`
            : `applied config ${opts.config}: ${d.firstChange ? `${d.firstChange.steps} step(s), then, once its VFs existed, ` : ''}${d.steps?.length ?? 0} step(s)`;
    if (opts.persist && !d.failed && !d.dryRun) d.msg += `; applied again at every boot (${boot.HOST_UNIT_NAME})`;
    if (d.reboot_required && !d.failed) d.msg += '; reboot required for the kernel command line';
    if (opts.boot && d.reboot_required && !d.failed && !d.dryRun) {
      d.msg += ' (gpuvirt does not reboot: reboot the host to finish)';
      return { ...outcome, ok: false, data: d, exitCode: ExitCode.rebootRequired };
    }
    return { ...outcome, data: d, exitCode: outcome.exitCode ?? (outcome.ok ? ExitCode.ok : ExitCode.failed) };
  },
  render,
};

/** The bounded readiness wait, each look that finds something missing said on stderr (the unit's journal). */
async function waitFor(ctx: Ctx, config: HostConfig, seconds: number): Promise<NonNullable<HostApplyExtra['ready']>> {
  const { notReady, waitReady } = await import('../../hostconfig/ready.js');
  let said = '';
  return waitReady(() => {
    const missing = notReady(ctx.host, ctx.names, config);
    const line = missing.join('; ');
    if (missing.length && line !== said) ctx.io.err(`gpuvirt: waiting (at most ${seconds} s): ${line}\n`);
    said = line;
    return missing;
  }, seconds, {
    sleep: ctx.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    now: () => (ctx.clock ?? (() => new Date()))().getTime(),
  });
}
