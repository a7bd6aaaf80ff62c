import * as fs from 'node:fs';
import { writeOutFile } from '../out-file.js';
import type { CommandDef } from './command.js';
import type { Ctx } from '../context.js';
import { ExitCode, GpuvirtError, usageError } from '../errors.js';
import type { Style } from '../output.js';
import type { InventoryFunction } from '../profiles/inventory.js';
import { legalVfCounts } from '../sharing/families.js';

export interface InitOptions {
  out: string | null;
  force: boolean;
  name: string | undefined;
  gpu: string | undefined;
  memory: string | undefined;
  cores: number | undefined;
  firmware: 'uefi' | 'bios' | undefined;
  primary: boolean | undefined;
  vf: number | 'any' | undefined;
  vmid: number | undefined;
  node: string | undefined;
  yes: boolean;
}

export interface InitData {
  out: string | null;
  profile: string;
  /** The device the profile passes: a GPU, a named VF, or (vf "any") the PF whose VFs are used. */
  device: { address: string; name: string; isolation: string; kind: 'gpu' | 'vf'; pf: string | null; vf: number | 'any' | null } | null;
}

/**
 * The device the VM gets: a whole GPU, or one SR-IOV VF of a PF (`vf` its index, or "any" for
 * the first free one when the VM starts; `fn` the VF itself when one is named).
 */
type Pick = { kind: 'gpu'; fn: InventoryFunction } | { kind: 'vf'; pf: InventoryFunction; vf: number | 'any'; fn: InventoryFunction | null; vfCount: number };

/**
 * How many VFs the profile asks of the PF: the count it has now when that reaches the VF and is
 * one the GPU can run, else the smallest it can run that does (an MI300X runs 1 or 8).
 */
export function vfCountFor(pf: InventoryFunction, vf: number | 'any'): number {
  const now = pf.sriov?.numVfs ?? 0;
  const need = Math.max(1, typeof vf === 'number' ? vf + 1 : 1);
  const legal = legalVfCounts(pf.vendorId, pf.deviceId);
  if (!legal) return Math.max(now, need);
  if (now >= need && legal.includes(now)) return now;
  const fit = [...legal].sort((a, b) => a - b).find((n) => n >= Math.max(need, now)) ?? [...legal].sort((a, b) => a - b).find((n) => n >= need);
  if (fit === undefined) throw usageError(`VF ${vf} of ${pf.address}: this GPU runs ${legal.join(' or ')} VFs`);
  return fit;
}

/** What the wizard asks for, each answer taken from a flag when given. */
interface Answers {
  name: string;
  gpu: Pick | null;
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
  const comment = (f: InventoryFunction) => `    # ${f.name.replace(/[\u0000-\u001f\u007f]/g, ' ')}`;
  const selector = (key: string, f: InventoryFunction) => {
    lines.push(`    ${key}:`, `      address: ${f.address}`, `      id: ${f.vendorId}:${f.deviceId}`);
    if (f.subsystemVendorId && f.subsystemDeviceId) lines.push(`      subsystem: ${f.subsystemVendorId}:${f.subsystemDeviceId}`);
    if (f.iommuGroup !== null) lines.push(`      iommuGroup: ${f.iommuGroup}`);
  };
  const g = a.gpu;
  if (!g) lines.push('devices: []', 'display:', '  fallback: virtio-gpu');
  else if (g.kind === 'gpu') {
    lines.push('devices:', '  - type: gpu', comment(g.fn));
    selector('select', g.fn);
    lines.push('    functions: all', `    primary: ${a.primary}`);
  } else {
    // The PF is selected like a GPU (its group is the drift check); the VF by its index, with its
    // own address recorded for --offline when one is named.
    lines.push('devices:', '  - type: vf', comment(g.pf));
    selector('pf', g.pf);
    lines.push(`    vf: ${g.vf}`, `    vfCount: ${g.vfCount}`);
    if (g.fn) lines.push(`    address: ${g.fn.address}`);
    lines.push(`    primary: ${a.primary}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Where a VF sits among its PF's VFs (virtfn order), or -1. */
const vfIndex = (pf: InventoryFunction, vf: InventoryFunction) => pf.sriov?.vfs.indexOf(vf.address) ?? -1;
const hasVfs = (f: InventoryFunction) => (f.sriov?.numVfs ?? 0) > 0;

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
  const byAddress = new Map(gpus.map((g) => [g.address, g]));
  const pfOf = (vf: InventoryFunction) => (vf.physfn ? byAddress.get(vf.physfn) : undefined);
  const wholes = gpus.filter((g) => g.physfn === null);
  const vfs = gpus.filter((g) => g.physfn !== null && pfOf(g));
  const vfPick = (vf: InventoryFunction): Pick => {
    const pf = pfOf(vf)!;
    const index = vfIndex(pf, vf);
    if (index < 0) throw new GpuvirtError('E_NOT_FOUND', `${vf.address} is not among ${pf.address}'s VFs`, { exitCode: ExitCode.notFound });
    return { kind: 'vf', pf, vf: index, fn: vf, vfCount: vfCountFor(pf, index) };
  };
  // What --yes takes is also what Enter takes: the first cleanly isolated GPU that is not the boot
  // GPU and whose VFs (passing a PF removes them) are not in use; else the first free clean VF.
  const preferredGpu = wholes.find((g) => g.isolation === 'clean' && !g.bootVga && !hasVfs(g));
  const preferredVf = vfs.find((v) => v.isolation === 'clean' && !v.inUse && (v.driver === null || v.driver === 'vfio-pci'));
  const preferred: Pick | null = preferredGpu ? { kind: 'gpu', fn: preferredGpu } : preferredVf ? vfPick(preferredVf) : null;
  const key = (p: Pick | null) => (!p ? 'none' : p.kind === 'gpu' ? p.fn.address : p.fn ? p.fn.address : `${p.pf.address}/any`);
  const pick = async (): Promise<Pick | null> => {
    if (opts.gpu !== undefined) {
      if (opts.gpu === 'none') {
        if (opts.vf !== undefined) throw usageError('--vf needs --gpu naming an SR-IOV PF');
        return null;
      }
      const found = byAddress.get(opts.gpu) ?? byAddress.get(`0000:${opts.gpu}`);
      if (!found) throw new GpuvirtError('E_NOT_FOUND', `no GPU ${opts.gpu} on this host`, { exitCode: ExitCode.notFound, hint: 'gpuvirt doctor lists the GPUs' });
      if (found.physfn !== null) {
        if (opts.vf !== undefined) throw usageError(`--vf: ${found.address} is itself a VF; name its PF ${found.physfn} with --gpu, or leave out --vf`);
        if (!pfOf(found)) throw new GpuvirtError('E_NOT_FOUND', `${found.address} is a VF whose PF ${found.physfn} is not a GPU on this host`, { exitCode: ExitCode.notFound });
        return vfPick(found);
      }
      if (opts.vf === undefined) return { kind: 'gpu', fn: found };
      if (!found.sriov) throw usageError(`--vf: ${found.address} has no SR-IOV capability`);
      if (typeof opts.vf === 'number' && opts.vf >= found.sriov.totalVfs) throw usageError(`--vf ${opts.vf}: ${found.address} has at most ${found.sriov.totalVfs} VFs (0 to ${found.sriov.totalVfs - 1})`);
      const named = typeof opts.vf === 'number' ? byAddress.get(found.sriov.vfs[opts.vf] ?? '') ?? null : null;
      return { kind: 'vf', pf: found, vf: opts.vf, fn: named, vfCount: vfCountFor(found, opts.vf) };
    }
    if (!interactive) return preferred;
    const choices = [
      ...wholes.map((g) => ({
        value: g.address,
        name: `${g.address}  ${g.name}  [${verdict(g)}]${g.bootVga ? ' (boot GPU)' : ''}${hasVfs(g) ? ` (SR-IOV PF: passing it removes its ${g.sriov!.numVfs} VFs)` : ''}`,
      })),
      ...wholes.filter(hasVfs).map((pf) => ({ value: `${pf.address}/any`, name: `any free VF of ${pf.address}, chosen when the VM starts` })),
      ...vfs.map((v) => ({ value: v.address, name: `${v.address}  VF ${vfIndex(pfOf(v)!, v)} of ${v.physfn}  [${verdict(v)}]${v.inUse ? ' (in use)' : ''}` })),
      { value: 'none', name: 'no GPU (a virtio-gpu display)' },
    ];
    const chosen = await ctx.prompt.select('Which GPU goes to the VM?', choices, key(preferred));
    if (chosen.endsWith('/any')) {
      const pf = byAddress.get(chosen.slice(0, -4))!;
      return { kind: 'vf', pf, vf: 'any', fn: null, vfCount: vfCountFor(pf, 'any') };
    }
    const f = byAddress.get(chosen);
    return !f ? null : f.physfn !== null ? vfPick(f) : { kind: 'gpu', fn: f };
  };
  const gpu = await pick();
  // A display-class GPU is the VM's screen unless told otherwise, asked or not.
  const shown = gpu === null ? null : gpu.kind === 'gpu' ? gpu.fn : (gpu.fn ?? gpu.pf);
  const display = shown?.classId.startsWith('03') ?? false;
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
    'the first cleanly isolated GPU that is not the boot GPU is taken (one whose SR-IOV VFs exist',
    'is skipped: passing a PF removes its VFs), else the first free, cleanly isolated VF.',
    'An SR-IOV VF is written as a `type: vf` device: name the VF with --gpu, or its PF with --gpu',
    'and --vf N or --vf any (the first free VF when the VM starts).',
  ].join('\n'),
  linuxOnly: true,
  options: [
    { flags: '--out <file>', help: 'write the profile here (default: stdout)' },
    { flags: '--force', help: 'replace an existing --out file' },
    { flags: '--name <name>', help: 'VM name' },
    { flags: '--gpu <address>', help: 'the GPU or SR-IOV VF to pass (or "none")' },
    { flags: '--vf <n|any>', help: 'with --gpu naming an SR-IOV PF: pass its VF n, or any free VF' },
    { flags: '--memory <size>', help: 'memory, e.g. 16GiB' },
    { flags: '--cores <n>', help: 'vCPU cores' },
    { flags: '--firmware <fw>', help: 'uefi or bios' },
    { flags: '--primary', help: 'the GPU is the VM\'s screen' },
    { flags: '--no-primary', help: 'the GPU is not the VM\'s screen' },
    { flags: '--vmid <id>', help: 'Proxmox VM id (targets.proxmox.vmid)' },
    { flags: '--node <name>', help: 'Proxmox node, for a PCI mapping (targets.proxmox.node; needs --vmid)' },
    { flags: '-y, --yes', help: 'ask nothing: defaults for every answer not given' },
  ],
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
    const vfText = opts.vf as string | undefined;
    if (vfText !== undefined && vfText !== 'any' && !/^(0|[1-9][0-9]{0,2})$/.test(vfText)) throw usageError(`--vf ${vfText}: a VF index (0, 1, ...) or "any"`);
    if (vfText !== undefined && opts.gpu === undefined) throw usageError('--vf needs --gpu naming an SR-IOV PF');
    return {
      out: typeof opts.out === 'string' && opts.out !== '-' ? opts.out : null, force: Boolean(opts.force),
      name: opts.name as string | undefined, gpu: opts.gpu as string | undefined, memory: opts.memory as string | undefined, cores: cores === undefined ? undefined : Number(cores),
      firmware: fw as InitOptions['firmware'], primary: opts.primary as boolean | undefined, yes: Boolean(opts.yes),
      vf: vfText === undefined ? undefined : vfText === 'any' ? 'any' : Number(vfText),
      vmid: vmid === undefined ? undefined : Number(vmid), node: opts.node as string | undefined,
    };
  },
  async run(opts, ctx) {
    const [{ readInventory }, { loadProfileText }, { formatProblems }] = await Promise.all([
      import('../profiles/inventory.js'), import('../profiles/load.js'), import('../profiles/problems.js'),
    ]);
    if (opts.out && fs.existsSync(opts.out) && !opts.force) throw usageError(`${opts.out} exists`, 'pass --force to replace it');
    // Whole GPUs and the VFs of GPU PFs: a VF is offered as a VF (a `type: vf` device), never as a GPU.
    const gpus = readInventory(ctx.host, ctx.names).functions.filter((f) => f.classId.startsWith('03') || f.classId.startsWith('12'));
    const answers = await ask(ctx, opts, gpus);
    const text = profileText(answers);
    const check = await loadProfileText(text);
    if (!check.profile) throw usageError(`the answers do not make a valid profile:\n${formatProblems('profile', text, check.problems)}`);
    if (opts.out) writeOutFile(opts.out, text);
    const g = answers.gpu;
    const warnings: string[] = [];
    const judged = g === null ? null : g.kind === 'gpu' ? g.fn : (g.fn ?? g.pf);
    if (g?.kind === 'vf' && g.fn === null && g.vf === 'any') {
      const bad = (g.pf.sriov?.vfs ?? []).map((a) => gpus.find((f) => f.address === a)).filter((v) => v && v.isolation !== 'clean');
      if (bad.length) warnings.push(`${bad.length} of ${g.pf.address}'s VFs are not cleanly isolated: ${bad.map((v) => v!.address).join(', ')}`);
    } else if (judged && judged.isolation !== 'clean') warnings.push(`${judged.address} is not cleanly isolated: ${verdict(judged)}`);
    if (g?.kind === 'gpu' && hasVfs(g.fn)) warnings.push(`${g.fn.address} is an SR-IOV PF with ${g.fn.sriov!.numVfs} VFs: passing it through removes them (gpuvirt passthrough refuses while they exist; pass a VF with --gpu <VF> or --vf)`);
    if (g?.kind === 'vf' && g.fn?.inUse) warnings.push(`${g.fn.address} is in use now (a running VM holds it)`);
    if (g?.kind === 'vf' && g.vfCount !== (g.pf.sriov?.numVfs ?? 0)) {
      warnings.push(`${g.pf.address} has ${g.pf.sriov?.numVfs ?? 0} VFs now: the profile asks for ${g.vfCount}${g.fn === null && typeof g.vf === 'number' ? ` (VF ${g.vf} does not exist yet)` : ''}, which gpuvirt apply sets`);
    }
    if (!g && opts.gpu === undefined) warnings.push('no cleanly isolated GPU or free VF other than the boot GPU: the profile passes none (name one with --gpu)');
    const device: InitData['device'] = g === null ? null
      : g.kind === 'gpu' ? { address: g.fn.address, name: g.fn.name, isolation: verdict(g.fn), kind: 'gpu', pf: null, vf: null }
      : { address: (g.fn ?? g.pf).address, name: (g.fn ?? g.pf).name, isolation: verdict(g.fn ?? g.pf), kind: 'vf', pf: g.pf.address, vf: g.vf };
    return { ok: true, data: { out: opts.out, profile: text, device }, warnings };
  },
  render: (d: InitData, _s: Style) => (d.out ? `wrote ${d.out}${d.device ? ` (${d.device.address}, ${d.device.isolation})` : ''}\n` : d.profile),
};
