// QEMU: a runnable sh script and the same command as an argv array. Device properties are the
// vfio-pci and pcie-root-port ones of QEMU (host-facts D1; checked against `-device
// vfio-pci,help` in the tests). Values go through QemuOpts escaping, then shell quoting.
import { paths } from '../host/paths.js';
import type { Profile } from '../profiles/schema.js';
import { memoryMiB, vcpuCount } from '../profiles/schema.js';
import type { ResolvedDevice } from '../profiles/resolve.js';
import { hex, placeDevices, type Placement } from './layout.js';
import { qemuValue, shellQuote } from './quote.js';

export interface QemuOutput {
  argv: string[];
  script: string;
  warnings: string[];
}

export const DEFAULT_OVMF = '/usr/share/ovmf/OVMF.fd';
export const DEFAULT_HUGEPAGES = '/dev/hugepages';

const props = (kv: [string, string | number][]) => kv.map(([k, v]) => `${k}=${typeof v === 'string' ? qemuValue(v) : v}`).join(',');

function deviceArgs(p: Placement, machine: Profile['machine']): string[][] {
  const out: string[][] = [];
  const d = p.device;
  let bus: string;
  if (p.rootPort !== null) {
    bus = `rp${p.rootPort}`;
    out.push(['-device', `pcie-root-port,${props([['id', bus], ['bus', 'pcie.0'], ['chassis', p.rootPort], ['slot', p.rootPort]])}`]);
  } else bus = busName(machine);
  for (const f of p.functions) {
    const kv: [string, string | number][] = [];
    if (d.kind === 'mdev') kv.push(['sysfsdev', `${paths.mdevDevices}/${d.uuid}`]);
    else kv.push(['host', f.host!]);
    kv.push(['id', `hostpci${p.n - 1}.${f.guestFn}`], ['bus', bus], ['addr', `${hex(p.slot, 1)}.${f.guestFn}`]);
    if (f.first && p.multifunction) kv.push(['multifunction', 'on']);
    if (f.first && d.kind === 'pci') {
      if (d.xVga) kv.push(['x-vga', 'on']);
      if (d.rom?.file) kv.push(['romfile', d.rom.file]);
      if (d.rom && !d.rom.bar) kv.push(['rombar', 0]);
    }
    if (d.kind === 'mdev' && d.display) kv.push(['display', 'on']);
    out.push(['-device', `vfio-pci,${props(kv)}`]);
  }
  return out;
}

function busName(machine: Profile['machine']): string {
  return machine === 'q35' ? 'pcie.0' : 'pci.0';
}

/** The argv: machine, CPU, memory, firmware, display, then one group per passed device. */
export function qemuArgv(profile: Profile, devices: readonly ResolvedDevice[]): { argv: string[]; warnings: string[] } {
  const q = profile.targets.qemu;
  const warnings: string[] = [];
  const mib = memoryMiB(profile);
  const hugepages = profile.hugepages !== false;
  const machine = [profile.machine === 'q35' ? 'q35' : 'pc', 'accel=kvm', ...(hugepages ? ['memory-backend=mem0'] : [])].join(',');
  const argv: string[] = [q?.binary ?? 'qemu-system-x86_64', '-name', `guest=${qemuValue(profile.name)}`, '-machine', machine, '-cpu', 'host'];
  const { sockets, cores, threads } = profile.cpu;
  argv.push('-smp', `${vcpuCount(profile)},sockets=${sockets},cores=${cores},threads=${threads}`, '-m', `${mib}M`);
  if (hugepages) {
    const path = q?.hugepagesPath ?? DEFAULT_HUGEPAGES;
    argv.push('-object', `memory-backend-file,${props([['id', 'mem0'], ['size', `${mib}M`], ['mem-path', path], ['prealloc', 'on']])}`);
    if (profile.hugepages === '1G' && !q?.hugepagesPath) warnings.push('qemu: 1G hugepages need a hugetlbfs mounted with pagesize=1G: set targets.qemu.hugepagesPath');
  }
  if (profile.firmware === 'uefi') argv.push('-bios', q?.firmwareFile ?? DEFAULT_OVMF);
  if (profile.cpu.pinning) warnings.push('qemu: QEMU has no vCPU pinning option; cpu.pinning applies to the libvirt and Proxmox outputs (pin the vCPU threads with taskset)');
  const placed = placeDevices(devices, profile.machine);
  const primary = devices.some((d) => d.kind === 'pci' && d.primary);
  const mdevDisplay = devices.some((d) => d.kind === 'mdev' && d.display);
  argv.push('-vga', 'none');
  if (!primary && profile.display.fallback === 'virtio-gpu') argv.push('-device', `virtio-gpu-pci,id=video0,bus=${busName(profile.machine)}`);
  else if (!mdevDisplay) argv.push('-display', 'none');
  for (const p of placed) for (const a of deviceArgs(p, profile.machine)) argv.push(...a);
  argv.push(...(q?.extraArgs ?? []));
  return { argv, warnings };
}

function mdevLines(devices: readonly ResolvedDevice[]): string[] {
  const out: string[] = [];
  for (const d of devices) {
    if (d.kind !== 'mdev') continue;
    const dev = `${paths.mdevDevices}/${d.uuid}`;
    const create = `${paths.mdevBus}/${d.parent.address}/mdev_supported_types/${d.mdevType}/create`;
    out.push(`# mdev ${d.mdevType} on ${d.parent.address}: created here unless it exists (mdevctl can keep it defined)`);
    out.push(`if [ ! -e ${shellQuote(dev)} ]; then`, `  echo ${shellQuote(d.uuid)} > ${shellQuote(create)}`, 'fi');
  }
  return out;
}

export function generateQemu(profile: Profile, devices: readonly ResolvedDevice[]): QemuOutput {
  const { argv, warnings } = qemuArgv(profile, devices);
  const passed = devices.flatMap((d) => (d.kind === 'pci' ? d.functions.map((f) => f.address) : []));
  const lines = [
    '#!/bin/sh',
    `# QEMU command for the VM ${JSON.stringify(profile.name)}, generated by gpuvirt from a ${profile.apiVersion} profile.`,
    '# Run it as root (or with access to /dev/vfio and /dev/kvm).',
  ];
  if (passed.length) lines.push(`# ${passed.join(', ')} must be on vfio-pci first: gpuvirt apply <profile> does that.`);
  lines.push('set -eu', ...mdevLines(devices));
  // One option (with its value) per line, so a diff shows what changed.
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (i > 0 && a.startsWith('-') && next !== undefined && !next.startsWith('-')) {
      words.push(`${shellQuote(a)} ${shellQuote(next)}`);
      i++;
    } else words.push(shellQuote(a));
  }
  lines.push(`exec ${words.join(' \\\n  ')} "$@"`);
  return { argv, script: `${lines.join('\n')}\n`, warnings };
}
