import type { CommandDef } from '../command.js';
import { usageError } from '../../errors.js';
import type { KubevirtConfiguration } from '../../fleet/kubevirt.js';
import type { NovaOutput } from '../../fleet/nova.js';
import type { MappingSection } from '../../generate/proxmox.js';

export type ExportTarget = 'config' | 'kubevirt' | 'nova' | 'proxmox-mappings';
const TARGETS: ExportTarget[] = ['config', 'kubevirt', 'nova', 'proxmox-mappings'];
const ARTIFACTS = ['commands', 'mapping'] as const;

export interface HostExportOptions {
  config: string;
  target: ExportTarget;
  node: string | null;
  artifact: (typeof ARTIFACTS)[number];
}

export interface HostExportData {
  target: ExportTarget;
  /** config: the name of the config written. */
  config: string;
  node: string | null;
  text: string;
  /** kubevirt: spec.configuration's fragment. */
  kubevirt?: KubevirtConfiguration;
  nova?: Omit<NovaOutput, 'text' | 'warnings'>;
  proxmox?: { artifact: HostExportOptions['artifact']; sections: MappingSection[]; commands: string[][]; mapping: string; script: string };
}

const NODE = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$/;

export const hostExport: CommandDef<HostExportOptions, HostExportData> = {
  name: 'host export',
  summary: 'print this host\'s state as a host config, or what it has prepared for KubeVirt, Nova or a Proxmox cluster',
  help: [
    '--target config (default): the devices on vfio-pci or pci-stub, the SR-IOV PFs with VFs (and whether',
    'those are on vfio-pci), whether the IOMMU is on and vfio is loaded at boot, as a gpuvirt/v1 HostConfig',
    'with one config (-c, default "exported"). `host assert` with it passes on this host.',
    'The other targets describe what this host has prepared for VMs now (GPUs and VFs on vfio-pci, NVIDIA',
    'VFs with a vGPU type set, mediated devices that exist) for the system above it. kubevirt: the KubeVirt',
    'CR\'s spec.configuration with permittedHostDevices and mediatedDevicesConfiguration (YAML; merge every',
    'node\'s lists). nova: nova.conf\'s [pci] device_spec and alias, [devices] enabled_mdev_types.',
    'proxmox-mappings: this node\'s PCI mappings, as pvesh create commands (--artifact commands, the',
    'default) or /etc/pve/mapping/pci.cfg sections (--artifact mapping); one mapping per kind of device,',
    'named alike on every node, so the nodes\' lines pool alike devices. --node names this node (default:',
    'the kernel\'s hostname).',
  ].join('\n'),
  linuxOnly: true,
  options: [
    { flags: '-c, --config <name>', help: 'config target: name of the config written', default: 'exported' },
    { flags: '--target <target>', help: 'config, kubevirt, nova or proxmox-mappings', default: 'config' },
    { flags: '--node <name>', help: 'this node\'s name in the cluster (default: the hostname)' },
    { flags: '--artifact <artifact>', help: 'proxmox-mappings: commands or mapping', default: 'commands' },
  ],
  parse: (_args, opts) => {
    const config = String(opts.config ?? 'exported');
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(config)) throw usageError(`-c ${JSON.stringify(config)}: a config name is letters, digits, "_", "." and "-"`);
    const target = String(opts.target ?? 'config') as ExportTarget;
    if (!TARGETS.includes(target)) throw usageError(`--target ${target}: must be ${TARGETS.join(', ')}`);
    const artifact = String(opts.artifact ?? 'commands') as HostExportOptions['artifact'];
    if (!ARTIFACTS.includes(artifact)) throw usageError(`--artifact ${artifact}: must be commands or mapping`);
    if (opts.artifact !== undefined && opts.artifact !== 'commands' && target !== 'proxmox-mappings') throw usageError('--artifact is for --target proxmox-mappings');
    const node = typeof opts.node === 'string' ? opts.node : null;
    // A Proxmox node name and a kubernetes.io/hostname label value both fit this.
    if (node !== null && !NODE.test(node)) throw usageError(`--node ${JSON.stringify(node)}: a node name is letters, digits, "-" and ".", at most 63`);
    return { config, target, node, artifact };
  },
  async run(opts, ctx) {
    const data: HostExportData = { target: opts.target, config: opts.config, node: opts.node, text: '' };
    if (opts.target === 'config') {
      const { exportHostConfig } = await import('../../hostconfig/export.js');
      return { ok: true, data: { ...data, text: exportHostConfig(ctx.host, ctx.names, opts.config) }, warnings: [] };
    }
    const { readOffer } = await import('../../fleet/offer.js');
    const offer = readOffer(ctx.host, ctx.names, opts.node);
    data.node = offer.node;
    if (offer.node !== null && !NODE.test(offer.node)) throw usageError(`this host's name ${JSON.stringify(offer.node)} is not a node name: give --node`);
    const warnings = [...offer.warnings];
    if (opts.target === 'kubevirt') {
      const { kubevirtConfiguration, renderKubevirt } = await import('../../fleet/kubevirt.js');
      const k = kubevirtConfiguration(offer);
      data.kubevirt = k.configuration;
      data.text = renderKubevirt(k, offer.node);
      warnings.push(...k.warnings);
    } else if (opts.target === 'nova') {
      const { novaConfig } = await import('../../fleet/nova.js');
      const { text, warnings: w, ...nova } = novaConfig(offer);
      data.nova = nova;
      data.text = text;
      warnings.push(...w);
    } else {
      if (offer.node === null) throw usageError('a Proxmox map line names its node, and this host\'s name is unknown: give --node');
      const { proxmoxMappings } = await import('../../fleet/proxmox.js');
      const p = proxmoxMappings(offer);
      data.proxmox = { artifact: opts.artifact, sections: p.sections, commands: p.commands, mapping: p.mapping, script: p.script };
      data.text = opts.artifact === 'mapping' ? p.mapping : p.script;
      warnings.push(...p.warnings);
    }
    return { ok: true, data, warnings };
  },
  render: (d) => d.text,
};
