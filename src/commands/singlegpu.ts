import type { CommandDef } from './command.js';
import { usageError } from '../errors.js';
import type { Style } from '../output.js';
import { parseAddress } from '../pci/address.js';
import { runChange } from '../change/engine.js';
import { renderChangeText } from '../change/render.js';
import type { ChangeResult } from '../change/types.js';
import { planSingleGpu, planSingleGpuUndo, type SingleGpuView } from '../singlegpu/change.js';

export interface SingleGpuOptions {
  vm: string;
  gpu: string | null;
  undo: boolean;
  dryRun: boolean;
  yes: boolean;
  force: boolean;
}

export type SingleGpuData = ChangeResult<SingleGpuView>;

export function renderSingleGpu(d: SingleGpuData, s: Style): string {
  const head = [s.bold(d.action === 'undo' ? `Remove the single-GPU hook of ${d.vm}` : `Single-GPU passthrough for the libvirt VM ${d.vm}: ${d.hook}`)];
  for (const p of d.preflight) head.push(`  ${p}`);
  // The dry run shows the hook exactly as it will be written.
  if (d.script && !d.applied) head.push('', ...d.script.trimEnd().split('\n').map((l) => s.dim(l)));
  let text = renderChangeText(d, s, head, 'Nothing to do: the hook is already as it would be written.');
  if (d.applied?.ok && d.action === 'install') text += `Start ${d.vm} with \`virsh start ${d.vm}\`: the desktop stops, and comes back when the VM shuts down. \`journalctl -t gpuvirt-singlegpu\` shows each step.\n`;
  return text;
}

export const singleGpu: CommandDef<SingleGpuOptions, SingleGpuData> = {
  name: 'singlegpu',
  summary: 'give the host\'s only GPU to a libvirt VM and the desktop back after it (installs a libvirt hook)',
  help: [
    'Writes /etc/libvirt/hooks/qemu.d/gpuvirt-singlegpu-<vm> (libvirt 6.5+ runs it at every VM start',
    'and stop). At prepare/begin it stops the display manager, unbinds the frame buffer consoles and the',
    'firmware framebuffer and moves every function of the GPU\'s slot to vfio-pci; at release/end, or when a',
    'hand-over step fails, it reverses all of it. Each step goes to the journal (logger -t gpuvirt-singlegpu).',
    '`--undo` removes the hook.',
  ].join('\n'),
  linuxOnly: true,
  args: [
    { name: '<vm>', help: 'the libvirt domain name' },
    { name: '[gpu]', help: 'the GPU address (any function of its slot)' },
  ],
  options: [
    { flags: '--undo', help: 'remove the hook of this VM' },
    { flags: '--dry-run', help: 'print the preflight and the hook exactly as it would be written, change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
    { flags: '--force', help: 'install even when the GPU may not come back (no working reset)' },
  ],
  parse(args, opts) {
    const undo = Boolean(opts.undo);
    if (undo && args[1] !== undefined) throw usageError('--undo takes only the VM name');
    if (!undo && args[1] === undefined) throw usageError('name the GPU: gpuvirt singlegpu <vm> <gpu>');
    const gpu = args[1] === undefined ? null : parseAddress(args[1]).full;
    return { vm: String(args[0]), gpu: gpu && `${gpu.slice(0, -1)}0`, undo, dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes), force: Boolean(opts.force) };
  },
  run: (opts, ctx) => runChange(ctx, 'singlegpu', opts, async () => (opts.undo ? planSingleGpuUndo(ctx.host, opts.vm) : planSingleGpu(ctx.host, opts.vm, opts.gpu!)),
    async (d) => renderSingleGpu(d, await ctx.style())),
  render: (d, s) => renderSingleGpu(d, s),
};
