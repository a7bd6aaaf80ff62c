// `gpuvirt apply --register`: the generated VM handed to its consumer, as steps of the apply
// change (after the files it reads are written), each with its undo as data.
// - libvirt: `virsh define --file XML`. A new domain's undo undefines it, and only if it is there
//   (a define that never happened undoes nothing). A domain of that name that exists already is
//   someone's VM: refused, and with --force redefined, its previous definition (`virsh dumpxml
//   --inactive --security-info`) saved under /var/lib/gpuvirt/backups and defined again by the undo.
//   gpuvirt never undefines a domain it did not define.
// - Proxmox VE: the commands artifact run step by step (`pvesh create /cluster/mapping/pci` per
//   mapping, then `qm create`); undone by `pvesh delete` and `qm destroy`, only for what this change
//   created. A mapping id that is taken is refused. A VMID that is taken (`pvesh get /cluster/nextid
//   --vmid N` refuses a used id, cluster-wide) is refused, and with --force that VM is updated:
//   `qm config N` read (on this node), then one `qm set N` of the conf's keys that differ, undone by
//   a `qm set N` that sets the previous values back and `--delete`s the keys it did not have
//   (qemu-server's update_vm_api takes `delete` as a list of option names, split on `,`). Volumes
//   (disks, EFI vars, TPM state) are `qm create`'s: an update leaves them as they are.
// - QEMU: nothing to register; the script is the VM.
// What was registered is kept beside the configs (registered-libvirt.xml, registered-proxmox-N.sh),
// so applying the same profile again leaves the registered VM alone.
import type { Ctx } from '../context.js';
import type { ExecResult } from '../host/exec.js';
import { paths } from '../host/paths.js';
import type { Refusal } from '../change/types.js';
import type { Undo } from '../change/undo.js';
import type { Step } from '../mutate/steps.js';
import type { Profile } from './schema.js';

export type RegisterTarget = 'libvirt' | 'proxmox' | 'qemu';
export const REGISTER_TARGETS: RegisterTarget[] = ['libvirt', 'proxmox', 'qemu'];

export interface RegisterPart {
  steps: Step[];
  refusals: Refusal[];
  warnings: string[];
}

export interface RegisterInput {
  target: RegisterTarget;
  profile: Profile;
  /** gpuvirt's directory for this VM (configs and the record of what was registered). */
  dir: string;
  /** libvirt: the domain XML file apply writes, and its content. */
  libvirt?: { path: string; xml: string };
  /** Proxmox: the commands artifact (`pvesh create`…, `qm create`) as argv, and as the script apply writes; the conf's key/value lines. */
  proxmox?: { vmid: number; commands: string[][]; script: string; config: { key: string; value: string }[] } | null;
  /** The QEMU script apply writes. */
  qemuScript?: string;
}

const hasProgram = (host: Ctx['host'], name: string) => paths.binDirs.some((d) => host.exists(`${d}/${name}`));
const firstLine = (s: string) => s.trim().split('\n')[0] ?? '';
const refuse = (code: string, message: string, force: string | null = null): RegisterPart => ({ steps: [], refusals: [{ code, message, force }], warnings: [] });

/** The domain name a profile's libvirt XML defines. */
export const domainName = (profile: Profile) => profile.targets.libvirt?.domainName ?? profile.name;

/** A read-only query; a program that cannot run at all (a --root other than /) is a refusal, not a crash. */
async function query(ctx: Ctx, argv: string[]): Promise<ExecResult | Refusal> {
  try {
    return await ctx.exec.run(argv);
  } catch (err) {
    return { code: 'register-query', message: `cannot run \`${argv.join(' ')}\`: ${err instanceof Error ? err.message : String(err)}`, force: null };
  }
}
const failedQuery = (r: ExecResult | Refusal): r is Refusal => 'code' in r;

export async function planRegister(ctx: Ctx, input: RegisterInput): Promise<RegisterPart> {
  switch (input.target) {
    case 'qemu':
      return { steps: [], refusals: [], warnings: [`the QEMU target has nothing to register: its script ${input.qemuScript ?? ''} is the VM, run it to start it`] };
    case 'libvirt':
      return registerLibvirt(ctx, input);
    case 'proxmox':
      return registerProxmox(ctx, input);
  }
}

async function registerLibvirt(ctx: Ctx, input: RegisterInput): Promise<RegisterPart> {
  const { path, xml } = input.libvirt!;
  const name = domainName(input.profile);
  if (!hasProgram(ctx.host, 'virsh')) return refuse('virsh-missing', 'virsh is not installed: libvirt\'s client (Debian: libvirt-clients) defines the domain');
  const marker = `${input.dir}/registered-libvirt.xml`;
  const dominfo = ['virsh', 'dominfo', '--domain', name];
  const now = await query(ctx, ['virsh', 'dumpxml', '--inactive', '--security-info', '--domain', name]);
  if (failedQuery(now)) return { steps: [], refusals: [now], warnings: [] };
  const record: Step = { kind: 'file', path: marker, content: xml, title: `record that ${name} was defined from ${path}` };
  const verify: Step = { kind: 'exec', argv: dominfo, title: `libvirt knows the domain ${name}` };
  if (now.exitCode !== 0) {
    if (!/failed to get domain|domain not found|no domain with matching name/i.test(now.stderr)) {
      return refuse('libvirt-unreachable', `virsh cannot tell whether the domain ${name} exists: ${firstLine(now.stderr) || `exit status ${now.exitCode}`}`);
    }
    const undo: Undo[] = [{ kind: 'run', argv: ['virsh', 'undefine', '--nvram', '--domain', name], title: `undefine ${name}, which this change defined`, onlyIf: dominfo }];
    return {
      steps: [{ kind: 'exec', argv: ['virsh', 'define', '--file', path], title: `define the libvirt domain ${name}`, undo }, verify, record],
      refusals: [], warnings: [],
    };
  }
  // Already defined from this very XML by an earlier apply: nothing to do.
  if (ctx.host.readText(marker) === xml) return { steps: [], refusals: [], warnings: [] };
  const backup = `${paths.backupDir}/libvirt/${name.replace(/[^A-Za-z0-9._-]/g, '_')}.xml`;
  const undo: Undo[] = [{ kind: 'run', argv: ['virsh', 'define', '--file', backup], title: `define ${name} again as it was (${backup})` }];
  return {
    steps: [
      { kind: 'file', path: backup, content: now.stdout, mode: 0o600, dirMode: 0o700, title: `keep ${name}'s current definition` },
      { kind: 'exec', argv: ['virsh', 'define', '--file', path], title: `redefine the libvirt domain ${name} from ${path}`, undo },
      verify, record,
    ],
    refusals: [{
      // The domain is named in the message: `address` is for PCI addresses.
      code: 'libvirt-domain-exists',
      message: `libvirt already has a domain ${name} that gpuvirt did not define from this profile`,
      force: `redefine ${name} from ${path}; its current definition is kept in ${backup} and defined again if the change fails`,
    }],
    warnings: [],
  };
}

/** Section ids of /etc/pve/mapping/pci.cfg (a section starts at a line that is not indented). */
function mappingIds(text: string | null): Set<string> {
  const ids = new Set<string>();
  for (const line of (text ?? '').split('\n')) {
    if (!line.trim() || /^\s/.test(line) || line.startsWith('#')) continue;
    ids.add(line.trim().replace(/^pci:\s*/, ''));
  }
  return ids;
}

async function registerProxmox(ctx: Ctx, input: RegisterInput): Promise<RegisterPart> {
  const px = input.proxmox;
  if (!px) return refuse('proxmox-no-target', 'the profile has no Proxmox VM to register (targets.proxmox with its vmid), or its Proxmox config has errors (`gpuvirt generate --target proxmox` shows them)');
  if (!hasProgram(ctx.host, 'qm') || !hasProgram(ctx.host, 'pvesh')) return refuse('proxmox-missing', 'qm and pvesh are not installed: this host is not a Proxmox VE node');
  const vmid = String(px.vmid);
  const marker = `${input.dir}/registered-proxmox-${vmid}.sh`;
  const free = await query(ctx, ['pvesh', 'get', '/cluster/nextid', '--vmid', vmid]);
  if (failedQuery(free)) return { steps: [], refusals: [free], warnings: [] };
  if (free.exitCode !== 0) {
    if (!/already exists/i.test(free.stderr + free.stdout)) return refuse('proxmox-unreachable', `pvesh cannot tell whether VMID ${vmid} is free: ${firstLine(free.stderr) || `exit status ${free.exitCode}`}`);
    if (ctx.host.readText(marker) === px.script) return { steps: [], refusals: [], warnings: [] };
    return updateProxmox(ctx, px, marker);
  }
  const { steps, refusals } = mappingSteps(ctx, px.commands);
  for (const argv of px.commands) {
    if (argv[0] === 'qm') {
      const undo: Undo[] = [{ kind: 'run', argv: ['qm', 'destroy', vmid, '--purge', '1', '--destroy-unreferenced-disks', '1'], title: `destroy VM ${vmid}, which this change created`, onlyIf: ['qm', 'config', vmid] }];
      steps.push({ kind: 'exec', argv, title: `create Proxmox VM ${vmid} (${input.profile.name})`, undo });
    }
  }
  steps.push(
    { kind: 'exec', argv: ['qm', 'config', vmid], title: `Proxmox knows VM ${vmid}` },
    { kind: 'file', path: marker, content: px.script, title: `record that VM ${vmid} was created from this profile` },
  );
  return { steps, refusals, warnings: [] };
}

/** The `pvesh create` steps of the commands artifact, each undone by deleting the mapping; a taken id is refused. */
function mappingSteps(ctx: Ctx, commands: readonly string[][]): { steps: Step[]; refusals: Refusal[] } {
  const taken = mappingIds(ctx.host.readText('/etc/pve/mapping/pci.cfg'));
  const refusals: Refusal[] = [];
  const steps: Step[] = [];
  for (const argv of commands) {
    if (argv[0] !== 'pvesh') continue;
    const id = argv[argv.indexOf('--id') + 1]!;
    if (taken.has(id)) refusals.push({ code: 'proxmox-mapping-exists', force: null, message: `the PCI mapping ${id} exists already (/etc/pve/mapping/pci.cfg): remove it (\`pvesh delete /cluster/mapping/pci/${id}\`) or give this VM another vmid` });
    const undo: Undo[] = [{ kind: 'run', argv: ['pvesh', 'delete', `/cluster/mapping/pci/${id}`], title: `delete the PCI mapping ${id}, which this change created`, onlyIf: ['pvesh', 'get', `/cluster/mapping/pci/${id}`] }];
    steps.push({ kind: 'exec', argv, title: `create the PCI mapping ${id}`, undo });
  }
  return { steps, refusals };
}

/**
 * `qm config` output: `key: value` lines (sorted, without the digest; a description is
 * URI-encoded onto one line), as qemu-server's CLI prints them.
 */
export function parseQmConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('[')) break; // a snapshot section: not the VM's current config
    const m = /^([a-z][a-z0-9_-]*): (.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** A NIC without a MAC in the profile keeps the one Proxmox gave it (`virtio=BC:24:11:…`): a new MAC is a new NIC to the guest. */
export function keepMac(key: string, want: string, now: string | undefined): string {
  if (!/^net\d+$/.test(key) || now === undefined) return want;
  const [model, ...rest] = want.split(',');
  const current = now.split(',')[0]!;
  if (model!.includes('=') || !current.startsWith(`${model}=`)) return want;
  return [current, ...rest].join(',');
}

/** The keys of the `qm create` in the commands artifact (volumes and the description among them). */
function createKeys(commands: readonly string[][]): string[] {
  const create = commands.find((c) => c[0] === 'qm' && c[1] === 'create') ?? [];
  return create.slice(3).filter((a, i) => i % 2 === 0 && a.startsWith('--')).map((a) => a.slice(2));
}

/** An existing VM updated with `qm set` (only with --force), undone by setting back what it had and deleting what it did not. */
async function updateProxmox(ctx: Ctx, px: NonNullable<RegisterInput['proxmox']>, marker: string): Promise<RegisterPart> {
  const vmid = String(px.vmid);
  const read = await query(ctx, ['qm', 'config', vmid]);
  if (failedQuery(read)) return { steps: [], refusals: [read], warnings: [] };
  if (read.exitCode !== 0) {
    return refuse('proxmox-vm-elsewhere', `VM ${vmid} exists in this cluster but \`qm config ${vmid}\` cannot read it on this node (${firstLine(read.stderr) || `exit status ${read.exitCode}`}): run apply on the node that has it, or pick a free targets.proxmox.vmid (\`pvesh get /cluster/nextid\`)`);
  }
  const now = parseQmConfig(read.stdout);
  const changes = px.config.map(({ key, value }) => [key, keepMac(key, value, now.get(key))] as const).filter(([k, v]) => now.get(k) !== v);
  const confKeys = new Set(px.config.map((c) => c.key));
  const missingVolumes = createKeys(px.commands).filter((k) => !confKeys.has(k) && k !== 'description' && !now.has(k));
  const extraDevices = [...now.keys()].filter((k) => /^hostpci\d+$/.test(k) && !confKeys.has(k));
  const warnings = [
    ...(missingVolumes.length ? [`VM ${vmid} has no ${missingVolumes.join(', ')}: an update does not allocate volumes (\`qm create\` in proxmox-${vmid}.sh does); add them by hand`] : []),
    ...(extraDevices.length ? [`VM ${vmid} has ${extraDevices.join(', ')}, which the profile does not: left as it is (\`qm set ${vmid} --delete ${extraDevices.join(',')}\` removes it)`] : []),
  ];
  const { steps, refusals } = mappingSteps(ctx, px.commands);
  const record: Step = { kind: 'file', path: marker, content: px.script, title: `record that VM ${vmid} was updated from this profile` };
  if (!changes.length) return { steps: [...steps, record], refusals, warnings };
  const restore = changes.filter(([k]) => now.has(k)).flatMap(([k]) => [`--${k}`, now.get(k)!]);
  const added = changes.filter(([k]) => !now.has(k)).map(([k]) => k);
  const keys = changes.map(([k]) => k).join(', ');
  const undo: Undo[] = [{
    kind: 'run', argv: ['qm', 'set', vmid, ...restore, ...(added.length ? ['--delete', added.join(',')] : [])],
    title: `set VM ${vmid}'s previous ${keys} back${added.length ? `, deleting ${added.join(', ')}` : ''}`,
  }];
  steps.push(
    { kind: 'exec', argv: ['qm', 'set', vmid, ...changes.flatMap(([k, v]) => [`--${k}`, v])], title: `update VM ${vmid}: ${keys}`, undo },
    { kind: 'exec', argv: ['qm', 'config', vmid], title: `Proxmox knows VM ${vmid}` },
    record,
  );
  refusals.push({
    code: 'proxmox-vmid-exists',
    message: `VM ${vmid} exists in this cluster and gpuvirt did not create it from this profile`,
    force: `update VM ${vmid} with \`qm set ${vmid}\`: ${keys} set to the profile's values; if the change fails, the previous values are set again${added.length ? ` and ${added.join(', ')} deleted` : ''}`,
  });
  return { steps, refusals, warnings };
}
