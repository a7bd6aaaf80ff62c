import { randomUUID } from 'node:crypto';
import type { CommandDef } from '../command.js';
import { usageError } from '../../errors.js';
import type { Style } from '../../output.js';
import { parseAddress } from '../../pci/address.js';
import { runChange } from '../../change/engine.js';
import { renderChangeText } from '../../change/render.js';
import type { ChangeResult } from '../../change/types.js';
import { planMdevCreate, planMdevRemove, type MdevView } from '../../mdev/change.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type MdevChangeData = ChangeResult<MdevView>;

export function renderMdevChange(d: MdevChangeData, s: Style): string {
  const head = [s.bold(d.action === 'create' ? `Mediated device ${d.uuid} (${d.type} on ${d.parent})` : `Remove mediated device ${d.uuid}${d.type ? ` (${d.type} on ${d.parent})` : ''}`)];
  let text = renderChangeText(d, s, head, 'Nothing to do.');
  if (d.applied?.ok && d.action === 'create') text += `Pass it to a VM as /sys/bus/mdev/devices/${d.uuid}\n`;
  return text;
}

interface CreateOptions {
  parent: string;
  type: string;
  uuid: string;
  persist: boolean;
  dryRun: boolean;
  yes: boolean;
}

export const mdevCreate: CommandDef<CreateOptions, MdevChangeData> = {
  name: 'mdev create',
  summary: 'create a mediated device (GVT-g, vGPU) of a type on a parent',
  linuxOnly: true,
  args: [
    { name: '<parent>', help: 'parent device address' },
    { name: '<type>', help: 'type id, e.g. i915-GVTg_V5_4 or nvidia-222' },
  ],
  options: [
    { flags: '--uuid <uuid>', help: 'the new device\'s UUID (default: a random one)' },
    { flags: '--persist', help: 'also define it with mdevctl, so it is created again at every boot' },
    { flags: '--dry-run', help: 'print the plan and change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
  ],
  parse(args, opts) {
    const uuid = opts.uuid === undefined ? randomUUID() : String(opts.uuid).toLowerCase();
    if (!UUID.test(uuid)) throw usageError(`--uuid ${String(opts.uuid)}: not a UUID`);
    if (!/^[A-Za-z0-9_.-]+$/.test(args[1] ?? '')) throw usageError(`not a mediated device type: ${JSON.stringify(args[1])}`);
    return { parent: parseAddress(args[0]!).full, type: args[1]!, uuid, persist: Boolean(opts.persist), dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes) };
  },
  run: (opts, ctx) => runChange(ctx, 'mdev create', { ...opts, force: false }, async () => planMdevCreate(ctx.host, opts.parent, opts.type, opts.uuid, opts.persist, { command: 'mdev create', profile: null, since: (ctx.clock?.() ?? new Date()).toISOString() }),
    async (d) => renderMdevChange(d, await ctx.style())),
  render: (d, s) => renderMdevChange(d, s),
};

export const mdevRemove: CommandDef<{ uuid: string; dryRun: boolean; yes: boolean }, MdevChangeData> = {
  name: 'mdev remove',
  summary: 'remove a mediated device, and its mdevctl definition',
  linuxOnly: true,
  args: [
    { name: '<uuid>', help: 'the device\'s UUID' },
  ],
  options: [
    { flags: '--dry-run', help: 'print the plan and change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
  ],
  parse(args, opts) {
    const uuid = String(args[0]).toLowerCase();
    if (!UUID.test(uuid)) throw usageError(`not a UUID: ${JSON.stringify(args[0])}`);
    return { uuid, dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes) };
  },
  run: (opts, ctx) => runChange(ctx, 'mdev remove', { ...opts, force: false }, async () => planMdevRemove(ctx.host, opts.uuid),
    async (d) => renderMdevChange(d, await ctx.style())),
  render: (d, s) => renderMdevChange(d, s),
};
