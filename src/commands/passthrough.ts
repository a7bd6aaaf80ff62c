import type { CommandDef } from './command.js';
import type { Ctx } from '../context.js';
import { ExitCode, usageError } from '../errors.js';
import { paths } from '../host/paths.js';
import type { Style } from '../output.js';
import { parseAddress } from '../pci/address.js';
import { readUsage } from '../detect/usage.js';
import { applyEnvFor, applySteps, type ApplyReport } from '../mutate/apply.js';
import { acquireLock } from '../mutate/lock.js';
import { confirmChange, requireRoot } from '../mutate/guard.js';
import { stepJson, type Step } from '../mutate/steps.js';
import { blocking, preflight, type Refusal } from '../passthrough/preflight.js';
import { planBind } from '../passthrough/plan.js';
import { resolveSet, type Member } from '../passthrough/resolve.js';
import { planRestoreFromLive, runBestEffort, wantedFromState } from '../passthrough/restore.js';
import { renderChange, type ChangeView } from '../passthrough/render.js';
import { detectInitramfs } from '../boot/initramfs.js';
import { planPersist } from '../passthrough/persist.js';
import {
  assertNotInterrupted, persistedDevices, readState, writeState, type GpuvirtState, type ManagedDevice, type PassthroughDriver,
} from '../state.js';

export interface PassthroughOptions {
  addresses: string[];
  driver: PassthroughDriver;
  dryRun: boolean;
  yes: boolean;
  force: boolean;
  persist: boolean;
}

export interface PassthroughData extends ChangeView {
  target: PassthroughDriver;
  bridges: string[];
  refusals: Refusal[];
}

function deviceView(m: Member, ctx: Ctx) {
  return { address: m.address, reason: m.reason, classId: m.classId, name: ctx.names.name(m.vendorId, m.deviceId), driver: m.driver, iommuGroup: m.iommuGroup };
}

/** State entries for the set: new ones start `applying`; devices gpuvirt already manages keep their record. */
function entriesFor(members: readonly Member[], target: PassthroughDriver, persist: boolean, state: GpuvirtState): ManagedDevice[] {
  const set = members.map((m) => m.address);
  const since = new Date().toISOString();
  const out: ManagedDevice[] = [];
  for (const m of members) {
    const known = state.devices[m.address];
    if (known) {
      out.push({ ...known, target, set, persisted: known.persisted || persist, status: 'applying' });
    } else if (m.driver !== target || persist) {
      const already = m.driver === target;
      out.push({
        address: m.address, target, originalDriver: already ? null : m.driver, originalModule: already ? null : m.driverModule,
        originalOverride: already ? null : m.driverOverride, originalKnown: !already, set, persisted: persist, status: 'applying', since,
      });
    }
  }
  return out;
}

function persistSteps(ctx: Ctx, state: GpuvirtState, entries: readonly ManagedDevice[]): Step[] {
  const byAddress = new Map(persistedDevices(state).map((d) => [d.address, d]));
  for (const e of entries) if (e.persisted) byAddress.set(e.address, e);
  return planPersist(ctx.host, [...byAddress.values()], detectInitramfs(ctx.host));
}

async function apply(ctx: Ctx, steps: Step[], entries: ManagedDevice[]): Promise<ApplyReport> {
  const { host, exec } = ctx;
  const unlock = acquireLock(host, 'passthrough');
  try {
    const state = readState(host);
    assertNotInterrupted(state);
    const before = new Map(entries.map((e) => [e.address, state.devices[e.address]]));
    for (const e of entries) state.devices[e.address] = e;
    writeState(host, state);
    const report = await applySteps(steps, applyEnvFor(ctx), () =>
      runBestEffort(host, exec, planRestoreFromLive(host, entries.map(wantedFromState))),
    );
    const after = readState(host);
    for (const e of entries) {
      const previous = before.get(e.address);
      if (report.ok) after.devices[e.address] = { ...e, status: 'bound' };
      // A failed rollback keeps the entry 'applying', so `release --all` can finish the job.
      else if (report.rollback?.ok) {
        if (previous) after.devices[e.address] = previous;
        else delete after.devices[e.address];
      }
    }
    writeState(host, after);
    return report;
  } finally {
    unlock();
  }
}

export const passthrough: CommandDef<PassthroughOptions, PassthroughData> = {
  name: 'passthrough',
  summary: 'bind devices (with their slot and IOMMU group) to vfio-pci or pci-stub, safely',
  help: [
    'Takes the named devices, every other function of their slots (a GPU\'s HDMI audio, USB-C),',
    'and checks the rest of their IOMMU group. Refuses what would hurt the host (a shared group,',
    'the boot GPU in use, the root disk, the default-route NIC, devices held open), shows the',
    'plan, asks, applies it step by step, verifies each device, and undoes everything on failure.',
    'Undo with `gpuvirt release`.',
  ].join('\n'),
  linuxOnly: true,
  configure(cmd) {
    cmd
      .argument('<address...>', 'PCI addresses, e.g. 0b:00.0 or 0000:0b:00.0')
      .option('--driver <name>', 'vfio-pci or pci-stub', 'vfio-pci')
      .option('--dry-run', 'print the plan and change nothing')
      .option('-y, --yes', 'apply without asking')
      .option('--force', 'take refused devices anyway (each refusal says what this does)')
      .option('--persist', 'keep the binding across reboots (per device address)');
  },
  parse(args, opts) {
    const driver = String(opts.driver);
    if (driver !== 'vfio-pci' && driver !== 'pci-stub') throw usageError(`--driver ${driver}: must be vfio-pci or pci-stub`);
    const addresses = [...new Set(args.map((a) => parseAddress(a).full))];
    return { addresses, driver, dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes), force: Boolean(opts.force), persist: Boolean(opts.persist) };
  },
  async run(opts, ctx) {
    if (!opts.dryRun) requireRoot(ctx, 'passthrough');
    const state = readState(ctx.host);
    assertNotInterrupted(state);
    const set = resolveSet(ctx.host, opts.addresses);
    const usage = readUsage(ctx.host, [...set.members, ...set.groupPeers].map((m) => m.address));
    const { refusals, forcedPeers } = preflight({ set, usage, target: opts.driver }, opts.force);
    const members = [...set.members, ...forcedPeers];
    const entries = entriesFor(members, opts.driver, opts.persist, state);
    const steps = planBind(members, opts.driver, ctx.host.exists(paths.pciDriver(opts.driver)));
    if (opts.persist) steps.push(...persistSteps(ctx, state, entries));
    const data: PassthroughData = {
      action: 'passthrough', target: opts.driver, dryRun: opts.dryRun, devices: members.map((m) => deviceView(m, ctx)),
      bridges: set.bridges, refusals, steps: steps.map(stepJson), applied: null, noop: steps.length === 0,
    };
    data.blocked = blocking(refusals, opts.force).length > 0;
    if (data.blocked) return { ok: false, data, warnings: [], exitCode: ExitCode.refused };
    const warnings = opts.force ? refusals.map((r) => `forced: ${r.message}`) : [];
    if (opts.persist && detectInitramfs(ctx.host).kind === 'none') {
      warnings.push('no initramfs generator found: a host driver loaded from an initramfs could still claim the device at boot');
    }
    if (!steps.length || opts.dryRun) return { ok: true, data, warnings };
    await confirmChange(ctx, opts.yes, `Bind ${members.length} device(s) to ${opts.driver}?`);
    data.applied = await apply(ctx, steps, entries);
    return { ok: data.applied.ok, data, warnings };
  },
  render: (d, s: Style) => renderChange(d, s),
};
