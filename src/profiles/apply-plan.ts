// `gpuvirt apply`: one plan that makes the host match a profile, built from the sriov and
// passthrough planners (VF counts first, since VFs must exist before they are bound; then
// vfio-pci for every passed function; mdev instances; boot-time persistence; the generated
// VM configs last), with the one restore that undoes all of it.
import type { Ctx } from '../context.js';
import { paths } from '../host/paths.js';
import type { Step } from '../mutate/steps.js';
import type { RollbackReport } from '../mutate/apply.js';
import { detectInitramfs } from '../boot/initramfs.js';
import { readUsage } from '../detect/usage.js';
import { planPersist } from '../passthrough/persist.js';
import { planBind } from '../passthrough/plan.js';
import { blocking, preflight, type Refusal } from '../passthrough/preflight.js';
import { resolveSet, type Member } from '../passthrough/resolve.js';
import { planRestoreFromLive, runBestEffort, wantedFromState } from '../passthrough/restore.js';
import { readPf, type PfInfo } from '../sriov/detect.js';
import { planSriovPersist, type PersistedPf } from '../sriov/persist.js';
import { planSriovRestore, vfAddresses } from '../sriov/plan.js';
import { planEnableFor } from '../sriov/vendor-plans.js';
import { chooseAdapter, validateEnable } from '../sriov/vendors.js';
import { persistedDevices, readState, type ManagedDevice, type SriovRecord } from '../state.js';
import type { ResolvedDevice } from './resolve.js';
import type { Profile } from './schema.js';

export interface ConfigFile {
  target: 'qemu' | 'libvirt' | 'proxmox';
  path: string;
  content: string;
  mode?: number;
}

export interface ApplyPlan {
  steps: Step[];
  /** Passthrough preflight refusals (--force passes the forceable ones). */
  refusals: Refusal[];
  /** SR-IOV problems nothing can force (a count over sriov_totalvfs, a PF without a driver). */
  errors: string[];
  entries: ManagedDevice[];
  pfs: { pf: PfInfo; record: SriovRecord }[];
  mdevs: { uuid: string; parent: string; type: string }[];
  blocked: boolean;
}

/** Where apply keeps the configs it generates for a VM. */
export function configDir(profile: Profile): string {
  return `${paths.stateDir}/vms/${profile.name.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

function sriovPart(ctx: Ctx, profile: Profile, devices: readonly ResolvedDevice[], persist: boolean, plan: ApplyPlan): Set<string> {
  const changed = new Set<string>();
  const vfioLoaded = ctx.host.exists(paths.pciDriver('vfio-pci'));
  const state = readState(ctx.host);
  for (const d of devices) {
    if (d.kind !== 'pci' || d.source !== 'vf' || !d.pf || plan.pfs.some((p) => p.pf.address === d.pf)) continue;
    const want = profile.devices[d.index];
    const pf = readPf(ctx.host, d.pf);
    if (!pf || want?.type !== 'vf') continue;
    if (pf.sriov.numVfs === want.vfCount) continue;
    const adapter = chooseAdapter(pf);
    const v = validateEnable(ctx.host, pf, adapter, want.vfCount);
    plan.errors.push(...v.errors);
    plan.steps.push(...planEnableFor(adapter.id, pf, { numVfs: want.vfCount, bind: 'vfio-pci', vfioLoaded }, persist));
    const previous = state.sriov?.[pf.address];
    const record: SriovRecord = {
      pf: pf.address, numVfs: want.vfCount, bind: 'vfio-pci', adapter: adapter.id, persisted: persist || (previous?.persisted ?? false),
      originalNumVfs: previous?.originalNumVfs ?? pf.sriov.numVfs, originalAutoprobe: previous?.originalAutoprobe ?? pf.sriov.driversAutoprobe,
      status: 'done', since: new Date().toISOString(),
    };
    plan.pfs.push({ pf, record });
    changed.add(pf.address);
  }
  return changed;
}

function entriesFor(members: readonly Member[], persist: boolean): ManagedDevice[] {
  const set = members.map((m) => m.address);
  const since = new Date().toISOString();
  return members.map((m) => {
    const already = m.driver === 'vfio-pci';
    return {
      address: m.address, target: 'vfio-pci', originalDriver: already ? null : m.driver, originalModule: already ? null : m.driverModule,
      originalOverride: already ? null : m.driverOverride, originalKnown: !already, set, persisted: persist, status: 'applying', since,
    };
  });
}

function passthroughPart(ctx: Ctx, devices: readonly ResolvedDevice[], changedPfs: Set<string>, force: boolean, persist: boolean, plan: ApplyPlan): void {
  // VFs of a PF whose count changes are created and bound by the SR-IOV steps.
  const addresses = devices.flatMap((d) => (d.kind !== 'pci' || (d.pf && changedPfs.has(d.pf)) ? [] : d.functions.map((f) => f.address)));
  if (!addresses.length) return;
  const set = resolveSet(ctx.host, addresses);
  const usage = readUsage(ctx.host, [...set.members, ...set.groupPeers].map((m) => m.address));
  const { refusals, forcedPeers } = preflight({ set, usage, target: 'vfio-pci' }, force);
  plan.refusals.push(...refusals);
  const members = [...set.members, ...forcedPeers];
  plan.steps.push(...planBind(members, 'vfio-pci', ctx.host.exists(paths.pciDriver('vfio-pci')) || plan.steps.some((s) => s.kind === 'exec' && s.argv.join(' ') === 'modprobe vfio-pci')));
  const known = readState(ctx.host).devices;
  plan.entries.push(...entriesFor(members, persist).map((e) => (known[e.address] ? { ...known[e.address]!, persisted: known[e.address]!.persisted || persist, status: 'applying' as const } : e)));
}

function mdevPart(ctx: Ctx, devices: readonly ResolvedDevice[], plan: ApplyPlan): void {
  for (const d of devices) {
    if (d.kind !== 'mdev') continue;
    const dev = `${paths.mdevDevices}/${d.uuid}`;
    if (ctx.host.exists(dev)) continue;
    plan.steps.push(
      { kind: 'write', path: `${paths.mdevBus}/${d.parent.address}/mdev_supported_types/${d.mdevType}/create`, value: d.uuid, title: `create mdev ${d.uuid} (${d.mdevType} on ${d.parent.address})` },
      { kind: 'verify-exists', path: dev, title: `mdev ${d.uuid} is there` },
    );
    plan.mdevs.push({ uuid: d.uuid, parent: d.parent.address, type: d.mdevType });
  }
}

function persistPart(ctx: Ctx, plan: ApplyPlan): void {
  const byAddress = new Map(persistedDevices(readState(ctx.host)).map((d) => [d.address, d]));
  for (const e of plan.entries) if (e.persisted) byAddress.set(e.address, e);
  plan.steps.push(...planPersist(ctx.host, [...byAddress.values()], detectInitramfs(ctx.host)));
  const pfs: PersistedPf[] = [];
  for (const r of Object.values(readState(ctx.host).sriov ?? {})) {
    if (!r.persisted || plan.pfs.some((p) => p.pf.address === r.pf)) continue;
    const live = readPf(ctx.host, r.pf);
    pfs.push({ pf: r.pf, numVfs: r.numVfs, bind: r.bind, adapter: r.adapter, vfs: live ? vfAddresses(live, r.numVfs) : [] });
  }
  for (const { pf, record } of plan.pfs) if (record.persisted) pfs.push({ pf: pf.address, numVfs: record.numVfs, bind: record.bind, adapter: record.adapter, vfs: vfAddresses(pf, record.numVfs) });
  if (pfs.length) plan.steps.push(...planSriovPersist(ctx.host, pfs));
}

export function planApply(ctx: Ctx, profile: Profile, devices: readonly ResolvedDevice[], configs: readonly ConfigFile[], opts: { force: boolean; persist: boolean }): ApplyPlan {
  const plan: ApplyPlan = { steps: [], refusals: [], errors: [], entries: [], pfs: [], mdevs: [], blocked: false };
  const changed = sriovPart(ctx, profile, devices, opts.persist, plan);
  passthroughPart(ctx, devices, changed, opts.force, opts.persist, plan);
  mdevPart(ctx, devices, plan);
  if (opts.persist) persistPart(ctx, plan);
  for (const c of configs) {
    if (ctx.host.readText(c.path) === c.content) continue;
    plan.steps.push({ kind: 'file', path: c.path, content: c.content, mode: c.mode, title: `write the ${c.target} config ${c.path}` });
  }
  plan.blocked = plan.errors.length > 0 || blocking(plan.refusals, opts.force).length > 0;
  return plan;
}

/** Undoes a failed apply from the live state: drivers back, mdevs removed, VF counts back. */
export async function restoreAll(ctx: Ctx, plan: ApplyPlan): Promise<RollbackReport> {
  const { host, exec } = ctx;
  const reports: RollbackReport[] = [await runBestEffort(host, exec, planRestoreFromLive(host, plan.entries.map(wantedFromState)))];
  const removals: Step[] = plan.mdevs
    .filter((m) => host.exists(`${paths.mdevDevices}/${m.uuid}`))
    .map((m) => ({ kind: 'write', path: `${paths.mdevDevices}/${m.uuid}/remove`, value: '1', title: `remove mdev ${m.uuid}` }));
  reports.push(await runBestEffort(host, exec, removals));
  for (const { pf, record } of plan.pfs) {
    const live = readPf(host, pf.address);
    if (!live) {
      reports.push({ ok: false, actions: [], errors: [`${pf.address} is gone`] });
      continue;
    }
    reports.push(await runBestEffort(host, exec, planSriovRestore(live, { numVfs: record.originalNumVfs, driversAutoprobe: record.originalAutoprobe })));
  }
  return { ok: reports.every((r) => r.ok), actions: reports.flatMap((r) => r.actions), errors: reports.flatMap((r) => r.errors) };
}
