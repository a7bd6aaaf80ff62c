import * as fs from 'node:fs';
import { writeOutFile } from '../out-file.js';
import type { CommandDef } from './command.js';
import type { Ctx } from '../context.js';
import { ExitCode, GpuvirtError, usageError } from '../errors.js';
import type { Style } from '../output.js';
import type { InventoryFunction } from '../profiles/inventory.js';

export interface InitOptions {
  out: string | null;
  force: boolean;
  name: string | undefined;
  gpu: string | undefined;
  memory: string | undefined;
  cores: number | undefined;
  firmware: 'uefi' | 'bios' | undefined;
  primary: boolean | undefined;
  vmid: number | undefined;
  node: string | undefined;
  yes: boolean;
}

export interface InitData {
  out: string | null;
  profile: string;
  device: { address: string; name: string; isolation: string } | null;
}

/** What the wizard asks for, each answer taken from a flag when given. */
interface Answers {
  name: string;
  gpu: InventoryFunction | null;
  primary: boolean;
  firmware: 'uefi' | 'bios';
  memory: string;
  cores: number;
  proxmox: { vmid: number; node: string | undefined } | null;
}

const yamlText = (s: string) => (/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/.test(s) && !/^(true|false|null|yes|no|on|off|~)$/i.test(s) ? s : JSON.stringify(s));

/** The profile text, with comments, recording what the drift check compares later. */
export function profileText(a: Answers): string {
  const lines = [
    '# Written by `gpuvirt init`. Check it with `gpuvirt profile validate` and',
    '# `gpuvirt profile check`; `gpuvirt generate` writes the VM configuration.',
    'apiVersion: gpuvirt/v1',
    `name: ${yamlText(a.name)}`,
    'machine: q35',
    `firmware: ${a.firmware}`,
    `memory: ${a.memory}`,
    'cpu:',
    `  cores: ${a.cores}`,
  ];
  if (a.proxmox) lines.push('targets:', '  proxmox:', `    vmid: ${a.proxmox.vmid}`, ...(a.proxmox.node ? [`    node: ${a.proxmox.node}`] : []));
  if (!a.gpu) lines.push('devices: []', 'display:', '  fallback: virtio-gpu');
  else {
    const g = a.gpu;
    lines.push('devices:', '  - type: gpu', `    # ${g.name.replace(/[\u0000-\u001f\u007f]/g, ' ')}`, '    select:', `      address: ${g.address}`, `      id: ${g.vendorId}:${g.deviceId}`);
    if (g.subsystemVendorId && g.subsystemDeviceId) lines.push(`      subsystem: ${g.subsystemVendorId}:${g.subsystemDeviceId}`);
    if (g.iommuGroup !== null) lines.push(`      iommuGroup: ${g.iommuGroup}`);
    lines.push('    functions: all', `    primary: ${a.primary}`);
  }
  return `${lines.join('\n')}\n`;
}

function verdict(g: InventoryFunction): string {
  if (g.isolation === 'clean') return 'clean';
  if (g.isolation === 'shared') return `shared with ${g.blockingPeers.join(', ')}`;
  return 'unknown (no IOMMU)';
}

/** Each free-text answer is checked as it is typed, with the profile's own rules: true, or what is wrong. */
export const validators = {
  name: (s: string): true | string => (/^[^/\u0000-\u001f\u007f]{1,64}$/u.test(s) ? true : 'a name of 1 to 64 characters, without "/" or control characters'),
  memory: (s: string): true | string => {
    const m = /^([1-9][0-9]*)(MiB|GiB)$/.exec(s);
    if (!m) return 'a size such as 16GiB or 4096MiB';
    return Number(m[1]) * (m[2] === 'GiB' ? 1024 : 1) >= 128 ? true : 'at least 128MiB';
  },
  cores: (s: string): true | string => (/^[1-9][0-9]*$/.test(s) && Number(s) <= 512 ? true : 'a whole number from 1 to 512'),
  vmid: (s: string): true | string => (/^[1-9][0-9]*$/.test(s) && Number(s) >= 100 && Number(s) <= 999999999 ? true : 'a Proxmox VM id: a whole number from 100 to 999999999'),
  node: (s: string): true | string => (/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(s) ? true : 'a Proxmox node name (letters, digits and -)'),
};

type TextPrompter = Ctx['prompt'] & { input?: (m: string, d: string, validate: (s: string) => true | string) => Promise<string> };

/**
 * Free-text answers, checked as they are typed: inquirer refuses a wrong answer in place; a
 * context's own prompter (tests) is asked again, a few times, with what was wrong.
 */
async function askText(ctx: Ctx, message: string, def: string, validate: (s: string) => true | string): Promise<string> {
  const p = ctx.prompt as TextPrompter;
  if (!p.input) {
    const { input } = await import('@inquirer/prompts');
    return input({ message, default: def, validate });
  }
  let ask = message;
  for (let i = 0; i < 5; i++) {
    const answer = (await p.input(ask, def, validate)).trim();
    const ok = validate(answer);
    if (ok === true) return answer;
    ask = `${message} (${ok})`;
  }
  throw usageError(`${message}: no valid answer`);
}

async function ask(ctx: Ctx, opts: InitOptions, gpus: InventoryFunction[]): Promise<Answers> {
  const interactive = !opts.yes && ctx.io.isTTY && !ctx.json;
  // What --yes takes is also what Enter takes: the first cleanly isolated GPU that is not the boot GPU.
  const preferred = gpus.find((g) => g.isolation === 'clean' && !g.bootVga) ?? null;
  const pick = async (): Promise<InventoryFunction | null> => {
    if (opts.gpu !== undefined) {
      if (opts.gpu === 'none') return null;
      const found = gpus.find((g) => g.address === opts.gpu || g.address === `0000:${opts.gpu}`);
      if (!found) throw new GpuvirtError('E_NOT_FOUND', `no GPU ${opts.gpu} on this host`, { exitCode: ExitCode.notFound, hint: 'gpuvirt doctor lists the GPUs' });
      return found;
    }
    if (!interactive) return preferred;
    const choices = [...gpus.map((g) => ({ value: g.address, name: `${g.address}  ${g.name}  [${verdict(g)}]${g.bootVga ? ' (boot GPU)' : ''}` })), { value: 'none', name: 'no GPU (a virtio-gpu display)' }];
    const chosen = await ctx.prompt.select('Which GPU goes to the VM?', choices, preferred?.address ?? 'none');
    return gpus.find((g) => g.address === chosen) ?? null;
  };
  const gpu = await pick();
  // A display-class GPU is the VM's screen unless told otherwise, asked or not.
  const display = gpu !== null && gpu.classId.startsWith('03');
  const primary = opts.primary ?? (display && (!interactive || (await ctx.prompt.confirm('Is it the VM\'s screen (no emulated display)?', true))));
  const text = async (given: string | undefined, message: string, def: string, v: (s: string) => true | string) => given ?? (interactive ? askText(ctx, message, def, v) : def);
  const name = await text(opts.name, 'VM name', 'gpu-vm', validators.name);
  const memory = await text(opts.memory, 'Memory (e.g. 16GiB)', '8GiB', validators.memory);
  const cores = opts.cores ?? Number(await text(undefined, 'vCPU cores', '4', validators.cores));
  const firmware = opts.firmware ?? 'uefi';
  const proxmox = opts.vmid !== undefined ? { vmid: opts.vmid, node: opts.node } : null;
  return { name, gpu, primary, firmware, memory, cores, proxmox };
}

export const init: CommandDef<InitOptions, InitData> = {
  name: 'init',
  summary: 'write a profile for this host: pick a GPU (with its isolation verdict) and a few settings',
  help: [
    'Lists this host\'s GPUs with their IOMMU isolation verdicts and asks which one the VM gets,',
    'whether it is the VM\'s screen, the VM name, memory and cores; then writes a profile that',
    'records the GPU\'s address, ids, subsystem ids and IOMMU group (for `gpuvirt profile check`).',
    'Every answer can be given as a flag; with --yes (or without a terminal) nothing is asked and',
    'the first cleanly isolated GPU that is not the boot GPU is taken.',
  ].join('\n'),
  linuxOnly: true,
  configure(cmd) {
    cmd
      .option('--out <file>', 'write the profile here (default: stdout)')
      .option('--force', 'replace an existing --out file')
      .option('--name <name>', 'VM name')
      .option('--gpu <address>', 'the GPU to pass (or "none")')
      .option('--memory <size>', 'memory, e.g. 16GiB')
      .option('--cores <n>', 'vCPU cores')
      .option('--firmware <fw>', 'uefi or bios')
      .option('--primary', 'the GPU is the VM\'s screen')
      .option('--no-primary', 'the GPU is not the VM\'s screen')
      .option('--vmid <id>', 'Proxmox VM id (targets.proxmox.vmid)')
      .option('--node <name>', 'Proxmox node, for a PCI mapping (targets.proxmox.node; needs --vmid)')
      .option('-y, --yes', 'ask nothing: defaults for every answer not given');
  },
  parse(_args, opts) {
    const fw = opts.firmware as string | undefined;
    if (fw !== undefined && fw !== 'uefi' && fw !== 'bios') throw usageError(`--firmware ${fw}: uefi or bios`);
    const check = (flag: string, value: unknown, v: (s: string) => true | string) => {
      if (value === undefined) return undefined;
      const ok = v(String(value));
      if (ok !== true) throw usageError(`--${flag} ${String(value)}: ${ok}`);
      return String(value);
    };
    check('name', opts.name, validators.name);
    check('memory', opts.memory, validators.memory);
    const cores = check('cores', opts.cores, validators.cores);
    const vmid = check('vmid', opts.vmid, validators.vmid);
    check('node', opts.node, validators.node);
    if (opts.node !== undefined && vmid === undefined) throw usageError('--node needs --vmid: a Proxmox target is a VM id');
    return {
      out: typeof opts.out === 'string' && opts.out !== '-' ? opts.out : null, force: Boolean(opts.force),
      name: opts.name as string | undefined, gpu: opts.gpu as string | undefined, memory: opts.memory as string | undefined, cores: cores === undefined ? undefined : Number(cores),
      firmware: fw as InitOptions['firmware'], primary: opts.primary as boolean | undefined, yes: Boolean(opts.yes),
      vmid: vmid === undefined ? undefined : Number(vmid), node: opts.node as string | undefined,
    };
  },
  async run(opts, ctx) {
    const [{ readInventory }, { loadProfileText }, { formatProblems }] = await Promise.all([
      import('../profiles/inventory.js'), import('../profiles/load.js'), import('../profiles/problems.js'),
    ]);
    if (opts.out && fs.existsSync(opts.out) && !opts.force) throw usageError(`${opts.out} exists`, 'pass --force to replace it');
    const gpus = readInventory(ctx.host, ctx.names).functions.filter((f) => (f.classId.startsWith('03') || f.classId.startsWith('12')) && f.physfn === null);
    const answers = await ask(ctx, opts, gpus);
    const text = profileText(answers);
    const check = loadProfileText(text);
    if (!check.profile) throw usageError(`the answers do not make a valid profile:\n${formatProblems('profile', text, check.problems)}`);
    if (opts.out) writeOutFile(opts.out, text);
    const g = answers.gpu;
    const warnings: string[] = [];
    if (g && g.isolation !== 'clean') warnings.push(`${g.address} is not cleanly isolated: ${verdict(g)}`);
    if (!g && opts.gpu === undefined) warnings.push('no cleanly isolated GPU other than the boot GPU: the profile passes none (name one with --gpu)');
    return { ok: true, data: { out: opts.out, profile: text, device: g ? { address: g.address, name: g.name, isolation: verdict(g) } : null }, warnings };
  },
  render: (d: InitData, _s: Style) => (d.out ? `wrote ${d.out}${d.device ? ` (${d.device.address}, ${d.device.isolation})` : ''}\n` : d.profile),
};
