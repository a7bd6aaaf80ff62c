// `gpuvirt release` as a change: recorded devices go back to the driver they had, always as the
// whole set passthrough took; a device on vfio-pci or pci-stub that gpuvirt did not record goes
// back to whatever driver the kernel matches. A device whose VFIO group a VM holds is refused:
// the kernel's unbind would block until the VM lets go. Mediated devices `apply` made go too
// (src/mdev/release.ts).
import type { Ctx } from '../context.js';
import { paths } from '../host/paths.js';
import { deviceFiles, findHolders } from '../detect/usage.js';
import type { Fact } from '../change/facts.js';
import type { ChangePlan, Refusal } from '../change/types.js';
import { readState, recordOnlySteps, type GpuvirtState } from '../state.js';
import { forgetMdevs } from '../mdev/change.js';
import { mdevReleaseTargets, planMdevRelease, type MdevReleaseView } from '../mdev/release.js';
import { planRecordEdit } from '../hostconfig/early.js';
import { keptAtBoot } from '../hostconfig/record.js';
import { wantedNow, withDeviceUndo } from './change.js';
import type { DeviceView } from './render.js';
import { assertDevicesExist, readMember } from './resolve.js';
import { planRestoreFromLive, wantedFromState, type Wanted } from './restore.js';

export interface ReleaseRequest {
  addresses: string[];
  /** Mediated devices named by UUID. */
  uuids?: string[];
  all: boolean;
  persist: boolean;
}

export interface ReleaseView {
  action: 'release';
  devices: DeviceView[];
  /** The mediated devices removed (and undefined in mdevctl when gpuvirt defined them). */
  mdevs: MdevReleaseView[];
}

const PASSTHROUGH_DRIVERS = new Set(['vfio-pci', 'pci-stub']);

/** What to restore: recorded devices with their whole recorded set, others back to the kernel's default. */
export function releaseTargets(ctx: Ctx, state: GpuvirtState, req: ReleaseRequest): Wanted[] {
  const recorded = Object.values(state.devices);
  if (req.all) return recorded.map(wantedFromState);
  assertDevicesExist(ctx.host, req.addresses);
  const wanted = new Map<string, Wanted>();
  for (const addr of req.addresses) {
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

function heldRefusals(ctx: Ctx, addresses: readonly string[]): Refusal[] {
  return addresses.flatMap((address) => {
    const vfio = deviceFiles(ctx.host, address).filter((f) => f.startsWith(`${paths.devVfio}/`));
    return findHolders(ctx.host, vfio).map((h) => ({
      code: 'vfio-held', address,
      message: `${address} is in use by a VM: ${h.comm} (pid ${h.pid}) holds ${h.file} open; the kernel would block the unbind until it lets go`,
      force: null,
    }));
  });
}

export function planRelease(ctx: Ctx, req: ReleaseRequest): ChangePlan<ReleaseView> {
  const state = readState(ctx.host);
  const wanted = releaseTargets(ctx, state, req);
  const named = mdevReleaseTargets(state, { all: req.all, addresses: req.addresses, uuids: req.uuids ?? [] });
  const mdev = planMdevRelease(ctx.host, named.records);
  const present = wanted.filter((w) => ctx.host.exists(paths.pciDevice(w.address)));
  const members = present.map((w) => readMember(ctx.host, w.address, 'requested'));
  const steps = [...mdev.steps, ...withDeviceUndo(planRestoreFromLive(ctx.host, wanted), members.map(wantedNow))];
  const releasing = new Set(wanted.map((w) => w.address));
  // --persist: the devices leave the boot record (host.yaml), and the boot files are generated from what is left.
  const boot = req.persist ? planRecordEdit(ctx, wanted.map((w) => ({ address: w.address, driver: null }))) : null;
  if (boot) steps.push(...boot.steps);
  const kept = keptAtBoot(ctx, state).driver;
  const nothing = !wanted.length && !named.records.length && !(req.uuids ?? []).length;
  const warnings = [...(nothing ? ['nothing to release: gpuvirt manages none of these devices and none is on vfio-pci or pci-stub'] : []), ...named.warnings, ...mdev.warnings];
  // VFs bound by `sriov enable --bind` belong to their PF's record: they go with `sriov disable`.
  for (const r of Object.values(state.sriov ?? {})) {
    if (req.all && r.bind) warnings.push(`the VFs of ${r.pf} are on ${r.bind} through \`sriov enable --bind\`: \`gpuvirt sriov disable ${r.pf}\` removes them`);
  }
  for (const w of wanted) if (!present.includes(w)) warnings.push(`${w.address} is no longer on this host; its record is dropped`);
  const staying = [...releasing].filter((a) => kept.has(a));
  if (!req.persist && staying.length) warnings.push(`${staying.join(', ')} stay persisted: the next boot binds them again (\`gpuvirt release --persist\` removes that)`);
  if (boot) warnings.push(...boot.warnings);
  // A device going to "whatever the kernel picks" has no one expected driver: only that it left.
  const expect = [...mdev.expect, ...present.flatMap((w) => (w.want === 'default' ? [] : [
    { fact: { kind: 'driver', address: w.address } as Fact, value: w.want },
    { fact: { kind: 'override', address: w.address } as Fact, value: w.wantOverride },
  ]))];
  const update = (s: GpuvirtState): GpuvirtState => {
    for (const w of wanted) {
      const known = s.devices[w.address];
      // Without --persist a persisted device stays recorded: the next boot takes it again.
      if (known && kept.has(w.address) && !req.persist) s.devices[w.address] = { ...known, status: 'released' };
      else delete s.devices[w.address];
    }
    const after = forgetMdevs(named.records.map((r) => r.uuid))(s);
    return boot ? boot.state(after) : after;
  };
  // Records of what is gone are dropped even when nothing on the host changes.
  const recordOnly = steps.length === 0;
  if (recordOnly) steps.push(...recordOnlySteps(ctx.host, update));
  const mdevs = named.records.length ? ` and remove ${named.records.length} mediated device(s)` : '';
  return {
    view: {
      action: 'release',
      devices: members.map((m) => ({ address: m.address, reason: 'managed', classId: m.classId, name: ctx.names.name(m.vendorId, m.deviceId), driver: m.driver, iommuGroup: m.iommuGroup })),
      mdevs: mdev.view,
    },
    steps, warnings, expect,
    refusals: [...mdev.refusals, ...heldRefusals(ctx, present.map((w) => w.address)), ...(boot?.refusals ?? [])],
    watch: present.filter((w) => w.want === 'default').map((w) => ({ kind: 'override', address: w.address }) as Fact),
    question: `Release ${wanted.length} device(s) to their original drivers${mdevs}?`,
    ...(recordOnly ? {} : { state: update }),
  };
}
