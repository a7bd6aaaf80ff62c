import { writeOutFile } from '../out-file.js';
import type { CommandDef } from './command.js';
import type { Ctx } from '../context.js';
import { ExitCode, usageError } from '../errors.js';
import type { Style } from '../output.js';
import type { Problem } from '../profiles/problems.js';
import type { ResolvedDevice } from '../profiles/resolve.js';
import type { Profile } from '../profiles/schema.js';
import { fileResult, invalidProfile, renderFileResult, type FileResult } from './profile/validate.js';
import type { ProxmoxArtifact } from '../generate/proxmox.js';
import type { Firmware } from '../generate/firmware.js';
import type { Host } from '../host/host.js';
import { problem } from '../profiles/problems.js';
import type { HookSpec } from '../singlegpu/script.js';

const ARTIFACTS: ProxmoxArtifact[] = ['conf', 'commands', 'mapping'];

export type Target = 'qemu' | 'libvirt' | 'proxmox';
export const TARGETS: Target[] = ['qemu', 'libvirt', 'proxmox'];

export interface GenerateOptions {
  file: string;
  target: Target;
  /** null or '-': stdout. */
  out: string | null;
  offline: boolean;
  hostdevOnly: boolean;
  /** proxmox: which artifact is the output (the JSON carries all three). */
  artifact: ProxmoxArtifact;
  force: boolean;
  /** qemu: the script hands the host's only GPU over for the run and gives it back. */
  singleGpu: boolean;
}

export interface DeviceJson {
  index: number;
  kind: 'gpu' | 'vf' | 'mdev';
  addresses: string[];
  uuid: string | null;
}

export interface GenerateData {
  file: string;
  target: Target;
  offline: boolean;
  /** Where the output went: a file, or null for stdout. */
  out: string | null;
  devices: DeviceJson[];
  /** The generated text (script, XML, or Proxmox lines). */
  output: string | null;
  /** qemu: the command as an argv array. */
  argv?: string[];
  /** libvirt --hostdev-only: one document per function, each for one `virsh attach-device`. */
  hostdevs?: string[];
  /** --hostdev-only --out with several documents: the files written (one per document). */
  files?: string[];
  /** proxmox: config lines, commands, the mapping file entries, and each artifact's text. */
  proxmox?: {
    vmid: number; artifact: ProxmoxArtifact; config: { key: string; value: string }[]; commands: string[][]; mapping: string;
    artifacts: Record<ProxmoxArtifact, string>;
  };
  profile: FileResult;
}

export interface Generated {
  text: string;
  /** libvirt --hostdev-only: one <hostdev> document per passed function. */
  hostdevs?: string[];
  argv?: string[];
  proxmox?: GenerateData['proxmox'];
  warnings: string[];
  problems: Problem[];
}

/** Runs one generator; each is loaded only when asked for (xmlbuilder2 only for libvirt). */
export async function generateFor(
  target: Target, profile: Profile, devices: ResolvedDevice[], hostdevOnly = false, artifact: ProxmoxArtifact = 'conf', firmware: Firmware | null = null,
  singleGpu: HookSpec | null = null,
): Promise<Generated> {
  switch (target) {
    case 'qemu': {
      const { generateQemu } = await import('../generate/qemu.js');
      const q = generateQemu(profile, devices, { firmware, singleGpu });
      return { text: q.script, argv: q.argv, warnings: q.warnings, problems: [] };
    }
    case 'libvirt': {
      const lv = await import('../generate/libvirt.js');
      if (hostdevOnly) {
        const h = lv.hostdevDocuments(profile, devices);
        return { text: h.documents.join('\n'), hostdevs: h.documents, warnings: h.warnings, problems: [] };
      }
      const x = lv.generateLibvirt(profile, devices);
      return { text: x.xml, warnings: x.warnings, problems: x.problems };
    }
    case 'proxmox': {
      const { generateProxmox } = await import('../generate/proxmox.js');
      const p = generateProxmox(profile, devices, artifact);
      return {
        text: p.artifacts[artifact], warnings: p.warnings, problems: p.problems,
        proxmox: {
          vmid: p.vmid, artifact, config: p.config.map(([key, value]) => ({ key, value })), commands: p.commands, mapping: p.artifacts.mapping, artifacts: p.artifacts,
        },
      };
    }
  }
}

/**
 * The UEFI build the QEMU target uses, from the firmware descriptors under the host's root.
 * null with no descriptors at all (the generator then falls back, and says so).
 */
export async function readFirmware(host: Host, profile: Profile): Promise<{ firmware: Firmware | null; problems: Problem[] }> {
  const { FIRMWARE_DIRS, chooseFirmware, mergeDescriptorDirs, parseDescriptor } = await import('../generate/firmware.js');
  const { vmFeatures } = await import('../profiles/derived.js');
  const dirs = profile.targets.qemu?.firmwareDir ? [profile.targets.qemu.firmwareDir] : FIRMWARE_DIRS;
  const read = dirs.map((dir) => ({ dir, files: Object.fromEntries((host.list(dir) ?? []).map((n) => [n, host.readText(`${dir}/${n}`) ?? ''])) }));
  const descriptors = mergeDescriptorDirs(read).map((d) => parseDescriptor(d.name, d.text)).filter((d) => d !== null);
  if (!descriptors.length) return { firmware: null, problems: [] };
  const secure = vmFeatures(profile).secureBoot;
  const firmware = chooseFirmware(descriptors, profile.machine, secure);
  if (firmware || profile.targets.qemu?.firmwareFile) return { firmware, problems: [] };
  const what = `a UEFI build for ${profile.machine}${secure ? ' with Secure Boot and enrolled keys' : ' without Secure Boot'}`;
  return { firmware: null, problems: [problem('error', ['firmware'], `no firmware descriptor in ${dirs.join(' or ')} offers ${what} (${descriptors.map((d) => d.name).join(', ')})${secure && profile.machine !== 'q35' ? ': Secure Boot needs machine q35 (SMM)' : ''}`)] };
}

export function deviceJson(d: ResolvedDevice): DeviceJson {
  if (d.kind === 'mdev') return { index: d.index, kind: 'mdev', addresses: [d.parent.address], uuid: d.uuid };
  return { index: d.index, kind: d.source, addresses: d.functions.map((f) => f.address), uuid: null };
}

function writeOut(out: string, text: string, opts: GenerateOptions): void {
  const script = opts.target === 'qemu' || (opts.target === 'proxmox' && opts.artifact === 'commands');
  writeOutFile(out, text, { mode: script ? 0o755 : 0o644, force: opts.force });
}

export const generate: CommandDef<GenerateOptions, GenerateData> = {
  name: 'generate',
  summary: 'write the QEMU, libvirt or Proxmox configuration for a profile',
  help: [
    'Resolves the profile\'s devices against this host (or --root) and prints the configuration',
    'for one target: qemu (a runnable script; --json adds the argv), libvirt (a domain XML, or',
    'one <hostdev> document per passed function with --hostdev-only), proxmox (--artifact conf:',
    'the /etc/pve/qemu-server/<vmid>.conf lines; commands: a script of pvesh create and qm create;',
    'mapping: the /etc/pve/mapping/pci.cfg sections). --offline reads no host: every device needs',
    'its address. --single-gpu (qemu): the script hands the host\'s only GPU to the VM for the run,',
    'as `gpuvirt singlegpu` does for libvirt, and gives the screen back when QEMU exits or is stopped.',
  ].join('\n'),
  linuxOnly: false,
  args: [
    { name: '<profile>', help: 'profile file' },
  ],
  options: [
    { flags: '--target <target>', help: 'qemu, libvirt or proxmox', required: true },
    { flags: '--out <file>', help: 'write to FILE instead of stdout (- for stdout)' },
    { flags: '--force', help: 'replace FILE if it exists' },
    { flags: '--offline', help: 'resolve nothing on a host: explicit addresses only' },
    { flags: '--hostdev-only', help: 'libvirt: only the <hostdev> elements, one document each' },
    { flags: '--artifact <artifact>', help: 'proxmox: conf, commands or mapping', default: 'conf' },
    { flags: '--single-gpu', help: 'qemu: stop the desktop and hand the GPU over for the run, give it back after' },
  ],
  parse(args, opts) {
    const target = String(opts.target) as Target;
    // These describe what a host has prepared, not a profile's VM.
    if (['kubevirt', 'nova', 'proxmox-mappings'].includes(target)) throw usageError(`--target ${target} describes a host, not a profile's VM: gpuvirt host export --target ${target}`);
    if (!TARGETS.includes(target)) throw usageError(`--target ${target}: must be qemu, libvirt or proxmox`);
    if (opts.hostdevOnly && target !== 'libvirt') throw usageError('--hostdev-only is for --target libvirt');
    const artifact = String(opts.artifact ?? 'conf') as ProxmoxArtifact;
    if (!ARTIFACTS.includes(artifact)) throw usageError(`--artifact ${artifact}: must be conf, commands or mapping`);
    if (artifact !== 'conf' && target !== 'proxmox') throw usageError('--artifact is for --target proxmox');
    if (opts.singleGpu && target !== 'qemu') throw usageError('--single-gpu is for --target qemu (for libvirt: gpuvirt singlegpu <vm> <gpu>)');
    if (opts.singleGpu && opts.offline) throw usageError('--single-gpu reads the host (its display manager and GPU drivers): not with --offline');
    const out = typeof opts.out === 'string' && opts.out !== '-' ? opts.out : null;
    return {
      file: args[0]!, target, out, offline: Boolean(opts.offline), hostdevOnly: Boolean(opts.hostdevOnly), artifact, force: Boolean(opts.force), singleGpu: Boolean(opts.singleGpu),
    };
  },
  async run(opts, ctx: Ctx) {
    const { openProfile } = await import('../profiles/session.js');
    const { locateProblems } = await import('../profiles/load.js');
    const opened = await openProfile(opts.file, ctx, { resolve: true, offline: opts.offline, needFunctions: opts.target !== 'proxmox' });
    const data: GenerateData = {
      file: opts.file, target: opts.target, offline: opts.offline, out: opts.out, devices: opened.devices.map(deviceJson), output: null,
      profile: fileResult(opts.file, opened.source, opened.problems),
    };
    if (!opened.profile) return invalidProfile(data, data.profile);
    const fw = opts.target === 'qemu' && !opts.offline && opened.profile.firmware === 'uefi' ? await readFirmware(ctx.host, opened.profile) : { firmware: null, problems: [] };
    const single = opts.singleGpu ? (await import('../singlegpu/generate.js')).qemuHandoverSpec(ctx.host, opened.profile.name, opened.devices) : null;
    const g = await generateFor(opts.target, opened.profile, opened.devices, opts.hostdevOnly, opts.artifact, fw.firmware, single?.spec ?? null);
    if (single) g.warnings.push(...single.warnings);
    g.problems.push(...fw.problems);
    if (g.problems.length) {
      data.profile = fileResult(opts.file, opened.source, await locateProblems(opened.source, [...opened.problems, ...g.problems]));
      if (!data.profile.valid) return invalidProfile(data, data.profile);
    }
    data.output = g.text;
    if (g.argv) data.argv = g.argv;
    if (g.hostdevs) data.hostdevs = g.hostdevs;
    if (g.proxmox) data.proxmox = g.proxmox;
    if (opts.out && g.hostdevs && g.hostdevs.length > 1) {
      // attach-device takes one device per file: gpu.xml becomes gpu-0.xml, gpu-1.xml, ...
      const dot = opts.out.lastIndexOf('.') > opts.out.lastIndexOf('/') ? opts.out.lastIndexOf('.') : opts.out.length;
      data.files = g.hostdevs.map((doc, i) => {
        const file = `${opts.out!.slice(0, dot)}-${i}${opts.out!.slice(dot)}`;
        writeOut(file, doc, opts);
        return file;
      });
    } else if (opts.out) writeOut(opts.out, g.text, opts);
    const warnings = [...opened.problems.filter((p) => p.severity === 'warning').map((p) => `${opts.file}:${p.line}:${p.col}: ${p.message}`), ...g.warnings];
    return { ok: true, data, warnings };
  },
  render(d: GenerateData, s: Style, ctx: Ctx) {
    if (d.output === null) {
      ctx.io.err(renderFileResult(d.profile, s));
      return '';
    }
    if (d.files) return `wrote ${d.files.join(', ')} (${d.target}, one <hostdev> each)\n`;
    return d.out ? `wrote ${d.out} (${d.target})\n` : d.output;
  },
};
