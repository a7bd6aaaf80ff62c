// `gpuvirt vgpu mig enable|disable|create|destroy <gpu>`: NVIDIA MIG mode and GPU instances as
// changes through the engine (src/vgpu/mig.ts); nvidia-smi does the work, through the exec seam.
import type { CommandDef } from '../command.js';
import { usageError } from '../../errors.js';
import type { Style } from '../../output.js';
import { runChange } from '../../change/engine.js';
import { renderChangeText } from '../../change/render.js';
import type { ChangeResult } from '../../change/types.js';
import { planMigCreate, planMigDestroy, planMigMode, readMigState, settleMig, type MigView } from '../../vgpu/mig.js';

export type MigChangeData = ChangeResult<MigView>;

const ACTIONS = ['enable', 'disable', 'create', 'destroy'] as const;

interface MigOptions {
  action: (typeof ACTIONS)[number];
  gpu: string;
  profiles: string[];
  gpuInstances: number[];
  dryRun: boolean;
  yes: boolean;
  force: boolean;
}

export function renderMigChange(d: MigChangeData, s: Style): string {
  const gis = d.gpuInstances.map((g) => g.id).join(', ') || 'none';
  const head = [s.bold(`${d.gpu}: MIG ${d.current}${d.pending !== d.current ? ` (pending: ${d.pending})` : ''} · GPU instances ${gis}`)];
  if (d.action === 'create') head.push(`  create: ${d.profiles.map((p) => `${p.name} (${p.id})`).join(', ')}`);
  if (d.action === 'destroy') head.push(`  destroy: ${d.destroy.map((id, i) => `GPU instance ${id}${d.profiles[i]?.name ? ` (${d.profiles[i]!.name})` : ''}`).join(', ')}`);
  for (const h of d.holders) head.push(s.dim(`  held by ${h.comm} (pid ${h.pid}) through ${h.file}`));
  const want = d.action === 'enable' ? 'Enabled' : 'Disabled';
  let text = renderChangeText(d, s, head, `Nothing to do: MIG is already ${want} on ${d.gpu}.`);
  if (d.applied?.ok && d.after) {
    text += `${d.gpu}: MIG ${d.after.current}${d.after.pending !== d.after.current ? `, pending ${d.after.pending}` : ''} · GPU instances ${d.after.gpuInstances.join(', ') || 'none'}\n`;
    if (d.pendingReset) text += s.yellow(`MIG ${d.after.pending} is pending: it takes effect when the GPU is reset (reboot, or once nothing holds it)\n`);
  }
  return text;
}

export const vgpuMig: CommandDef<MigOptions, MigChangeData> = {
  name: 'vgpu mig',
  summary: 'manage NVIDIA MIG: its mode (enable, disable) and GPU instances (create, destroy), through nvidia-smi',
  help: [
    'enable|disable <gpu> sets MIG mode (nvidia-smi -i BUS -mig 1|0). It is pending until the GPU resets, which the driver does at once only when nothing holds the GPU.',
    'create <gpu> --profile P,... makes GPU instances of these profiles (names or ids), each with its compute instance. destroy <gpu> --gpu-instance N,... destroys those instances and their compute instances.',
    'Each run asks nvidia-smi again to verify, and is undone on failure.',
  ].join('\n\n'),
  linuxOnly: true,
  args: [
    { name: '<action>', help: ACTIONS.join('|') },
    { name: '<gpu>', help: 'the GPU (PCI address)' },
  ],
  options: [
    { flags: '--profile <profiles>', help: 'create: GPU instance profiles, e.g. 1g.10gb,3g.40gb or 19,9; destroy: each instance\'s profile, for the undo' },
    { flags: '--gpu-instance <ids>', help: 'destroy: GPU instance ids, e.g. 5,13' },
    { flags: '--dry-run', help: 'print the plan and change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
    { flags: '--force', help: 'enable|disable: set the mode though the GPU is in use (it stays pending); destroy: without a known profile' },
  ],
  parse(args, opts) {
    const action = args[0] as MigOptions['action'];
    if (!ACTIONS.includes(action)) throw usageError(`${JSON.stringify(args[0])}: not a MIG action`, `one of ${ACTIONS.join(', ')}`);
    const list = (v: unknown) => (v === undefined ? [] : String(v).split(',').map((x) => x.trim()).filter(Boolean));
    const profiles = list(opts.profile);
    if (profiles.some((p) => !/^[0-9]+$|^\d+g\.\d+gb(\+me)?$/.test(p))) throw usageError(`--profile ${String(opts.profile)}: profile names such as 1g.10gb, or profile ids`);
    const gis = list(opts.gpuInstance);
    if (gis.some((g) => !/^\d{1,4}$/.test(g))) throw usageError(`--gpu-instance ${String(opts.gpuInstance)}: GPU instance ids such as 5,13`);
    if (action === 'create' && !profiles.length) throw usageError('create needs --profile', 'e.g. --profile 1g.10gb,3g.40gb (`gpuvirt vgpu status GPU` lists the board\'s profiles)');
    if (action === 'destroy' && !gis.length) throw usageError('destroy needs --gpu-instance', '`gpuvirt vgpu status GPU` lists the GPU instances');
    if ((action === 'enable' || action === 'disable') && (profiles.length || gis.length)) throw usageError(`${action} takes no --profile or --gpu-instance`);
    if (action === 'create' && gis.length) throw usageError('create takes no --gpu-instance: nvidia-smi numbers new instances itself');
    return { action, gpu: String(args[1]), profiles, gpuInstances: [...new Set(gis.map(Number))], dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes), force: Boolean(opts.force) };
  },
  async run(opts, ctx) {
    const outcome = await runChange(ctx, 'vgpu mig', opts, async () => {
      const s = await readMigState(ctx, opts.gpu);
      if (opts.action === 'create') return planMigCreate(ctx, s, opts.profiles);
      if (opts.action === 'destroy') return planMigDestroy(ctx, s, opts.gpuInstances, opts.profiles);
      return planMigMode(ctx, s, opts.action === 'enable');
    }, async (d) => renderMigChange(d, await ctx.style()));
    if (outcome.data.applied) await settleMig(ctx, outcome.data);
    if (outcome.data.pendingReset) outcome.warnings.push(`MIG ${outcome.data.after?.pending} on ${outcome.data.gpu} is pending until the GPU is reset (reboot, or once nothing holds it)`);
    return outcome;
  },
  render: (d, s) => renderMigChange(d, s),
};
