import type { CommandDef } from './command.js';
import type { Ctx } from '../context.js';
import { ExitCode, usageError } from '../errors.js';
import type { Style } from '../output.js';
import type { ChangeResult } from '../change/types.js';
import { runChange } from '../change/engine.js';
import { renderChangeText } from '../change/render.js';
import type { ConfigFile } from '../profiles/apply-plan.js';
import type { Profile } from '../profiles/schema.js';
import type { ResolvedDevice } from '../profiles/resolve.js';
import { REGISTER_TARGETS, type RegisterPart, type RegisterTarget } from '../profiles/register.js';
import { deviceJson, generateFor, readFirmware, type DeviceJson } from './generate.js';
import { fileResult, renderFileResult, type FileResult } from './profile/validate.js';

export interface ApplyOptions {
  file: string;
  dryRun: boolean;
  yes: boolean;
  force: boolean;
  persist: boolean;
  /** Also hand the VM to its consumer (virsh define, qm create). */
  register: RegisterTarget | null;
}

export interface ApplyView {
  file: string;
  devices: DeviceJson[];
  configs: { target: string; path: string }[];
  /** The consumer the VM is registered with (--register), or null. */
  register: RegisterTarget | null;
  profile: FileResult;
}

export type ApplyData = ChangeResult<ApplyView>;

interface Configs {
  files: ConfigFile[];
  /** The Proxmox commands artifact, as argv and as the script written (null: no Proxmox VM). */
  proxmox: { vmid: number; commands: string[][]; script: string; config: { key: string; value: string }[] } | null;
}

async function configsFor(host: Ctx['host'], profile: Profile, devices: ResolvedDevice[]): Promise<Configs> {
  const { configDir } = await import('../profiles/apply-plan.js');
  const dir = configDir(profile);
  const slug = dir.slice(dir.lastIndexOf('/') + 1);
  const out: ConfigFile[] = [];
  let proxmox: Configs['proxmox'] = null;
  // The QEMU script uses the firmware this host's descriptors name, as `generate` does.
  const fw = profile.firmware === 'uefi' ? await readFirmware(host, profile) : { firmware: null, problems: [] };
  out.push({ target: 'qemu', path: `${dir}/${slug}.sh`, content: (await generateFor('qemu', profile, devices, false, 'conf', fw.firmware)).text, mode: 0o755 });
  out.push({ target: 'libvirt', path: `${dir}/${slug}.xml`, content: (await generateFor('libvirt', profile, devices)).text });
  if (profile.targets.proxmox) {
    const px = await generateFor('proxmox', profile, devices);
    const vmid = profile.targets.proxmox.vmid;
    const artifacts = px.proxmox?.artifacts;
    if (!px.problems.length && artifacts) {
      out.push({ target: 'proxmox', path: `${dir}/proxmox-${vmid}.conf`, content: artifacts.conf });
      if (artifacts.commands) out.push({ target: 'proxmox', path: `${dir}/proxmox-${vmid}.sh`, content: artifacts.commands, mode: 0o755 });
      proxmox = { vmid, commands: px.proxmox!.commands, script: artifacts.commands, config: px.proxmox!.config };
      if (artifacts.mapping) out.push({ target: 'proxmox', path: `${dir}/proxmox-${vmid}.pci.cfg`, content: artifacts.mapping });
    }
  }
  return { files: out, proxmox };
}

async function registerPart(ctx: Ctx, profile: Profile, configs: Configs, target: RegisterTarget | null): Promise<RegisterPart | null> {
  if (!target) return null;
  const { configDir } = await import('../profiles/apply-plan.js');
  const { planRegister } = await import('../profiles/register.js');
  const of = (t: ConfigFile['target']) => configs.files.find((f) => f.target === t)!;
  return planRegister(ctx, {
    target, profile, dir: configDir(profile),
    libvirt: { path: of('libvirt').path, xml: of('libvirt').content }, proxmox: configs.proxmox, qemuScript: of('qemu').path,
  });
}

function renderApply(d: ApplyData, s: Style, ctx: Ctx): string {
  if (!d.profile.valid) {
    ctx.io.err(renderFileResult(d.profile, s));
    return '';
  }
  const head = [s.bold(`gpuvirt apply ${d.file}`)];
  for (const v of d.devices) head.push(`  devices[${v.index}] ${v.kind}: ${v.addresses.join(', ')}${v.uuid ? ` (mdev ${v.uuid})` : ''}`);
  let text = renderChangeText(d, s, head, 'Nothing to do: the host already matches the profile.');
  if (d.applied?.ok) text += d.configs.map((c) => `  ${c.target}: ${c.path}\n`).join('');
  return text;
}

export const apply: CommandDef<ApplyOptions, ApplyData> = {
  name: 'apply',
  summary: 'make this host match a profile (VF counts, vfio-pci, persistence), then write its VM configs',
  help: [
    'Plans everything the profile needs as one list of steps: SR-IOV VF counts, vfio-pci for every',
    'function it passes (with the passthrough preflight: shared groups, the boot GPU, disks and NICs',
    'in use), mdev instances, boot-time persistence (unless --no-persist), and the generated QEMU,',
    'libvirt and Proxmox configs under /var/lib/gpuvirt/vms/<name>/. Shows the whole plan, asks',
    'once, applies step by step, and on any failure undoes all of it.',
    'With persistence, mdevs are defined with mdevctl and Looking Glass\'s kvmfr gets its module',
    'option and udev rule. --register libvirt runs virsh define, --register proxmox the Proxmox',
    'commands (pvesh, qm create); an existing domain needs --force (redefined), and so does an',
    'existing VMID (updated with qm set, its previous values set back if the change fails).',
  ].join('\n'),
  linuxOnly: true,
  args: [
    { name: '<profile>', help: 'profile file' },
  ],
  options: [
    { flags: '--dry-run', help: 'print the plan and change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
    { flags: '--force', help: 'go past the refusals --force can override (each says what it does)' },
    { flags: '--no-persist', help: 'change the running host only, not what happens at boot' },
    { flags: '--register <target>', help: 'also register the VM: libvirt (virsh define) or proxmox (qm create); qemu has nothing to register' },
  ],
  parse(args, opts) {
    const register = opts.register === undefined ? null : String(opts.register);
    if (register !== null && !(REGISTER_TARGETS as string[]).includes(register)) throw usageError(`--register ${JSON.stringify(register)}: one of ${REGISTER_TARGETS.join(', ')}`);
    return { file: args[0]!, dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes), force: Boolean(opts.force), persist: opts.persist !== false, register: register as RegisterTarget | null };
  },
  async run(opts, ctx) {
    const [{ openProfile }, { planApply }] = await Promise.all([import('../profiles/session.js'), import('../profiles/apply-plan.js')]);
    const opened = await openProfile(opts.file, ctx, { resolve: true, offline: false, needFunctions: true });
    const view: ApplyView = { file: opts.file, devices: opened.devices.map(deviceJson), configs: [], register: opts.register, profile: fileResult(opts.file, opened.source, opened.problems) };
    if (!opened.profile) {
      const data: ApplyData = { ...view, dryRun: opts.dryRun, refusals: [], blocked: false, steps: [], noop: false, applied: null, facts: [] };
      return { ok: false, data, warnings: [], exitCode: ExitCode.usage };
    }
    const profile = opened.profile;
    const configs = await configsFor(ctx.host, profile, opened.devices);
    view.configs = configs.files.map((c) => ({ target: c.target, path: c.path }));
    return runChange(ctx, 'apply', opts, async () => planApply(ctx, view, profile, opened.devices, configs.files, opts, await registerPart(ctx, profile, configs, opts.register)),
      async (d) => renderApply(d, await ctx.style(), ctx));
  },
  render: (d, s, ctx) => renderApply(d, s, ctx),
};
