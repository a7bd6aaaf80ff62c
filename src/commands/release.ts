import type { CommandDef } from './command.js';
import type { Ctx } from '../context.js';
import { usageError } from '../errors.js';
import type { Style } from '../output.js';
import { paths } from '../host/paths.js';
import { parseAddress } from '../pci/address.js';
import { readFunction } from '../detect/pci.js';
import { applyEnvFor, applySteps, type ApplyReport } from '../mutate/apply.js';
import { acquireLock } from '../mutate/lock.js';
import { confirmChange, requireRoot } from '../mutate/guard.js';
import { stepJson, type Step } from '../mutate/steps.js';
import { planBind } from '../passthrough/plan.js';
import { assertDevicesExist, readMember } from '../passthrough/resolve.js';
import { liveDevices, loadedDrivers, planRestoreFromLive, restoreTargets, runBestEffort, wantedFromState, type Wanted } from '../passthrough/restore.js';
import { renderChange, type ChangeView } from '../passthrough/render.js';
import { persistedDevices, readState, writeState, type GpuvirtState } from '../state.js';
import { detectInitramfs } from '../boot/initramfs.js';
import { planPersist } from '../passthrough/persist.js';

export interface ReleaseOptions {
  addresses: string[];
  all: boolean;
  persist: boolean;
  dryRun: boolean;
  yes: boolean;
}

export type ReleaseData = ChangeView;

const PASSTHROUGH_DRIVERS = new Set(['vfio-pci', 'pci-stub']);

/** What to restore: recorded devices with their whole recorded set, others back to the kernel's default. */
export function releaseTargets(ctx: Ctx, state: GpuvirtState, opts: ReleaseOptions): Wanted[] {
  const recorded = Object.values(state.devices);
  if (opts.all) return recorded.map(wantedFromState);
  assertDevicesExist(ctx.host, opts.addresses);
  const wanted = new Map<string, Wanted>();
  for (const addr of opts.addresses) {
    const sets = recorded.filter((d) => d.address === addr || d.set.includes(addr));
    for (const d of recorded) if (sets.some((s) => s.set.includes(d.address) || s.address === d.address)) wanted.set(d.address, wantedFromState(d));
    if (!wanted.has(addr)) {
      const m = readMember(ctx.host, addr, 'requested');
      if ((m.driver && PASSTHROUGH_DRIVERS.has(m.driver)) || (m.driverOverride && PASSTHROUGH_DRIVERS.has(m.driverOverride))) {
        wanted.set(addr, { address: addr, want: 'default', wantOverride: null, wantModule: null });
      }
    }
  }
  return [...wanted.values()];
}

async function apply(ctx: Ctx, steps: Step[], wanted: Wanted[], keepPersisted: boolean): Promise<ApplyReport> {
  const { host, exec } = ctx;
  const unlock = acquireLock(host, 'release');
  try {
    // Going back on failure means: whatever was on a passthrough driver returns to it.
    const before = restoreTargets(host, wanted).filter((d) => d.driver && PASSTHROUGH_DRIVERS.has(d.driver));
    const rebind = async () => {
      const steps = [...PASSTHROUGH_DRIVERS].flatMap((drv) =>
        planBind(liveDevices(host, before.filter((b) => b.driver === drv).map((b) => b.address)), drv as 'vfio-pci' | 'pci-stub', loadedDrivers(host).has(drv)));
      return runBestEffort(host, exec, steps);
    };
    const report = await applySteps(steps, applyEnvFor(ctx), rebind);
    if (report.ok) {
      const state = readState(host);
      for (const w of wanted) {
        const known = state.devices[w.address];
        // Without --persist a persisted device stays recorded: the next boot takes it again.
        if (known?.persisted && keepPersisted) state.devices[w.address] = { ...known, status: 'released' };
        else delete state.devices[w.address];
      }
      writeState(host, state);
    }
    return report;
  } finally {
    unlock();
  }
}

export const release: CommandDef<ReleaseOptions, ReleaseData> = {
  name: 'release',
  summary: 'give devices taken by passthrough back to their original drivers',
  help: [
    'Returns devices to the driver they had before `gpuvirt passthrough` (recorded on the host),',
    'always as the whole set passthrough took (slot functions and group members), so a group is',
    'never left half-bound. A device on vfio-pci or pci-stub that gpuvirt did not record goes',
    'back to whatever driver the kernel matches. `--all` releases everything gpuvirt manages,',
    'including devices of an interrupted run.',
  ].join('\n'),
  linuxOnly: true,
  configure(cmd) {
    cmd
      .argument('[address...]', 'PCI addresses (any device of a set releases the whole set)')
      .option('--all', 'release every device gpuvirt manages')
      .option('--persist', 'also remove the boot-time binding that `passthrough --persist` wrote')
      .option('--dry-run', 'print the plan and change nothing')
      .option('-y, --yes', 'apply without asking');
  },
  parse(args, opts) {
    const all = Boolean(opts.all);
    if (!all && !args.length) throw usageError('name the devices to release, or pass --all');
    if (all && args.length) throw usageError('--all releases everything: give no addresses with it');
    return { addresses: [...new Set(args.map((a) => parseAddress(a).full))], all, persist: Boolean(opts.persist), dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes) };
  },
  async run(opts, ctx) {
    if (!opts.dryRun) requireRoot(ctx, 'release');
    const state = readState(ctx.host);
    const wanted = releaseTargets(ctx, state, opts);
    const steps = planRestoreFromLive(ctx.host, wanted);
    const releasing = new Set(wanted.map((w) => w.address));
    const stillPersisted = persistedDevices(state).filter((d) => !releasing.has(d.address));
    if (opts.persist) steps.push(...planPersist(ctx.host, stillPersisted, detectInitramfs(ctx.host)));
    const present = wanted.filter((w) => ctx.host.exists(paths.pciDevice(w.address)));
    const devices = present.map((w) => {
      const f = readFunction(ctx.host, w.address);
      return { address: w.address, reason: w.want === 'default' ? 'requested' : 'managed', classId: f.classId, name: ctx.names.name(f.vendorId, f.deviceId), driver: f.driver, iommuGroup: f.iommuGroup };
    });
    const data: ReleaseData = { action: 'release', dryRun: opts.dryRun, devices, steps: steps.map(stepJson), applied: null, noop: steps.length === 0 };
    const warnings = wanted.length ? [] : ['nothing to release: gpuvirt manages none of these devices and none is on vfio-pci or pci-stub'];
    for (const w of wanted) if (!present.includes(w)) warnings.push(`${w.address} is no longer on this host; its record is dropped`);
    const kept = persistedDevices(state).filter((d) => releasing.has(d.address)).map((d) => d.address);
    if (!opts.persist && kept.length) warnings.push(`${kept.join(', ')} stay persisted: the next boot binds them again (\`gpuvirt release --persist\` removes that)`);
    if (opts.dryRun || !wanted.length) return { ok: true, data, warnings };
    if (steps.length) await confirmChange(ctx, opts.yes, `Release ${wanted.length} device(s) to their original drivers?`);
    const applied = await apply(ctx, steps, wanted, !opts.persist);
    if (steps.length) data.applied = applied;
    return { ok: applied.ok, data, warnings };
  },
  render: (d, s: Style) => renderChange(d, s),
};
