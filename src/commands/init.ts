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

/** Free-text answers: the context's prompter when it can (tests), else inquirer, loaded only now. */
async function askText(ctx: Ctx, message: string, def: string): Promise<string> {
  const p = ctx.prompt as Ctx['prompt'] & { input?: (m: string, d: string) => Promise<string> };
  if (p.input) return p.input(message, def);
  const { input } = await import('@inquirer/prompts');
  return input({ message, default: def });
}

async function ask(ctx: Ctx, opts: InitOptions, gpus: InventoryFunction[]): Promise<Answers> {
  const interactive = !opts.yes && ctx.io.isTTY && !ctx.json;
  const pick = async (): Promise<InventoryFunction | null> => {
    if (opts.gpu !== undefined) {
      if (opts.gpu === 'none') return null;
      const found = gpus.find((g) => g.address === opts.gpu || g.address === `0000:${opts.gpu}`);
      if (!found) throw new GpuvirtError('E_NOT_FOUND', `no GPU ${opts.gpu} on this host`, { exitCode: ExitCode.notFound, hint: 'gpuvirt doctor lists the GPUs' });
      return found;
    }
    const clean = gpus.filter((g) => g.isolation === 'clean' && !g.bootVga);
    if (!interactive) return clean[0] ?? null;
    const choices = [...gpus.map((g) => ({ value: g.address, name: `${g.address}  ${g.name}  [${verdict(g)}]${g.bootVga ? ' (boot GPU)' : ''}` })), { value: 'none', name: 'no GPU (a virtio-gpu display)' }];
    const chosen = await ctx.prompt.select('Which GPU goes to the VM?', choices);
    return gpus.find((g) => g.address === chosen) ?? null;
  };
  const gpu = await pick();
  const primary = opts.primary ?? (gpu !== null && gpu.classId.startsWith('03') && (!interactive || (await ctx.prompt.confirm('Is it the VM\'s screen (no emulated display)?'))));
  const name = opts.name ?? (interactive ? await askText(ctx, 'VM name', 'gpu-vm') : 'gpu-vm');
  const memory = opts.memory ?? (interactive ? await askText(ctx, 'Memory (e.g. 16GiB)', '8GiB') : '8GiB');
  const cores = opts.cores ?? (interactive ? Number(await askText(ctx, 'vCPU cores', '4')) : 4);
  const firmware = opts.firmware ?? 'uefi';
  return { name, gpu, primary, firmware, memory, cores };
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
      .option('-y, --yes', 'ask nothing: defaults for every answer not given');
  },
  parse(_args, opts) {
    const fw = opts.firmware as string | undefined;
    if (fw !== undefined && fw !== 'uefi' && fw !== 'bios') throw usageError(`--firmware ${fw}: uefi or bios`);
    const cores = opts.cores === undefined ? undefined : Number(opts.cores);
    if (cores !== undefined && !(Number.isInteger(cores) && cores > 0)) throw usageError(`--cores ${String(opts.cores)}: a whole number`);
    return {
      out: typeof opts.out === 'string' && opts.out !== '-' ? opts.out : null, force: Boolean(opts.force),
      name: opts.name as string | undefined, gpu: opts.gpu as string | undefined, memory: opts.memory as string | undefined, cores,
      firmware: fw as InitOptions['firmware'], primary: opts.primary as boolean | undefined, yes: Boolean(opts.yes),
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
