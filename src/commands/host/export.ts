import type { CommandDef } from '../command.js';
import { usageError } from '../../errors.js';

export interface HostExportOptions {
  config: string;
}

export interface HostExportData {
  config: string;
  text: string;
}

export const hostExport: CommandDef<HostExportOptions, HostExportData> = {
  name: 'host export',
  summary: 'print this host\'s current state as a host config (passthrough drivers, VF counts, IOMMU, vfio modules)',
  help: [
    'Writes the devices on vfio-pci or pci-stub, the SR-IOV PFs with VFs (and whether those are on',
    'vfio-pci), whether the IOMMU is on and vfio is loaded at boot, as a gpuvirt/v1 HostConfig with',
    'one config (-c, default "exported"). `host assert` with it passes on this host.',
  ].join('\n'),
  linuxOnly: true,
  configure(cmd) {
    cmd.option('-c, --config <name>', 'name of the config written', 'exported');
  },
  parse: (_args, opts) => {
    const config = String(opts.config ?? 'exported');
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(config)) throw usageError(`-c ${JSON.stringify(config)}: a config name is letters, digits, "_", "." and "-"`);
    return { config };
  },
  async run(opts, ctx) {
    const { exportHostConfig } = await import('../../hostconfig/export.js');
    return { ok: true, data: { config: opts.config, text: exportHostConfig(ctx.host, ctx.names, opts.config) }, warnings: [] };
  },
  render: (d) => d.text,
};
