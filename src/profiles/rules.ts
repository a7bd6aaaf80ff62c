// Rules that relate several fields of a well-formed profile: combinations QEMU, libvirt or
// Proxmox would refuse or silently ignore. Facts: shared host-facts D1-D3 (x-vga is omitted
// with OVMF; pcie=1 needs q35; only function 0 carries the ROM). Pure: no host, no zod.
import { problem, type Path, type Problem } from './problems.js';
import { memoryMiB, vcpuCount, type Device, type Profile, type Selector } from './schema.js';

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
    if (d.type === 'gpu' && d.xVga === true && p.firmware === 'uefi') {
      out.push(problem('error', [...at, 'xVga'], 'x-vga is for BIOS (SeaBIOS) guests; with UEFI (OVMF) the GPU\'s own UEFI ROM drives the display (set firmware: bios, or drop xVga)'));
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

/** Every cross-field problem among the well-formed parts of a profile. */
export function profileRules(p: RuleInput): Problem[] {
  return [...displayProblems(p), ...deviceProblems(p), ...duplicateProblems(p), ...resourceProblems(p)];
}
