// Proxmox VE, as three artifacts: the lines of /etc/pve/qemu-server/<vmid>.conf, a script of
// the commands that create the same VM (`pvesh create` for the PCI mappings, then one `qm
// create`, which also allocates the disks, the EFI disk and the TPM state), and the
// /etc/pve/mapping/pci.cfg sections those pvesh commands write.
// Rules (qemu-server PCI.pm parse_hostpci / print_hostpci_devices; pve-guest-common
// Mapping/PCI.pm assert_valid; pve-common SectionConfig write_config):
// - a `;` list in host= or in one map path= is ONE guest device with all of them as functions;
//   several map lines for one node are alternatives, of which a VM start takes the first free;
// - at VM start every map line is compared with sysfs: id, subsystem-id and iommugroup of its
//   own first device must all be there and equal, and `mdev` must say whether it offers mdevs;
// - pvesh stores a section as its id, the map lines, then description and mdev, then a blank line.
import { problem, type Problem } from '../profiles/problems.js';
import type { Profile } from '../profiles/schema.js';
import { memoryMiB, sizeMiB, vmFeatures } from '../profiles/derived.js';
import type { ResolvedDevice, ResolvedFunction, ResolvedPci } from '../profiles/resolve.js';
import { shellQuote } from './quote.js';

export type ProxmoxArtifact = 'conf' | 'commands' | 'mapping';
export const PROXMOX_ARTIFACTS: ProxmoxArtifact[] = ['conf', 'commands', 'mapping'];

export interface MappingSection {
  id: string;
  map: string[];
  description: string;
  mdev: boolean;
}

export interface ProxmoxOutput {
  vmid: number;
  /** key: value lines of /etc/pve/qemu-server/<vmid>.conf (no volumes: those need qm create). */
  config: [string, string][];
  /** argv of each command: `pvesh create` per mapping, then `qm create`. */
  commands: string[][];
  /** /etc/pve/mapping/pci.cfg sections, or none without a node. */
  sections: MappingSection[];
  artifacts: Record<ProxmoxArtifact, string>;
  warnings: string[];
  /** Things a Proxmox config cannot say (reported like validation problems). */
  problems: Problem[];
}

const KVM_DIR = '/usr/share/kvm/';
const OSTYPE = { windows11: 'win11', windows10: 'win10', linux: 'l26', other: 'other' } as const;

/** 0000:01:00 (the whole slot: every function) or 0000:01:00.1 (one function). */
const slotOf = (addr: string) => addr.slice(0, addr.lastIndexOf('.'));

function romOptions(d: ResolvedPci, out: ProxmoxOutput): string[] {
  if (!d.rom) return [];
  const opts: string[] = [];
  if (!d.rom.bar) opts.push('rombar=0');
  if (d.rom.file) {
    const rel = d.rom.file.startsWith(KVM_DIR) ? d.rom.file.slice(KVM_DIR.length) : d.rom.file.slice(d.rom.file.lastIndexOf('/') + 1);
    // romfile's pattern is [^,;]+ (a property string cannot carry either).
    if (!rel.trim() || rel !== rel.trim()) {
      // qemu-server trims a config line's trailing spaces: they cannot end a romfile.
      out.problems.push(problem('error', ['devices', d.index, 'rom', 'file'], `${JSON.stringify(rel)}: Proxmox's romfile needs a file name without leading or trailing spaces`));
    } else if (/[,;]/.test(rel)) {
      out.problems.push(problem('error', ['devices', d.index, 'rom', 'file'], `Proxmox's romfile cannot contain "," or ";": rename ${JSON.stringify(rel)}`));
    } else {
      opts.push(`romfile=${rel}`);
      if (!d.rom.file.startsWith(KVM_DIR)) out.warnings.push(`proxmox: copy ${d.rom.file} to ${KVM_DIR}${rel}`);
    }
  }
  return opts;
}

/** What a map line must carry for assert_valid, or the facts missing to write one. */
function mapLine(node: string, path: string, f: ResolvedFunction): { line: string | null; missing: string[] } {
  const missing: string[] = [];
  if (!f.vendorId || !f.deviceId) missing.push('id');
  if (f.iommuGroup === null) missing.push('iommugroup');
  // Offline the subsystem is only known from the profile; on a host, null means the device has none.
  if (f.subsystem === null && !f.fromHost) missing.push('subsystem-id');
  if (missing.length) return { line: null, missing };
  const kv: [string, string][] = [['id', `${f.vendorId}:${f.deviceId}`.toLowerCase()], ['iommugroup', String(f.iommuGroup)], ['node', node], ['path', path]];
  if (f.subsystem) kv.push(['subsystem-id', f.subsystem.toLowerCase()]);
  return { line: kv.map(([k, v]) => `${k}=${v}`).join(','), missing };
}

/** /etc/pve/mapping/pci.cfg: the id, tab-indented options, and the blank line that ends a section. */
export function renderMappingSections(sections: readonly MappingSection[]): string {
  return sections.map((s) => `${s.id}\n${s.map.map((m) => `\tmap ${m}\n`).join('')}\tdescription ${s.description}\n${s.mdev ? '\tmdev 1\n' : ''}\n`).join('');
}

/** The API call that stores one section (pvesh validates it with the config file's schema). */
export function pveshCreate(s: MappingSection): string[] {
  return ['pvesh', 'create', '/cluster/mapping/pci', '--id', s.id, ...s.map.flatMap((m) => ['--map', m]), '--description', s.description, ...(s.mdev ? ['--mdev', '1'] : [])];
}

const mappingIdOf = (vmid: number, index: number) => `vm${vmid}-dev${index}`;

/** One hostpci value per device, and the mapping sections they use. */
function hostpciEntries(profile: Profile, devices: readonly ResolvedDevice[], out: ProxmoxOutput): string[] {
  const px = profile.targets.proxmox!;
  const node = px.node;
  const list: string[] = [];
  const section = (d: ResolvedDevice, map: string[], mdev: boolean) => {
    const id = mappingIdOf(px.vmid, d.index);
    out.sections.push({ id, map, description: `gpuvirt: ${profile.name} (VM ${px.vmid}) devices[${d.index}]`, mdev });
    return `mapping=${id}`;
  };
  /** A mapping when every line can be complete, else the plain host= form. */
  const source = (d: ResolvedDevice, lines: [string, ResolvedFunction][], mdev: boolean): string => {
    const plain = lines.map(([p]) => p).join(';');
    if (!node) return plain;
    const made = lines.map(([p, f]) => ({ p, ...mapLine(node, p, f) }));
    const lacking = made.filter((m) => m.line === null);
    if (!lacking.length) return section(d, made.map((m) => m.line!), mdev);
    out.warnings.push(`proxmox: devices[${d.index}]: no PCI mapping (Proxmox would refuse it at VM start without ${lacking[0]!.missing.join(', ')} of ${lacking[0]!.p}); using host=${plain}. Generate on the host, or give the selector's id, subsystem and iommuGroup`);
    return plain;
  };
  for (const d of devices) {
    const pcie = profile.machine === 'q35' && d.pcie ? ['pcie=1'] : [];
    if (d.kind === 'mdev') {
      if (/[/.:]/.test(d.mdevType)) out.problems.push(problem('error', ['devices', d.index, 'mdevType'], `Proxmox's mdev pattern is [^/.:]+: it cannot name ${d.mdevType}`));
      list.push([source(d, [[d.parent.address, d.parent]], true), `mdev=${d.mdevType}`, ...pcie].join(','));
      continue;
    }
    const opts = [...pcie, ...(d.xVga ? ['x-vga=1'] : []), ...romOptions(d, out)];
    if (d.source === 'vf') {
      list.push([vfSource(d, node, out, (lines) => section(d, lines, false)), ...opts].join(','));
      continue;
    }
    const first = d.functions[0]!;
    if (d.wholeSlot) list.push([source(d, [[slotOf(first.address), first]], false), ...opts].join(','));
    else if (d.functions.length === 1) list.push([source(d, [[first.address, first]], false), ...opts].join(','));
    else {
      // One map path list is checked against ONE id: functions with different ids cannot share a mapping.
      const same = d.functions.every((f) => f.vendorId === first.vendorId && f.deviceId === first.deviceId && f.subsystem === first.subsystem);
      const paths = d.functions.map((f) => f.address).join(';');
      if (same) list.push([source(d, [[paths, first]], false), ...opts].join(','));
      else {
        if (node) out.warnings.push(`proxmox: devices[${d.index}] passes functions ${d.functions.map((f) => f.fn).join(', ')} of ${d.slot}, which have different ids: one PCI mapping cannot check them, so host=${paths} is used`);
        list.push([paths, ...opts].join(','));
      }
    }
  }
  return list;
}

/** A VF: with a node, one map line per VF it may use (each its own device); without, one named VF. */
function vfSource(d: ResolvedPci, node: string | undefined, out: ProxmoxOutput, section: (lines: string[]) => string): string {
  const chosen = d.functions[0]!;
  if (!node) {
    if (d.alternatives.length > 1) out.warnings.push(`proxmox: devices[${d.index}]: vf: any names ${chosen.address} without a node; set targets.proxmox.node to let Proxmox take any free VF`);
    return chosen.address;
  }
  const lines = d.alternatives.map((f) => ({ f, ...mapLine(node, f.address, f) }));
  const absent = lines.filter((l) => l.line === null);
  if (absent.length) {
    out.problems.push(problem('error', ['devices', d.index], `VF ${absent.map((l) => l.f.address).join(', ')} does not exist yet: a Proxmox mapping needs each VF's IOMMU group, or VM start fails. Create the VFs (gpuvirt apply), then generate`));
    return chosen.address;
  }
  return section(lines.map((l) => l.line!));
}

/** Proxmox names are DNS names: other characters become "-". */
function vmName(profile: Profile, vmid: number): string {
  const s = profile.name.normalize('NFKD').replace(/\p{M}+/gu, '').replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '');
  return /^[A-Za-z0-9]/.test(s) ? s.slice(0, 63).replace(/[-.]+$/, '') : `vm${vmid}`;
}

function displaySettings(profile: Profile, devices: readonly ResolvedDevice[], out: ProxmoxOutput, args: string[]): string {
  if (devices.some((d) => d.kind === 'pci' && d.primary)) return 'none';
  const mdevs = devices.filter((d) => d.kind === 'mdev' && d.display);
  // Proxmox has no display option on hostpci and gives vga: none no VNC console at all: an mdev's
  // display is kept with display=on on its device and an emulated VGA for Proxmox's console.
  devices.forEach((d, i) => {
    if (d.kind === 'mdev' && d.display) args.push(`-set device.hostpci${i}.display=on`);
  });
  switch (profile.display.fallback) {
    case 'virtio-gpu': return 'virtio';
    case 'virgl': return 'virtio-gl';
    case 'venus':
      out.warnings.push('proxmox: no Venus (Vulkan) in Proxmox: vga: virtio-gl gives OpenGL (VirGL)');
      return 'virtio-gl';
    default: return mdevs.length ? 'std' : 'none';
  }
}

/** Settings shared by the conf file and qm create, in qemu-server's key names. */
function vmSettings(profile: Profile, devices: readonly ResolvedDevice[], out: ProxmoxOutput): [string, string][] {
  const px = profile.targets.proxmox!;
  const cfg: [string, string][] = [['name', vmName(profile, px.vmid)], ['ostype', OSTYPE[profile.os]]];
  if (profile.machine === 'q35') cfg.push(['machine', 'q35']);
  cfg.push(['bios', profile.firmware === 'uefi' ? 'ovmf' : 'seabios'], ['cpu', 'host'], ['sockets', String(profile.cpu.sockets)]);
  // Proxmox has no threads setting: every vCPU is a core.
  cfg.push(['cores', String(profile.cpu.cores * profile.cpu.threads)]);
  if (profile.cpu.threads > 1) out.warnings.push('proxmox: no SMT topology in Proxmox: threads are given as cores');
  cfg.push(['memory', String(memoryMiB(profile))], ['balloon', '0']);
  if (profile.cpu.pinning) cfg.push(['affinity', profile.cpu.pinning.join(',')]);
  if (profile.hugepages !== false) cfg.push(['hugepages', profile.hugepages === '1G' ? '1024' : profile.hugepages === '2M' ? '2' : 'any']);
  const args: string[] = [];
  cfg.push(['vga', displaySettings(profile, devices, out, args)]);
  cfg.push(['scsihw', 'virtio-scsi-single']);
  profile.nics.forEach((n, i) => cfg.push([`net${i}`, [n.model, `bridge=${n.bridge ?? 'vmbr0'}`, ...(n.mac ? [`macaddr=${n.mac.toUpperCase()}`] : [])].join(',')]));
  const lg = profile.lookingGlass;
  if (lg?.device === 'shm') cfg.push(['ivshmem', `size=${sizeMiB(lg.size)},name=looking-glass`]);
  if (lg?.device === 'kvmfr') args.push(`-device ivshmem-plain,id=lg0,memdev=lg0mem -object memory-backend-file,id=lg0mem,share=on,mem-path=/dev/kvmfr0,size=${sizeMiB(lg.size)}M`);
  if (profile.mmio64) args.push(`-fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=${sizeMiB(profile.mmio64)}`);
  const extra = { ...px.extra };
  if (extra.args) args.push(extra.args);
  delete extra.args;
  if (args.length) cfg.push(['args', args.join(' ')]);
  for (const [k, v] of Object.entries(extra)) cfg.push([k, v]);
  return cfg;
}

/** Volumes only `qm create` can allocate: disks, EFI vars, TPM state (STORAGE:SIZE_GiB). */
function volumes(profile: Profile, out: ProxmoxOutput): [string, string][] {
  const px = profile.targets.proxmox!;
  const st = px.storage;
  const vol: [string, string][] = [];
  const f = vmFeatures(profile);
  if (profile.firmware === 'uefi') vol.push(['efidisk0', `${st}:1,efitype=4m,pre-enrolled-keys=${f.secureBoot ? 1 : 0}`]);
  if (f.tpm) vol.push(['tpmstate0', `${st}:1,version=v2.0`]);
  const next: Record<string, number> = { scsi: 0, virtio: 0, sata: 0 };
  profile.disks.forEach((d) => {
    const mib = sizeMiB(d.size);
    const gib = Math.ceil(mib / 1024);
    if (gib * 1024 !== mib) out.warnings.push(`proxmox: disk of ${d.size} allocated as ${gib} GiB (Proxmox allocates whole GiB)`);
    vol.push([`${d.bus}${next[d.bus]!++}`, `${st}:${gib}${d.bus === 'scsi' ? ',iothread=1' : ''}`]);
  });
  return vol;
}

function render(profile: Profile, out: ProxmoxOutput, vol: [string, string][], artifact: ProxmoxArtifact): Record<ProxmoxArtifact, string> {
  const px = profile.targets.proxmox!;
  const conf = out.config.map(([k, v]) => `${k}: ${v}\n`).join('');
  const mapping = renderMappingSections(out.sections);
  const script = [
    '#!/bin/sh',
    `# Proxmox VE: creates VM ${px.vmid} (${JSON.stringify(profile.name)})${out.sections.length ? ' and the PCI mappings it uses' : ''}, generated by gpuvirt.`,
    `# Run as root on ${px.node ? `node ${px.node}` : 'the node that has the devices'}.`,
    'set -eu',
    ...out.commands.map((c) => c.map(shellQuote).join(' ')),
  ];
  if (vol.length && artifact === 'conf') out.warnings.push(`proxmox: the conf file has no ${vol.map(([k]) => k).join(', ')}: volumes are allocated by qm create (--artifact commands)`);
  return { conf, commands: `${script.join('\n')}\n`, mapping };
}

/** `artifact` only chooses which warnings apply: all three artifacts are made. */
export function generateProxmox(profile: Profile, devices: readonly ResolvedDevice[], artifact: ProxmoxArtifact = 'conf'): ProxmoxOutput {
  const px = profile.targets.proxmox;
  const out: ProxmoxOutput = { vmid: px?.vmid ?? 0, config: [], commands: [], sections: [], artifacts: { conf: '', commands: '', mapping: '' }, warnings: [], problems: [] };
  if (!px) {
    out.problems.push(problem('error', ['targets'], 'the proxmox target needs targets.proxmox.vmid'));
    return out;
  }
  if (devices.length > 16) out.problems.push(problem('error', ['devices'], 'Proxmox has hostpci0 to hostpci15'));
  out.config = vmSettings(profile, devices, out);
  hostpciEntries(profile, devices, out).slice(0, 16).forEach((v, i) => out.config.push([`hostpci${i}`, v]));
  for (const s of out.sections) {
    out.commands.push(pveshCreate(s));
  }
  const vol = volumes(profile, out);
  out.commands.push(['qm', 'create', String(px.vmid), ...[...out.config, ...vol].flatMap(([k, v]) => [`--${k}`, v])]);
  if (profile.description) out.commands[out.commands.length - 1]!.push('--description', profile.description);
  out.artifacts = render(profile, out, vol, artifact);
  return out;
}
