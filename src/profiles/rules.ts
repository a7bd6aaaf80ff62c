// Rules that relate several fields of a well-formed profile: combinations QEMU, libvirt or
// Proxmox would refuse or silently ignore. Facts: shared host-facts D1-D3 (x-vga is omitted
// only on a VGA-class function; pcie=1 needs q35; only function 0 carries the ROM). Pure: no host, no zod.
import { problem, type Path, type Problem } from './problems.js';
import { memoryMiB, sizeMiB, vcpuCount } from './derived.js';
import type { Device, Profile, Selector } from './schema.js';

/**
 * What the rules look at: the parts of a profile that are well-formed. When the schema finds
 * errors, the rules still run on the fields and devices that passed it (a device that failed
 * is null, so indexes stay those of the file), and every problem is reported in one run.
 */
export type RuleInput = Partial<Omit<Profile, 'devices'>> & { devices: (Device | null)[] };

const each = (p: RuleInput) => p.devices.flatMap((d, i) => (d ? [[d, i] as const] : []));

function selectorProblems(s: Selector, at: Path): Problem[] {
  const out: Problem[] = [];
  const given = [s.address, s.id, s.name].filter((x) => x !== undefined).length;
  if (given === 0) out.push(problem('error', at, 'say which device: give address, id or name'));
  if (s.address !== undefined && s.index !== undefined) out.push(problem('error', [...at, 'index'], 'index picks among several matches; an address names exactly one device'));
  return out;
}

function displayProblems(p: RuleInput): Problem[] {
  const out: Problem[] = [];
  const primaries = each(p).flatMap(([d, i]) => (d.type !== 'mdev' && d.primary ? [i] : []));
  for (const i of primaries.slice(1)) out.push(problem('error', ['devices', i, 'primary'], `only one device can be the primary display (devices[${primaries[0]}] already is)`));
  if (primaries.length && p.display && p.display.fallback !== 'none') {
    out.push(problem('warning', ['display', 'fallback'], 'a passed GPU is the primary display, so the virtio-gpu fallback is left out'));
  }
  return out;
}

function deviceProblems(p: RuleInput): Problem[] {
  const out: Problem[] = [];
  for (const [d, i] of each(p)) {
    const at: Path = ['devices', i];
    if (d.type === 'mdev') {
      out.push(...selectorProblems(d.parent, [...at, 'parent']));
      continue;
    }
    out.push(...selectorProblems(d.type === 'gpu' ? d.select : d.pf, [...at, d.type === 'gpu' ? 'select' : 'pf']));
    if (d.pcie === true && p.machine === 'i440fx') {
      out.push(problem('error', [...at, 'pcie'], 'pcie: true needs machine q35: the i440fx machine has no PCI Express bus'));
    }
    if (d.type === 'gpu' && Array.isArray(d.functions)) {
      if (new Set(d.functions).size !== d.functions.length) out.push(problem('error', [...at, 'functions'], 'a function is listed twice'));
      if (!d.functions.includes(0)) out.push(problem('error', [...at, 'functions'], 'function 0 must be passed: a guest sees no device without it'));
    }
    if (d.rom?.file && d.rom.bar === false) out.push(problem('warning', [...at, 'rom', 'bar'], 'rom.file is shown through the ROM BAR; with bar: false the guest never sees it'));
    if (d.type === 'vf' && typeof d.vf === 'number' && d.vf >= d.vfCount) {
      out.push(problem('error', [...at, 'vf'], `VF ${d.vf} does not exist with vfCount ${d.vfCount} (VFs are numbered from 0)`));
    }
  }
  return out;
}

function duplicateProblems(p: RuleInput): Problem[] {
  const out: Problem[] = [];
  const seen = new Map<string, number>();
  for (const [d, i] of each(p)) {
    const key = d.type === 'gpu' ? d.select.address : d.type === 'vf' ? d.address : d.uuid;
    if (key === undefined) continue;
    const norm = d.type === 'mdev' ? key.toLowerCase() : key.toLowerCase().replace(/^(?=[0-9a-f]{2}:)/, '0000:');
    const first = seen.get(norm);
    const field = d.type === 'gpu' ? ['select', 'address'] : d.type === 'vf' ? ['address'] : ['uuid'];
    if (first !== undefined) out.push(problem('error', ['devices', i, ...field], `devices[${first}] already uses ${key}`));
    else seen.set(norm, i);
  }
  const pfs = new Map<string, number>();
  for (const [d, i] of each(p)) {
    if (d.type !== 'vf' || d.pf.address === undefined) continue;
    const key = d.pf.address.toLowerCase().replace(/^(?=[0-9a-f]{2}:)/, '0000:');
    const count = pfs.get(key);
    if (count !== undefined && count !== d.vfCount) out.push(problem('error', ['devices', i, 'vfCount'], `another device asks ${key} for ${count} VFs`));
    pfs.set(key, d.vfCount);
  }
  return out;
}

function resourceProblems(p: RuleInput): Problem[] {
  const out: Problem[] = [];
  const cpu = p.cpu;
  if (cpu?.pinning && cpu.pinning.length !== vcpuCount({ cpu })) {
    out.push(problem('error', ['cpu', 'pinning'], `${cpu.pinning.length} host CPUs for ${vcpuCount({ cpu })} vCPUs (sockets × cores × threads): give one per vCPU`));
  }
  const page = p.hugepages === '1G' ? 1024 : p.hugepages === false || p.hugepages === undefined ? 1 : 2;
  if (p.memory !== undefined && memoryMiB({ memory: p.memory }) % page !== 0) {
    out.push(problem('error', ['memory'], `memory must be a whole number of ${p.hugepages === '1G' ? '1 GiB' : '2 MiB'} hugepages`));
  }
  const pci = p.devices.length;
  if (p.targets?.proxmox && pci > 16) out.push(problem('error', ['devices'], `Proxmox has hostpci0 to hostpci15: ${pci} devices do not fit`));
  if (p.display?.fallback === 'none' && p.devices.length === 0) {
    out.push(problem('warning', ['devices'], 'no devices and no display: the VM has nothing to show or compute on'));
  }
  return out;
}

function vmProblems(p: RuleInput): Problem[] {
  const out: Problem[] = [];
  if (p.secureBoot === true && p.firmware === 'bios') out.push(problem('error', ['secureBoot'], 'Secure Boot needs firmware: uefi'));
  else if (p.secureBoot === true && p.machine === 'i440fx') out.push(problem('error', ['secureBoot'], 'Secure Boot needs machine q35: OVMF keeps its variables safe with SMM, which its builds support on q35 only'));
  if (p.mmio64 !== undefined && p.firmware === 'bios') out.push(problem('warning', ['mmio64'], 'mmio64 sets OVMF\'s 64-bit MMIO window: SeaBIOS ignores it'));
  const lg = p.lookingGlass?.size;
  if (lg !== undefined) {
    const mib = sizeMiB(lg);
    if (mib & (mib - 1)) out.push(problem('error', ['lookingGlass', 'size'], 'IVSHMEM needs a power of two, such as 32MiB, 64MiB or 128MiB'));
  }
  const fb = p.display?.fallback;
  if ((fb === 'virgl' || fb === 'venus') && p.display?.backend === 'vnc') {
    out.push(problem('error', ['display', 'backend'], `${fb} renders with OpenGL on the host: show it with backend: spice (or none for a headless EGL display), not vnc`));
  }
  const paths = new Map<string, number>();
  (p.disks ?? []).forEach((d, i) => {
    if (!d.path) return;
    const first = paths.get(d.path);
    if (first !== undefined) out.push(problem('error', ['disks', i, 'path'], `disks[${first}] already uses ${d.path}`));
    paths.set(d.path, i);
  });
  const owned = new Set(PROXMOX_KEYS);
  for (const k of Object.keys(p.targets?.proxmox?.extra ?? {})) {
    if (owned.has(k) || /^(hostpci|scsi|virtio|sata|net)\d+$/.test(k)) out.push(problem('error', ['targets', 'proxmox', 'extra', k], `gpuvirt writes ${k} itself: change it through the profile`));
  }
  return out;
}

/** qemu-server keys the Proxmox generator writes (targets.proxmox.extra may not repeat them). */
export const PROXMOX_KEYS = ['name', 'ostype', 'machine', 'bios', 'cpu', 'sockets', 'cores', 'memory', 'balloon', 'affinity', 'hugepages', 'vga', 'scsihw', 'efidisk0', 'tpmstate0', 'ivshmem', 'agent'];

/** Every cross-field problem among the well-formed parts of a profile. */
export function profileRules(p: RuleInput): Problem[] {
  return [...displayProblems(p), ...deviceProblems(p), ...duplicateProblems(p), ...resourceProblems(p), ...vmProblems(p)];
}
