import type { CommandDef } from '../command.js';
import { ExitCode } from '../../errors.js';
import { FILE_OPTIONS, parseFileOptions, renderDifferences, renderInvalid, renderTail, type AnsibleResult, type HostOptions } from './common.js';
import { compare } from './diff.js';

export const hostAssert: CommandDef<HostOptions, AnsibleResult> = {
  name: 'host assert',
  summary: 'check that this host is in the state of a named host config (exit 0), or not (1)',
  help: [
    'Checks every selected device and the host-wide items against the config. A host whose',
    'configured kernel command line is not the running one (a reboot is due) does not match yet.',
    'Exit status 0: the host matches; 1: it does not (the differences are printed); 2: invalid file.',
  ].join('\n'),
  linuxOnly: true,
  options: FILE_OPTIONS,
  parse: (_args, opts) => parseFileOptions(opts),
  async run(opts, ctx) {
    const { r, valid } = await compare(opts, ctx, false);
    if (!valid) return { ok: false, data: r, warnings: [], exitCode: ExitCode.usage };
    r.changed = false;
    r.failed = r.differences.length > 0 || r.problems.length > 0 || r.reboot_required;
    const why = [
      r.differences.length ? `${r.differences.length} difference(s)` : '',
      r.problems.length ? r.problems.join('; ') : '',
      r.reboot_required ? 'a reboot is required for the configured kernel command line' : '',
    ].filter(Boolean).join('; ');
    r.msg = r.failed ? `the host does not match config ${opts.config}: ${why}` : `the host matches config ${opts.config}`;
    return { ok: !r.failed, data: r, warnings: [], exitCode: r.failed ? ExitCode.failed : ExitCode.ok };
  },
  render: (r, s, ctx) => (r.configFound ? `${r.differences.length ? renderDifferences(r, s) : ''}${renderTail(r, s)}` : renderInvalid(r, s, ctx)),
};
