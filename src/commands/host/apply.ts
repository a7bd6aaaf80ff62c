import type { CommandDef } from '../command.js';
import type { Ctx } from '../../context.js';
import { ExitCode } from '../../errors.js';
import type { Style } from '../../output.js';
import type { ChangeResult } from '../../change/types.js';
import { renderChangeText } from '../../change/render.js';
import { FILE_OPTIONS, openHostConfig, parseFileOptions, renderDifferences, renderInvalid, renderTail, withInspection, type AnsibleResult, type HostOptions } from './common.js';

export interface HostApplyOptions extends HostOptions {
  dryRun: boolean;
  yes: boolean;
  force: boolean;
}

export type HostApplyData = AnsibleResult & Partial<ChangeResult<Record<never, never>>>;

function render(d: HostApplyData, s: Style, ctx: Ctx): string {
  if (!d.configFound) return renderInvalid(d, s, ctx);
  const head = d.differences.length && !d.applied ? renderDifferences(d, s).trimEnd().split('\n') : [];
  const nothing = `Nothing to do: the host already matches config ${d.config}.`;
  return `${d.steps ? renderChangeText(d as ChangeResult<object>, s, head, nothing) : ''}${renderTail(d, s)}`;
}

export const hostApply: CommandDef<HostApplyOptions, HostApplyData> = {
  name: 'host apply',
  summary: 'make this host match a named host config, as one change (never reboots)',
  help: [
    'Plans everything the config needs as one list of steps, in this order: the kernel parameters',
    'and vfio modules at boot (as `gpuvirt setup`), SR-IOV VF counts (as `sriov enable|disable`),',
    'then passthrough bindings (as `gpuvirt passthrough`, with its preflight). Shows the whole plan,',
    'asks once (or --yes), applies step by step and undoes all of it on any failure. Applying a',
    'config the host already matches changes nothing (changed: false). Says when a reboot is',
    'needed for the kernel command line, and never reboots.',
  ].join('\n'),
  linuxOnly: true,
  options: [
    ...FILE_OPTIONS,
    { flags: '--dry-run', help: 'print the plan and change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
    { flags: '--force', help: 'go past the refusals --force can override (each says what it does)' },
  ],

  parse: (_args, opts) => ({ ...parseFileOptions(opts), dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes), force: Boolean(opts.force) }),
  async run(opts, ctx) {
    const opened = await openHostConfig(opts);
    if (!opened.config) return { ok: false, data: opened.result, warnings: [], exitCode: ExitCode.usage };
    const config = opened.config;
    const [{ runChange }, { inspect }, { planHostApply }] = await Promise.all([
      import('../../change/engine.js'), import('../../hostconfig/inspect.js'), import('../../hostconfig/plan.js'),
    ]);
    const outcome = await runChange(ctx, 'host apply', opts, async () => {
      const found = await inspect(ctx, config);
      return planHostApply(ctx, withInspection(opened.result, found, true), found, opts.config, opts.force);
    }, async (d) => render(d, await ctx.style(), ctx));
    const d: HostApplyData = outcome.data;
    const applied = Boolean(d.applied?.ok);
    d.changed = applied && !d.noop;
    d.failed = !outcome.ok;
    // After a run (applied or rolled back), or when nothing ran, the reboot is about what is configured now.
    if (d.applied || d.blocked || d.noop) d.reboot_required = (await inspect(ctx, config)).rebootRequired;
    const stopped = d.refusals?.map((r) => r.message).join('; ');
    d.msg = d.blocked ? `refused: ${stopped}`
      : d.applied && !d.applied.ok ? `apply failed and was ${d.applied.rollback?.ok ? 'rolled back' : 'not completely rolled back (run `gpuvirt recover`)'}: ${d.applied.steps.find((x) => x.status === 'failed')?.error ?? d.interrupted ?? 'a step failed'}`
        : d.dryRun ? `dry run: ${d.steps?.length ?? 0} step(s) would be applied`
          : d.noop ? `the host already matches config ${opts.config}` : `applied config ${opts.config}: ${d.steps?.length ?? 0} step(s)`;
    if (d.reboot_required && !d.failed) d.msg += '; reboot required for the kernel command line';
    return { ...outcome, data: d, exitCode: outcome.exitCode ?? (outcome.ok ? ExitCode.ok : ExitCode.failed) };
  },
  render,
};
