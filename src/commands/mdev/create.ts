import { randomUUID } from 'node:crypto';
import type { CommandDef } from '../command.js';
import type { Ctx } from '../../context.js';
import { ExitCode, GpuvirtError, usageError } from '../../errors.js';
import { paths } from '../../host/paths.js';
import type { Style } from '../../output.js';
import { parseAddress } from '../../pci/address.js';
import { applyEnvFor, applySteps, type ApplyReport } from '../../mutate/apply.js';
import { confirmChange, requireRoot } from '../../mutate/guard.js';
import { acquireLock } from '../../mutate/lock.js';
import { stepJson, type Step, type StepJson, renderSteps } from '../../mutate/steps.js';
import { runBestEffort } from '../../passthrough/restore.js';
import { readMdevTypes } from './types.js';

// Mediated devices (vfio-mediated-device.rst): writing a UUID to a type's `create` makes
// /sys/bus/mdev/devices/<uuid>; writing 1 to its `remove` destroys it.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface MdevChangeData {
  action: 'create' | 'remove';
  uuid: string;
  parent: string | null;
  type: string | null;
  dryRun: boolean;
  steps: StepJson[];
  applied: ApplyReport | null;
}

const removeStep = (uuid: string): Step => ({ kind: 'write', path: `${paths.mdevDevices}/${uuid}/remove`, value: '1', title: `remove mediated device ${uuid}` });

/** `undo` is decided at rollback time, from what exists then. */
async function apply(ctx: Ctx, steps: Step[], undo: () => Step[]): Promise<ApplyReport> {
  const unlock = acquireLock(ctx.host, 'mdev');
  try {
    return await applySteps(steps, applyEnvFor(ctx), () => runBestEffort(ctx.host, ctx.exec, undo()));
  } finally {
    unlock();
  }
}

export function renderMdevChange(d: MdevChangeData, s: Style): string {
  const out = [s.bold(d.action === 'create' ? `Mediated device ${d.uuid} (${d.type} on ${d.parent})` : `Remove mediated device ${d.uuid}`)];
  if (!d.applied) {
    out.push(s.bold(d.dryRun ? 'Plan (dry run, nothing changed):' : 'Plan:'));
    out.push(...renderSteps(d.steps, s.dim));
  } else if (d.applied.ok) out.push(s.green(d.action === 'create' ? `Created: pass it to a VM as /sys/bus/mdev/devices/${d.uuid}` : 'Removed.'));
  else out.push(s.red(`Failed: ${d.applied.steps.find((x) => x.status === 'failed')?.error ?? ''}`), d.applied.rollback?.ok ? 'Nothing was left behind.' : s.red('Rollback incomplete.'));
  return `${out.join('\n')}\n`;
}

export const mdevCreate: CommandDef<{ parent: string; type: string; uuid: string; dryRun: boolean; yes: boolean }, MdevChangeData> = {
  name: 'mdev create',
  summary: 'create a mediated device (GVT-g, vGPU) of a type on a parent',
  linuxOnly: true,
  configure(cmd) {
    cmd.argument('<parent>', 'parent device address').argument('<type>', 'type id, e.g. i915-GVTg_V5_4 or nvidia-222')
      .option('--uuid <uuid>', 'the new device\'s UUID (default: a random one)')
      .option('--dry-run', 'print the plan and change nothing')
      .option('-y, --yes', 'apply without asking');
  },
  parse(args, opts) {
    const uuid = opts.uuid === undefined ? randomUUID() : String(opts.uuid).toLowerCase();
    if (!UUID.test(uuid)) throw usageError(`--uuid ${String(opts.uuid)}: not a UUID`);
    if (!/^[A-Za-z0-9_.-]+$/.test(args[1] ?? '')) throw usageError(`not a mediated device type: ${JSON.stringify(args[1])}`);
    return { parent: parseAddress(args[0]!).full, type: args[1]!, uuid, dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes) };
  },
  async run(opts, ctx) {
    if (!opts.dryRun) requireRoot(ctx, 'mdev create');
    const type = readMdevTypes(ctx.host, opts.parent).find((t) => t.id === opts.type);
    if (!type) {
      throw new GpuvirtError('E_NO_MDEV_TYPE', `${opts.parent} offers no mediated device type ${opts.type}`, { exitCode: ExitCode.unsupported, hint: `\`gpuvirt mdev types ${opts.parent}\` lists what it offers` });
    }
    if (type.availableInstances === 0) {
      throw new GpuvirtError('E_MDEV_FULL', `${opts.type} on ${opts.parent} has no instances left`, { exitCode: ExitCode.busy, hint: 'remove an instance first, or pick another type' });
    }
    const steps: Step[] = [
      { kind: 'write', path: `${paths.mdevBus}/${opts.parent}/mdev_supported_types/${opts.type}/create`, value: opts.uuid, title: `create ${opts.type} instance ${opts.uuid}` },
      { kind: 'verify-exists', path: `${paths.mdevDevices}/${opts.uuid}`, title: `${opts.uuid} exists` },
    ];
    const data: MdevChangeData = { action: 'create', uuid: opts.uuid, parent: opts.parent, type: opts.type, dryRun: opts.dryRun, steps: steps.map(stepJson), applied: null };
    if (opts.dryRun) return { ok: true, data, warnings: [] };
    await confirmChange(ctx, opts.yes, `Create ${opts.type} on ${opts.parent}?`);
    const dev = `${paths.mdevDevices}/${opts.uuid}`;
    data.applied = await apply(ctx, steps, () => (ctx.host.exists(dev) ? [removeStep(opts.uuid)] : []));
    return { ok: data.applied.ok, data, warnings: [] };
  },
  render: (d, s) => renderMdevChange(d, s),
};

export const mdevRemove: CommandDef<{ uuid: string; dryRun: boolean; yes: boolean }, MdevChangeData> = {
  name: 'mdev remove',
  summary: 'remove a mediated device',
  linuxOnly: true,
  configure(cmd) {
    cmd.argument('<uuid>', 'the device\'s UUID').option('--dry-run', 'print the plan and change nothing').option('-y, --yes', 'apply without asking');
  },
  parse(args, opts) {
    const uuid = String(args[0]).toLowerCase();
    if (!UUID.test(uuid)) throw usageError(`not a UUID: ${JSON.stringify(args[0])}`);
    return { uuid, dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes) };
  },
  async run(opts, ctx) {
    if (!opts.dryRun) requireRoot(ctx, 'mdev remove');
    const dev = `${paths.mdevDevices}/${opts.uuid}`;
    if (!ctx.host.exists(dev)) throw new GpuvirtError('E_NOT_FOUND', `no mediated device ${opts.uuid}`, { exitCode: ExitCode.notFound });
    const typeLink = ctx.host.readLink(`${dev}/mdev_type`) ?? '';
    const type = typeLink.split('/').pop() ?? null;
    const parent = typeLink.split('/').find((p) => parseAddressSafe(p)) ?? null;
    const steps: Step[] = [removeStep(opts.uuid), { kind: 'verify-not-exists', path: dev, title: `${opts.uuid} is gone` }];
    const data: MdevChangeData = { action: 'remove', uuid: opts.uuid, parent, type, dryRun: opts.dryRun, steps: steps.map(stepJson), applied: null };
    if (opts.dryRun) return { ok: true, data, warnings: [] };
    await confirmChange(ctx, opts.yes, `Remove ${opts.uuid}?`);
    // Re-creating the same UUID of the same type is the way back if removal half-fails.
    const recreate: Step[] = parent && type ? [{ kind: 'write', path: `${paths.mdevBus}/${parent}/mdev_supported_types/${type}/create`, value: opts.uuid, title: `re-create ${opts.uuid}` }] : [];
    data.applied = await apply(ctx, steps, () => (ctx.host.exists(dev) ? [] : recreate));
    return { ok: data.applied.ok, data, warnings: [] };
  },
  render: (d, s) => renderMdevChange(d, s),
};

function parseAddressSafe(text: string): boolean {
  return /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(text);
}
