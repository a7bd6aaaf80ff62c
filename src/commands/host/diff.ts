import type { CommandDef } from '../command.js';
import { ExitCode } from '../../errors.js';
import { FILE_OPTIONS, openHostConfig, parseFileOptions, renderDifferences, renderInvalid, renderTail, withInspection, type AnsibleResult, type HostOptions } from './common.js';

/** Shared by diff and assert: the config against this host. */
export async function compare(opts: HostOptions, ctx: Parameters<CommandDef<HostOptions, AnsibleResult>['run']>[1], afterApply: boolean): Promise<{ r: AnsibleResult; valid: boolean }> {
  const opened = await openHostConfig(opts);
  if (!opened.config) return { r: opened.result, valid: false };
  const { inspect } = await import('../../hostconfig/inspect.js');
  const r = withInspection(opened.result, await inspect(ctx, opened.config), afterApply);
  return { r, valid: true };
}

export const hostDiff: CommandDef<HostOptions, AnsibleResult> = {
  name: 'host diff',
  summary: 'show what `host apply` would change: this host against a named host config',
  help: [
    'Compares each selected device (driver, VF count, the VFs\' driver) and the host-wide items',
    '(kernel parameters, vfio modules at boot) with the config, and prints the differences as a',
    'diff. Changes nothing. --json: changed (apply would change something), failed, msg,',
    'diff {before, after} and reboot_required, as an Ansible module returns them.',
  ].join('\n'),
  linuxOnly: true,
  options: FILE_OPTIONS,
  parse: (_args, opts) => parseFileOptions(opts),
  async run(opts, ctx) {
    const { r, valid } = await compare(opts, ctx, true);
    if (!valid) return { ok: false, data: r, warnings: [], exitCode: ExitCode.usage };
    r.changed = r.differences.length > 0;
    r.failed = r.problems.length > 0;
    r.msg = r.failed ? `config ${opts.config} cannot be applied here: ${r.problems.join('; ')}`
      : r.changed ? `${r.differences.length} difference(s): \`gpuvirt host apply\` would change them` : `the host matches config ${opts.config}`;
    return { ok: !r.failed, data: r, warnings: [] };
  },
  render: (r, s, ctx) => (r.configFound ? `${r.differences.length ? renderDifferences(r, s) : ''}${renderTail(r, s)}` : renderInvalid(r, s, ctx)),
};
