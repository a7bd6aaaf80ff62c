import type { CommandDef } from '../command.js';
import type { Ctx } from '../../context.js';
import { ExitCode } from '../../errors.js';
import type { Style } from '../../output.js';
import type { DriftCheck } from '../../profiles/check.js';
import { fileResult, invalidProfile, renderFileResult, type FileResult } from './validate.js';

export interface CheckOptions {
  file: string;
}

export interface CheckData {
  file: string;
  /** No check failed: the hardware is what the profile describes. */
  matches: boolean;
  checks: DriftCheck[];
  profile: FileResult;
}

const LABEL: Record<DriftCheck['status'], (s: Style) => string> = {
  pass: (s) => s.green('PASS'),
  warn: (s) => s.yellow('WARN'),
  fail: (s) => s.red('FAIL'),
  skip: (s) => s.dim('SKIP'),
};

function renderCheck(d: CheckData, s: Style, ctx: Ctx): string {
  if (!d.profile.valid) {
    ctx.io.err(renderFileResult(d.profile, s));
    return '';
  }
  const out: string[] = [s.bold(`gpuvirt profile check: ${d.file}`)];
  let last = -1;
  for (const c of d.checks) {
    if (c.device !== last) out.push(`  devices[${c.device}]`);
    last = c.device;
    out.push(`    ${LABEL[c.status](s)}  ${c.id.padEnd(9)}  ${c.summary}`);
  }
  const fails = d.checks.filter((c) => c.status === 'fail').length;
  out.push(fails ? s.red(`${fails} check(s) failed: the hardware no longer matches the profile`) : s.green('the hardware matches the profile'));
  return `${out.join('\n')}\n`;
}

export const profileCheck: CommandDef<CheckOptions, CheckData> = {
  name: 'profile check',
  summary: 'check that the hardware still matches a profile (ids, subsystem ids, groups, isolation)',
  help: [
    'Looks up every device of the profile on this host (or --root) and compares what the profile',
    'recorded (vendor:device and subsystem ids, IOMMU group) with what is there now; checks the',
    'group is still isolated, the VF count and mdev type, and whether the devices are on vfio-pci.',
    'Exit status 1 when something no longer matches, 2 for an invalid profile.',
  ].join('\n'),
  linuxOnly: true,
  args: [
    { name: '<profile>', help: 'profile file' },
  ],
  parse: (args) => ({ file: args[0]! }),
  async run(opts, ctx) {
    const [{ openProfile }, { readInventory }, { resolveProfile }, { driftChecks }] = await Promise.all([
      import('../../profiles/session.js'), import('../../profiles/inventory.js'), import('../../profiles/resolve.js'), import('../../profiles/check.js'),
    ]);
    const opened = await openProfile(opts.file, ctx, { resolve: false, offline: false, needFunctions: true });
    const data: CheckData = { file: opts.file, matches: false, checks: [], profile: fileResult(opts.file, opened.source, opened.problems) };
    if (!opened.profile) return invalidProfile(data, data.profile);
    const inv = readInventory(ctx.host, ctx.names);
    const resolved = resolveProfile(opened.profile, inv, { needFunctions: true });
    data.checks = driftChecks(opened.profile, inv, resolved.devices);
    data.matches = !data.checks.some((c) => c.status === 'fail');
    const failed = data.checks.filter((c) => c.status === 'fail');
    const dataWarnings = data.checks.filter((c) => c.status === 'warn').length;
    if (data.matches) return { ok: true, data, warnings: [], dataWarnings };
    const message = `the hardware no longer matches ${opts.file}: ${failed.map((c) => `devices[${c.device}] ${c.id}`).join(', ')}`;
    return { ok: false, data, warnings: [], exitCode: ExitCode.failed, error: { code: 'E_DRIFT', message }, dataWarnings };
  },
  render: (d, s, ctx) => renderCheck(d, s, ctx),
};
