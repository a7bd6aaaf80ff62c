// Proxmox VE: the lines of /etc/pve/qemu-server/<vmid>.conf, the same as `qm set` commands,
// and with a node a cluster PCI mapping (/etc/pve/mapping/pci.cfg) that records ids, subsystem
// ids and the IOMMU group, so Proxmox notices when the hardware changes. Grammar: host-facts D3
// (hostpciN property string; SectionConfig with a bare id line and tab-indented properties).
import { problem, type Problem } from '../profiles/problems.js';
import type { Profile } from '../profiles/schema.js';
import { memoryMiB } from '../profiles/schema.js';
import type { ResolvedDevice, ResolvedFunction } from '../profiles/resolve.js';
import { shellQuote } from './quote.js';

export interface ProxmoxOutput {
  vmid: number;
  /** key: value lines for /etc/pve/qemu-server/<vmid>.conf. */
  config: [string, string][];
  /** argv of each `qm set` (and `pvesh create` for mappings). */
  commands: string[][];
  /** /etc/pve/mapping/pci.cfg entries, or '' without a node. */
  mapping: string;
  text: string;
  warnings: string[];
  /** Things a Proxmox config cannot say (reported like validation problems). */
  problems: Problem[];
}

const KVM_DIR = '/usr/share/kvm/';
/** Proxmox keeps ROM files in /usr/share/kvm and takes a bare file name. */
const ROM_NAME = /^[A-Za-z0-9._-]+$/;

/** 0000:01:00 (whole slot) or 0000:01:00.1 (one function). */
const hostId = (f: ResolvedFunction, wholeSlot: boolean) => (wholeSlot ? f.address.slice(0, f.address.lastIndexOf('.')) : f.address);

interface Entry {
  /** hostpci property string. */
  value: string;
  mapping: string | null;
}

function romOptions(d: Extract<ResolvedDevice, { kind: 'pci' }>, out: ProxmoxOutput): string[] {
  if (!d.rom) return [];
  const opts: string[] = [];
  if (!d.rom.bar) opts.push('rombar=0');
  if (d.rom.file) {
    const rel = d.rom.file.startsWith(KVM_DIR) ? d.rom.file.slice(KVM_DIR.length) : d.rom.file.slice(d.rom.file.lastIndexOf('/') + 1);
    if (!ROM_NAME.test(rel)) {
      out.problems.push(problem('error', ['devices', d.index, 'rom', 'file'], `Proxmox takes a ROM file name of letters, digits, ".", "_" and "-" in ${KVM_DIR}; ${JSON.stringify(rel)} cannot be written in a hostpci line`));
    } else {
      opts.push(`romfile=${rel}`);
      if (!d.rom.file.startsWith(KVM_DIR)) out.warnings.push(`proxmox: copy ${d.rom.file} to ${KVM_DIR}${rel}`);
    }
  }
  return opts;
}

function mapLine(node: string, id: string | null, paths: string[], f: ResolvedFunction | null): string | null {
  if (!id) return null;
  const kv: [string, string][] = [['id', id]];
  if (f && f.iommuGroup !== null && paths.length === 1) kv.push(['iommugroup', String(f.iommuGroup)]);
  kv.push(['node', node], ['path', paths.join(';')]);
  if (f?.subsystem && paths.length === 1) kv.push(['subsystem-id', f.subsystem]);
  return `\tmap ${kv.map(([k, v]) => `${k}=${v}`).join(',')}`;
}

function entries(profile: Profile, devices: readonly ResolvedDevice[], out: ProxmoxOutput): { entries: Entry[]; sections: string[] } {
  const px = profile.targets.proxmox!;
  const q35 = profile.machine === 'q35';
  const list: Entry[] = [];
  const sections: string[] = [];
  for (const d of devices) {
    const mapId = `vm${px.vmid}-dev${d.index}`;
    const pcie = q35 && d.pcie ? ['pcie=1'] : [];
    if (d.kind === 'mdev') {
      const p = d.parent;
      const id = p.vendorId && p.deviceId ? `${p.vendorId}:${p.deviceId}` : null;
      const line = px.node ? mapLine(px.node, id, [p.address], p) : null;
      if (px.node && !line) out.warnings.push(`proxmox: devices[${d.index}]: no mapping without the parent's ids (give parent.id, or resolve against the host)`);
      if (line) sections.push(`${mapId}\n${line}\n\tmdev 1\n\tdescription gpuvirt vm ${px.vmid} device ${d.index}\n`);
      list.push({ value: [line ? `mapping=${mapId}` : p.address, `mdev=${d.mdevType}`, ...pcie].join(','), mapping: line ? mapId : null });
      continue;
    }
    const first = d.functions[0]!;
    const id = first.vendorId && first.deviceId ? `${first.vendorId}:${first.deviceId}` : null;
    const opts = [...pcie, ...(d.xVga ? ['x-vga=1'] : []), ...romOptions(d, out)];
    const groups: string[][] = d.source === 'vf' ? [d.alternatives] : d.wholeSlot ? [[hostId(first, true)]] : d.functions.map((f) => [f.address]);
    if (d.source === 'gpu' && !d.wholeSlot && d.functions.length > 1) {
      out.warnings.push(`proxmox: devices[${d.index}] passes some functions of ${d.slot}: Proxmox gives each its own guest slot (pass all functions to keep them together)`);
    }
    groups.forEach((paths, k) => {
      const fn = d.source === 'vf' || d.wholeSlot ? first : d.functions[k]!;
      const line = px.node ? mapLine(px.node, id, paths, fn) : null;
      if (px.node && !line) out.warnings.push(`proxmox: devices[${d.index}]: no mapping without the device's ids (give select.id, or resolve against the host)`);
      const mid = groups.length > 1 ? `${mapId}-${k}` : mapId;
      if (line) sections.push(`${mid}\n${line}\n\tdescription gpuvirt vm ${px.vmid} device ${d.index}\n`);
      list.push({ value: [line ? `mapping=${mid}` : paths.join(';'), ...(k === 0 ? opts : pcie)].join(','), mapping: line ? mid : null });
    });
  }
  return { entries: list, sections };
}

function vmSettings(profile: Profile, devices: readonly ResolvedDevice[], out: ProxmoxOutput): [string, string][] {
  const cfg: [string, string][] = [];
  if (profile.machine === 'q35') cfg.push(['machine', 'q35']);
  cfg.push(['bios', profile.firmware === 'uefi' ? 'ovmf' : 'seabios'], ['cpu', 'host'], ['sockets', String(profile.cpu.sockets)]);
  // Proxmox has no threads setting: every vCPU is a core.
  cfg.push(['cores', String(profile.cpu.cores * profile.cpu.threads)]);
  if (profile.cpu.threads > 1) out.warnings.push('proxmox: no SMT topology in Proxmox: threads are given as cores');
  cfg.push(['memory', String(memoryMiB(profile))], ['balloon', '0']);
  if (profile.cpu.pinning) cfg.push(['affinity', profile.cpu.pinning.join(',')]);
  if (profile.hugepages !== false) cfg.push(['hugepages', profile.hugepages === '1G' ? '1024' : profile.hugepages === '2M' ? '2' : 'any']);
  const primary = devices.some((d) => d.kind === 'pci' && d.primary);
  cfg.push(['vga', !primary && profile.display.fallback === 'virtio-gpu' ? 'virtio' : 'none']);
  if (profile.firmware === 'uefi') out.warnings.push('proxmox: add an EFI disk (efidisk0) to keep UEFI settings across boots');
  return cfg;
}

export function generateProxmox(profile: Profile, devices: readonly ResolvedDevice[]): ProxmoxOutput {
  const px = profile.targets.proxmox;
  const out: ProxmoxOutput = { vmid: px?.vmid ?? 0, config: [], commands: [], mapping: '', text: '', warnings: [], problems: [] };
  if (!px) {
    out.problems.push(problem('error', ['targets'], 'the proxmox target needs targets.proxmox.vmid'));
    return out;
  }
  if (devices.length > 16) out.problems.push(problem('error', ['devices'], 'Proxmox has hostpci0 to hostpci15'));
  out.config = vmSettings(profile, devices, out);
  const { entries: list, sections } = entries(profile, devices, out);
  list.slice(0, 16).forEach((e, i) => out.config.push([`hostpci${i}`, e.value]));
  out.mapping = sections.join('');
  for (const s of sections) {
    const lines = s.trimEnd().split('\n');
    const maps = lines.filter((l) => l.startsWith('\tmap ')).map((l) => l.slice(5));
    const argv = ['pvesh', 'create', '/cluster/mapping/pci', '--id', lines[0]!, ...maps.flatMap((m) => ['--map', m])];
    if (lines.includes('\tmdev 1')) argv.push('--mdev', '1');
    out.commands.push(argv);
  }
  for (const [k, v] of out.config) out.commands.push(['qm', 'set', String(px.vmid), `--${k}`, v]);
  if (!px.node) out.warnings.push('proxmox: set targets.proxmox.node to get a PCI mapping that catches hardware changes');
  const text = [
    `# /etc/pve/qemu-server/${px.vmid}.conf (the lines gpuvirt sets for ${JSON.stringify(profile.name)})`,
    ...out.config.map(([k, v]) => `${k}: ${v}`),
    '',
    '# the same with qm',
    ...out.commands.map((c) => c.map(shellQuote).join(' ')),
  ];
  if (out.mapping) text.push('', '# /etc/pve/mapping/pci.cfg (created by the pvesh commands above)', out.mapping.trimEnd());
  out.text = `${text.join('\n')}\n`;
  return out;
}
