// QEMU: a runnable sh script and the same command as an argv array. -nodefaults, then every
// device the VM needs named explicitly (QEMU's defaults add a NIC with an iPXE ROM and a VGA);
// a display backend always named (without one QEMU opens GTK, and exits when there is no
// $DISPLAY, or silently serves VNC). Device properties are QEMU's (checked against `-device
// TYPE,help` in the tests). Values go through QemuOpts escaping, then shell quoting.
import { paths } from '../host/paths.js';
import type { Profile } from '../profiles/schema.js';
import { memoryMiB, sizeMiB, vcpuCount, vmFeatures } from '../profiles/derived.js';
import type { ResolvedDevice } from '../profiles/resolve.js';
import { FALLBACK_FIRMWARE, type Firmware } from './firmware.js';
import { diskPath, displayBackend, hex, placeDevices, vmDir, type Placement } from './layout.js';

const stateDir = (p: Profile) => p.targets.qemu?.dir ?? vmDir(p);
import { qemuValue, shellQuote } from './quote.js';
import { unsafeValue } from '../validate.js';
import { qemuHandover, type HookSpec } from '../singlegpu/script.js';

export interface QemuOutput {
  argv: string[];
  script: string;
  warnings: string[];
}

export interface QemuEnv {
  /** UEFI firmware from the host's descriptors; null: none could be read (the fallback is used). */
  firmware: Firmware | null;
  /** Single-GPU: hand this GPU over around the run (the hook's steps); absent: plain `exec`. */
  singleGpu?: HookSpec | null;
}

export const DEFAULT_HUGEPAGES = '/dev/hugepages';

type KV = [string, string | number][];
const props = (kv: KV) => kv.map(([k, v]) => `${k}=${typeof v === 'string' ? qemuValue(v) : v}`).join(',');

function deviceArgs(p: Placement, machine: Profile['machine']): string[][] {
  const out: string[][] = [];
  const d = p.device;
  let bus: string;
  if (p.rootPort !== null) {
    bus = `rp${p.rootPort}`;
    out.push(['-device', `pcie-root-port,${props([['id', bus], ['bus', 'pcie.0'], ['chassis', p.rootPort], ['slot', p.rootPort]])}`]);
  } else bus = busName(machine);
  for (const f of p.functions) {
    const kv: KV = [];
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

export function busName(machine: Profile['machine']): string {
  return machine === 'q35' ? 'pcie.0' : 'pci.0';
}

/** The emulated display's guest slot (as QEMU's own VGA); other devices take free slots after the passed ones. */
const VIDEO_SLOT = 0x02;

function firmwareArgs(profile: Profile, env: QemuEnv, argv: string[], machine: string[], warnings: string[]): { vars: string; template: string | null } | null {
  if (profile.firmware !== 'uefi') return null;
  const { secureBoot } = vmFeatures(profile);
  const q = profile.targets.qemu;
  let fw = env.firmware;
  if (q?.firmwareFile) fw = { code: q.firmwareFile, varsTemplate: fw?.varsTemplate ?? null, smm: fw?.smm ?? false, secureBoot, descriptor: null };
  if (!fw) {
    const f = secureBoot ? FALLBACK_FIRMWARE.secure : FALLBACK_FIRMWARE.plain;
    fw = { ...f, smm: secureBoot, secureBoot, descriptor: null };
    warnings.push(`qemu: no firmware descriptor read (/usr/share/qemu/firmware): using Debian's ${f.code}; set targets.qemu.firmwareFile for another distribution`);
  }
  if (fw.smm) {
    machine.push('smm=on');
    argv.push('-global', 'driver=cfi.pflash01,property=secure,value=on');
  }
  argv.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,${props([['file', fw.code]])}`);
  if (!fw.varsTemplate) return null;
  const vars = `${stateDir(profile)}/OVMF_VARS.fd`;
  argv.push('-drive', `if=pflash,format=raw,unit=1,${props([['file', vars]])}`);
  return { vars, template: fw.varsTemplate };
}

function displayArgs(profile: Profile, devices: readonly ResolvedDevice[], argv: string[], warnings: string[]): void {
  const primary = devices.some((d) => d.kind === 'pci' && d.primary);
  const fb = profile.display.fallback;
  const backend = displayBackend(profile, devices);
  const bus = busName(profile.machine);
  const gl = !primary && (fb === 'virgl' || fb === 'venus');
  if (!primary && fb === 'virtio-gpu') argv.push('-device', `virtio-vga,id=video0,bus=${bus},addr=${hex(VIDEO_SLOT, 2)}`);
  if (gl) {
    const venus = fb === 'venus' ? ',blob=true,hostmem=4G,venus=true' : '';
    argv.push('-device', `virtio-vga-gl,id=video0,bus=${bus},addr=${hex(VIDEO_SLOT, 2)}${venus}`);
    if (fb === 'venus') warnings.push('qemu: venus needs QEMU 9.2 or later and virglrenderer with Venus');
  }
  // The local UI is never used: a VM started from a script must not need $DISPLAY.
  argv.push('-display', gl && backend === 'none' ? 'egl-headless' : 'none');
  if (backend === 'vnc') argv.push('-vnc', '127.0.0.1:0,to=99');
  if (backend === 'spice') {
    argv.push('-spice', gl ? `${props([['unix', 'on'], ['addr', `${stateDir(profile)}/spice.sock`]])},disable-ticketing=on,gl=on` : 'port=5930,addr=127.0.0.1,disable-ticketing=on');
  }
}

function storageArgs(profile: Profile, argv: string[]): void {
  const bus = busName(profile.machine);
  if (profile.disks.some((d) => d.bus === 'scsi')) argv.push('-device', `virtio-scsi-pci,id=scsi0,bus=${bus}`);
  let ide = 0;
  profile.disks.forEach((d, i) => {
    argv.push('-drive', `${props([['file', diskPath(profile, i)]])},if=none,id=disk${i},format=${d.format},discard=unmap`);
    if (d.bus === 'scsi') argv.push('-device', `scsi-hd,drive=disk${i},bus=scsi0.0,id=scsidisk${i}`);
    else if (d.bus === 'virtio') argv.push('-device', `virtio-blk-pci,drive=disk${i},id=vdisk${i},bus=${bus}`);
    else argv.push('-device', `ide-hd,drive=disk${i},bus=ide.${ide++},id=satadisk${i}`);
  });
  profile.nics.forEach((n, i) => {
    argv.push('-netdev', n.bridge ? `bridge,id=net${i},br=${n.bridge}` : `user,id=net${i}`);
    const model = n.model === 'virtio' ? 'virtio-net-pci' : 'e1000e';
    argv.push('-device', `${model},netdev=net${i},id=nic${i},bus=${bus}${n.mac ? `,mac=${n.mac.toLowerCase()}` : ''}`);
  });
}

function extrasArgs(profile: Profile, argv: string[]): void {
  const lg = profile.lookingGlass;
  if (lg) {
    const path = lg.device === 'kvmfr' ? '/dev/kvmfr0' : '/dev/shm/looking-glass';
    argv.push('-object', `memory-backend-file,${props([['id', 'lg0mem'], ['share', 'on'], ['mem-path', path], ['size', `${sizeMiB(lg.size)}M`]])}`);
    argv.push('-device', `ivshmem-plain,id=lg0,memdev=lg0mem,bus=${busName(profile.machine)}`);
  }
  if (profile.mmio64 && profile.firmware === 'uefi') argv.push('-fw_cfg', `name=opt/ovmf/X-PciMmio64Mb,string=${sizeMiB(profile.mmio64)}`);
  if (vmFeatures(profile).tpm) {
    argv.push('-chardev', `socket,${props([['id', 'chrtpm'], ['path', `${stateDir(profile)}/swtpm.sock`]])}`, '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm');
    argv.push('-device', profile.machine === 'q35' ? 'tpm-crb,tpmdev=tpm0' : 'tpm-tis,tpmdev=tpm0');
  }
}

const HYPERV = 'hv-relaxed,hv-vapic,hv-spinlocks=0x1fff,hv-vpindex,hv-runtime,hv-synic,hv-stimer,hv-time,hv-frequencies,hv-reset,hv-vendor-id=gpuvirt';

/** The argv: machine, CPU, memory, firmware, display, then one group per passed device. */
export function qemuArgv(profile: Profile, devices: readonly ResolvedDevice[], env: QemuEnv = { firmware: null }): { argv: string[]; warnings: string[]; vars: { vars: string; template: string | null } | null } {
  const q = profile.targets.qemu;
  const warnings: string[] = [];
  const mib = memoryMiB(profile);
  const hugepages = profile.hugepages !== false;
  const f = vmFeatures(profile);
  const machine = [profile.machine === 'q35' ? 'q35' : 'pc', 'accel=kvm', ...(hugepages ? ['memory-backend=mem0'] : [])];
  // `exec -c …` would be an option of exec itself (bash): a binary is a path or a command name.
  if (q?.binary !== undefined && (q.binary === '' || q.binary.startsWith('-'))) throw unsafeValue('targets.qemu.binary', q.binary, 'a program (a path or a command name, not an option)', 'the QEMU script');
  const argv: string[] = [q?.binary ?? 'qemu-system-x86_64', '-name', `guest=${qemuValue(profile.name)}`, '-nodefaults', '-machine', ''];
  argv.push('-cpu', f.hyperv ? `host,${HYPERV}` : 'host');
  const { sockets, cores, threads } = profile.cpu;
  argv.push('-smp', `${vcpuCount(profile)},sockets=${sockets},cores=${cores},threads=${threads}`, '-m', `${mib}M`);
  if (hugepages) {
    const path = q?.hugepagesPath ?? DEFAULT_HUGEPAGES;
    argv.push('-object', `memory-backend-file,${props([['id', 'mem0'], ['size', `${mib}M`], ['mem-path', path], ['prealloc', 'on']])}`);
    if (profile.hugepages === '1G' && !q?.hugepagesPath) warnings.push('qemu: 1G hugepages need a hugetlbfs mounted with pagesize=1G: set targets.qemu.hugepagesPath');
  }
  if (f.windows) argv.push('-rtc', 'base=localtime');
  const vars = firmwareArgs(profile, env, argv, machine, warnings);
  argv[argv.indexOf('-machine') + 1] = machine.join(',');
  if (profile.cpu.pinning) warnings.push('qemu: QEMU has no vCPU pinning option; cpu.pinning applies to the libvirt and Proxmox outputs (pin the vCPU threads with taskset)');
  displayArgs(profile, devices, argv, warnings);
  for (const p of placeDevices(devices, profile.machine)) for (const a of deviceArgs(p, profile.machine)) argv.push(...a);
  storageArgs(profile, argv);
  extrasArgs(profile, argv);
  argv.push(...(q?.extraArgs ?? []));
  return { argv, warnings, vars };
}

/** Shell lines run before QEMU: mdevs, the per-VM UEFI variables, disk images, the TPM emulator. */
function setupLines(profile: Profile, devices: readonly ResolvedDevice[], vars: { vars: string; template: string | null } | null): string[] {
  const out: string[] = [];
  for (const d of devices) {
    if (d.kind !== 'mdev') continue;
    const dev = `${paths.mdevDevices}/${d.uuid}`;
    const create = `${paths.mdevBus}/${d.parent.address}/mdev_supported_types/${d.mdevType}/create`;
    out.push(`# mdev ${d.mdevType} on ${d.parent.address}: created here unless it exists (mdevctl can keep it defined)`);
    out.push(`if [ ! -e ${shellQuote(dev)} ]; then`, `  echo ${shellQuote(d.uuid)} > ${shellQuote(create)}`, 'fi');
  }
  if (profile.display.backend === 'spice' && ['virgl', 'venus'].includes(profile.display.fallback)) out.push(`mkdir -p ${shellQuote(stateDir(profile))}`);
  if (vars?.template) {
    out.push('# this VM\'s UEFI variables: a copy of the firmware\'s template, kept across boots');
    out.push(`if [ ! -e ${shellQuote(vars.vars)} ]; then`, `  install -D -m 600 ${shellQuote(vars.template)} ${shellQuote(vars.vars)}`, 'fi');
  }
  profile.disks.forEach((d, i) => {
    const p = diskPath(profile, i);
    out.push(`if [ ! -e ${shellQuote(p)} ]; then`, `  mkdir -p ${shellQuote(p.slice(0, p.lastIndexOf('/')) || '/')}`, `  qemu-img create -q -f ${d.format} ${shellQuote(p)} ${sizeMiB(d.size)}M`, 'fi');
  });
  if (vmFeatures(profile).tpm) {
    const dir = stateDir(profile);
    out.push('# TPM 2.0 emulator; it exits when QEMU disconnects (its pid in swtpm.pid)');
    out.push(`mkdir -p ${shellQuote(`${dir}/tpm`)}`);
    out.push(`swtpm socket --tpm2 --tpmstate dir=${shellQuote(`${dir}/tpm`)} --ctrl type=unixio,path=${shellQuote(`${dir}/swtpm.sock`)} --pid file=${shellQuote(`${dir}/swtpm.pid`)} --terminate --daemon`);
  }
  return out;
}

export function generateQemu(profile: Profile, devices: readonly ResolvedDevice[], env: QemuEnv = { firmware: null }): QemuOutput {
  const { argv, warnings, vars } = qemuArgv(profile, devices, env);
  const passed = devices.flatMap((d) => (d.kind === 'pci' ? d.functions.map((f) => f.address) : []));
  const lines = [
    '#!/bin/sh',
    `# QEMU command for the VM ${JSON.stringify(profile.name)}, generated by gpuvirt from a ${profile.apiVersion} profile.`,
    '# Run it as root (or with access to /dev/vfio and /dev/kvm).',
  ];
  if (env.singleGpu) lines.push(`# It hands ${env.singleGpu.functions.join(', ')} to the VM (the desktop stops) and gives them back when QEMU exits.`);
  else if (passed.length) lines.push(`# ${passed.join(', ')} must be on vfio-pci first: gpuvirt apply <profile> does that.`);
  lines.push('set -eu', ...setupLines(profile, devices, vars));
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
  const run = `${words.join(' \\\n  ')} "$@"`;
  if (env.singleGpu) lines.push(qemuHandover(env.singleGpu, run).trimEnd());
  else lines.push(`exec ${run}`);
  return { argv, script: `${lines.join('\n')}\n`, warnings };
}
