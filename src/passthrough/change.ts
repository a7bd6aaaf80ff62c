// `gpuvirt passthrough` as a change: the set and its refusals, the bind steps with the undo that
// puts each device back as it is now, boot-time persistence, and the state record, all as data.
import type { Ctx } from '../context.js';
import { paths } from '../host/paths.js';
import type { Step } from '../mutate/steps.js';
import { readUsage, usageGaps } from '../detect/usage.js';
import type { Fact } from '../change/facts.js';
import type { ChangePlan, Refusal } from '../change/types.js';
import { readState, type GpuvirtState, type ManagedDevice, type PassthroughDriver } from '../state.js';
import { planRecordEdit } from '../hostconfig/early.js';
import { planBind } from './plan.js';
import { preflight } from './preflight.js';
import type { DeviceView } from './render.js';
import { resolveSet, type Member } from './resolve.js';
import type { Wanted } from './restore.js';

export interface PassthroughRequest {
  addresses: string[];
  driver: PassthroughDriver;
  force: boolean;
  persist: boolean;
}

export interface PassthroughView {
  action: 'passthrough';
  target: PassthroughDriver;
  devices: DeviceView[];
  bridges: string[];
}

/** A device as it is now: what a rollback returns it to. */
export const wantedNow = (m: Pick<Member, 'address' | 'driver' | 'driverOverride' | 'driverModule'>): Wanted =>
  ({ address: m.address, want: m.driver, wantOverride: m.driverOverride, wantModule: m.driverModule });

/**
 * Gives every step that touches a device (its unbind, driver_override, probe, verify) the undo
 * that brings the device back to `wanted`.
 */
export function withDeviceUndo(steps: readonly Step[], wanted: readonly Wanted[]): Step[] {
  const byAddress = new Map(wanted.map((w) => [w.address, w]));
  const touched = (s: Step): string | undefined => {
    if (s.kind === 'verify-driver' || s.kind === 'verify-not-driver') return s.address;
    if (s.kind !== 'write') return undefined;
    if (byAddress.has(s.value)) return s.value;
    return [...byAddress.keys()].find((a) => s.path.startsWith(`${paths.pciDevice(a)}/`));
  };
  return steps.map((s) => {
    const addr = touched(s);
    const w = addr ? byAddress.get(addr) : undefined;
    return w ? { ...s, undo: [...(s.undo ?? []), { kind: 'restore-devices', devices: [w] }] } : s;
  });
}

/** State entries for the set; devices gpuvirt already manages keep their original record. */
export function entriesFor(members: readonly Member[], target: PassthroughDriver, persist: boolean, state: GpuvirtState, now: Date): ManagedDevice[] {
  const set = members.map((m) => m.address);
  const out: ManagedDevice[] = [];
  for (const m of members) {
    const known = state.devices[m.address];
    if (known) {
      out.push({ ...known, target, set, status: 'bound' });
    } else if (m.driver !== target || persist) {
      const already = m.driver === target;
      out.push({
        address: m.address, target, originalDriver: already ? null : m.driver, originalModule: already ? null : m.driverModule,
        originalOverride: already ? null : m.driverOverride, originalKnown: !already, set, persisted: false, status: 'bound', since: now.toISOString(),
      });
    }
  }
  return out;
}

export function bindFacts(members: readonly { address: string }[], target: string): { fact: Fact; value: string | null }[] {
  return members.flatMap((m) => [
    { fact: { kind: 'driver', address: m.address } as Fact, value: target },
    { fact: { kind: 'override', address: m.address } as Fact, value: target },
  ]);
}

export function planPassthrough(ctx: Ctx, req: PassthroughRequest): ChangePlan<PassthroughView> {
  const state = readState(ctx.host);
  const set = resolveSet(ctx.host, req.addresses);
  const usage = readUsage(ctx.host, [...set.members, ...set.groupPeers].map((m) => m.address));
  const { refusals: found, forcedPeers } = preflight({ set, usage, target: req.driver }, req.force);
  const refusals: Refusal[] = [...found];
  const members = [...set.members, ...forcedPeers];
  const entries = entriesFor(members, req.driver, req.persist, state, ctx.clock?.() ?? new Date());
  const steps = withDeviceUndo(planBind(members, req.driver, ctx.host.exists(paths.pciDriver(req.driver))), members.map(wantedNow));
  // --persist: each device recorded in the boot record (host.yaml) by its address, and the boot files generated from it.
  const boot = req.persist ? planRecordEdit(ctx, members.map((m) => ({ address: m.address, driver: req.driver }))) : null;
  if (boot) {
    steps.push(...boot.steps);
    refusals.push(...boot.refusals);
  }
  const warnings: string[] = [...(boot?.warnings ?? [])];
  const gaps = usageGaps(ctx.host);
  if (gaps) warnings.push(gaps);
  return {
    view: {
      action: 'passthrough', target: req.driver, bridges: set.bridges,
      devices: members.map((m) => ({ address: m.address, reason: m.reason, classId: m.classId, name: ctx.names.name(m.vendorId, m.deviceId), driver: m.driver, iommuGroup: m.iommuGroup })),
    },
    steps, refusals, warnings,
    question: `Bind ${members.length} device(s) to ${req.driver}?`,
    expect: bindFacts(members, req.driver),
    state: (s) => {
      for (const e of entries) s.devices[e.address] = e;
      return boot ? boot.state(s) : s;
    },
  };
}
