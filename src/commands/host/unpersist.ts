import type { CommandDef } from '../command.js';
import type { ChangeResult } from '../../change/types.js';
import { renderChangeText } from '../../change/render.js';
import type { Style } from '../../output.js';

export interface HostUnpersistOptions {
  dryRun: boolean;
  yes: boolean;
}

export interface HostUnpersistView {
  /** The config the boot unit applied (null: no unit, or one gpuvirt cannot read a config from). */
  config: string | null;
  file: string;
  unit: string;
}

export type HostUnpersistData = ChangeResult<HostUnpersistView>;

function render(d: HostUnpersistData, s: Style): string {
  const head = d.noop ? [] : [s.bold(`Stop applying ${d.config ? `config ${d.config}` : 'a host config'} at boot: ${d.unit} and ${d.file} go.`)];
  return renderChangeText(d, s, head, 'Nothing to do: no host config is applied at boot.');
}

export const hostUnpersist: CommandDef<HostUnpersistOptions, HostUnpersistData> = {
  name: 'host unpersist',
  summary: 'remove the boot record and everything generated from it (--persist of any command); the host keeps its state',
  help: [
    'Disables and removes gpuvirt-host.service, removes /etc/gpuvirt/host.yaml and every file',
    'generated from it (the passthrough udev rule, softdeps and initramfs hook, then an initramfs',
    'rebuild; the SR-IOV udev rule and GIM vf_num option; units of earlier versions), through the',
    'change engine (plan, question or --yes, undo on failure). The host keeps its current state:',
    'nothing is released or disabled now; it is only no longer applied at the next boot.',
  ].join('\n'),
  linuxOnly: true,
  options: [
    { flags: '--dry-run', help: 'print the plan and change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
  ],
  parse: (_args, opts) => ({ dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes) }),
  async run(opts, ctx) {
    const [{ runChange }, boot, early] = await Promise.all([import('../../change/engine.js'), import('../../hostconfig/boot.js'), import('../../hostconfig/early.js')]);
    return runChange(ctx, 'host unpersist', { ...opts, force: false }, async () => {
      const now = boot.persistedConfig(ctx.host);
      // Everything generated from the record goes with it (and whatever earlier versions kept their own way).
      const files = early.planBootFiles(ctx, null, now.config ?? 'local');
      const steps = files.steps;
      return {
        view: { config: now.config, file: boot.HOST_STATE, unit: boot.HOST_UNIT_NAME },
        steps, state: files.state, warnings: files.warnings,
        question: `Stop applying ${now.config ? `config ${now.config}` : 'a host config'} at boot (${steps.length} steps)?`,
        watch: [{ kind: 'exists', path: boot.HOST_UNIT_WANTS }],
      };
    }, async (d) => render(d, await ctx.style()));
  },
  render,
};
