// `gpuvirt sriov enable|disable` as changes: the vendor path's steps, each with the undo that
// returns the PF to its VF count, autoprobe setting, VF bindings and (GIM) module options as
// they are now; the refusals, all at once; and the state record, written as the last step.
import type { Ctx } from '../context.js';
import { ExitCode } from '../errors.js';
import { paths } from '../host/paths.js';
import type { Step } from '../mutate/steps.js';
import type { Fact } from '../change/facts.js';
import type { ChangePlan, Refusal } from '../change/types.js';
import type { Undo } from '../change/undo.js';
import { readState, type GpuvirtState, type SriovRecord } from '../state.js';
import type { PfInfo } from './detect.js';
import { readPf } from './detect.js';
import { planRecordEdit } from '../hostconfig/early.js';
import { keptAtBoot, ownRecorded, type DeviceEdit } from '../hostconfig/record.js';
import { vfAddresses } from './plan.js';
import { heldByVfio, vfsInUse } from './select.js';
import { usageGaps } from '../detect/usage.js';
import { planDisableFor, planEnableFor } from './vendor-plans.js';
import { chooseAdapter, validateEnable, type Adapter, type AdapterId } from './vendors.js';
import { pfJson, type PfJson } from '../commands/sriov/status.js';
import { planXeVfProfile, xeProfileRefusals, type XeVfProfile } from './xe-profile.js';

export interface SriovView {
  action: 'enable' | 'disable';
  /** The PF as it was when the plan was made. */
  pf: PfJson;
  adapter: AdapterId;
  requested: number;
  notes: string[];
  /** What to do about the kernel's answer, when a write failed with a known errno. */
  hint: string | null;
  /** xe: the scheduling profile written to every VF enabled (sriov_admin/vfN/profile), or null. */
  vfProfile?: XeVfProfile | null;
  /** The PF as the host shows it after the run. */
  after: PfJson | null;
}

const GIM_VF_NUM: Fact = { kind: 'module', name: 'gim', param: 'vf_num' };

/** What brings the PF back to how it is now, whatever a step left behind. */
export function sriovUndo(pf: PfInfo, adapter: Adapter): Undo[] {
  const vfDrivers = pf.vfs.flatMap((v) => (v.driver === 'vfio-pci' || v.driver === 'pci-stub' ? [{ address: v.address, driver: v.driver as 'vfio-pci' | 'pci-stub' }] : []));
  const restore: Undo = { kind: 'restore-sriov', pf: pf.address, numVfs: pf.sriov.numVfs, autoprobe: pf.sriov.driversAutoprobe, vfDrivers };
  const numvfs: Fact = { kind: 'attr', path: paths.pciAttr(pf.address, 'sriov_numvfs') };
  switch (adapter.id) {
    case 'amd-gim': {
      // GIM takes its count at load: back means reloading it with the vf_num it has now.
      const old = String(pf.sriov.numVfs);
      return [
        { kind: 'run', argv: ['modprobe', '-r', 'gim'], title: 'unload gim', unless: [{ fact: GIM_VF_NUM, value: old }, { fact: GIM_VF_NUM, value: null }] },
        { kind: 'run', argv: ['modprobe', 'gim', `vf_num=${old}`], title: `load gim with vf_num=${old} again`, unless: [{ fact: GIM_VF_NUM, value: old }] },
        restore,
      ];
    }
    case 'nvidia': {
      const on = pf.sriov.numVfs > 0;
      const argv = [paths.nvidiaSriovManage, on ? '-e' : '-d', pf.address];
      return [{ kind: 'run', argv, title: `${on ? 'enable' : 'disable'} the VFs of ${pf.address} again with sriov-manage`, unless: [{ fact: numvfs, value: String(pf.sriov.numVfs) }] }, restore];
    }
    default:
      return [restore];
  }
}

function inUse(ctx: Ctx, pf: PfInfo, verb: string): Refusal[] {
  const uses = vfsInUse(ctx, pf);
  const vfio = new Set(heldByVfio(uses));
  const who = (u: (typeof uses)[number]) => u.holders.map((h) => `${h.comm} (pid ${h.pid})`).join(', ');
  return uses.map((u) => (vfio.has(u)
    ? { code: 'vf-vfio-held', address: u.vf, message: `VF ${u.vf} is open through VFIO by ${who(u)}: the kernel would block until the VM lets go; stop the VM first`, force: null }
    : { code: 'vf-in-use', address: u.vf, message: `VF ${u.vf} is in use by ${who(u)}`, force: `${verb} anyway: those processes lose the VF` }));
}

/** The record's entry for a PF with `numVfs` VFs on `bind`. */
export const sriovEdit = (pf: string, numVfs: number, bind: 'vfio-pci' | null): DeviceEdit =>
  ({ address: pf, sriov: numVfs === 0 ? null : { vfs: numVfs, ...(bind ? { vfDriver: bind } : {}) } });

const withUndo = (steps: readonly Step[], undo: Undo[]): Step[] => steps.map((s) => (s.kind === 'file' || s.kind === 'remove-file' ? s : { ...s, undo: [...(s.undo ?? []), ...undo] }));

function countFacts(pf: PfInfo, adapter: Adapter, numVfs: number, bind: string | null): { fact: Fact; value: string | null }[] {
  const out: { fact: Fact; value: string | null }[] = [{ fact: { kind: 'attr', path: paths.pciAttr(pf.address, 'sriov_numvfs') }, value: String(numVfs) }];
  // GIM is unloaded to have no VFs (its VFs exist while it is loaded), and reloaded with vf_num for some.
  if (adapter.id === 'amd-gim') out.push({ fact: GIM_VF_NUM, value: numVfs === 0 ? null : String(numVfs) });
  if (bind) for (const vf of vfAddresses(pf, numVfs)) out.push({ fact: { kind: 'driver', address: vf }, value: bind });
  return out;
}

function watchFacts(pf: PfInfo): Fact[] {
  return [{ kind: 'attr', path: paths.pciAttr(pf.address, 'sriov_drivers_autoprobe') }, ...pf.vfs.map((v) => ({ kind: 'driver', address: v.address }) as Fact)];
}

export interface EnableRequest {
  numVfs: number;
  bind: 'vfio-pci' | null;
  persist: boolean;
  /** Leave the boot record alone (a caller combining several changes edits it once, for all). */
  noPersistFiles?: boolean;
  /** xe: the per-VF scheduling profile to write once the VFs exist. */
  vfProfile?: XeVfProfile | null;
}

export function planSriovEnable(ctx: Ctx, pf: PfInfo, req: EnableRequest): ChangePlan<SriovView> {
  const adapter = chooseAdapter(pf);
  const { errors, notes } = validateEnable(ctx.host, pf, adapter, req.numVfs);
  const refusals: Refusal[] = errors.map((message) => ({ code: 'unsupported', address: pf.address, message, force: null }));
  if (req.bind === 'vfio-pci' && pf.iommuGroup === null) {
    // As for passthrough: without an IOMMU vfio-pci's probe fails (-EINVAL) and the VFs would end driverless.
    refusals.push({ code: 'no-iommu', address: pf.address, message: `${pf.address} has no IOMMU group: no IOMMU is active, so vfio-pci cannot take its VFs (run \`gpuvirt doctor\` for the fix)`, force: null });
  }
  const replacing = pf.sriov.numVfs !== req.numVfs && pf.sriov.numVfs > 0;
  if (replacing) refusals.push(...inUse(ctx, pf, 'change the count'));
  // Whether a VF is held open is known only where processes are visible (not on a snapshot).
  const gaps = replacing ? usageGaps(ctx.host, 'processes') : null;
  const state = readState(ctx.host);
  const previous = state.sriov?.[pf.address];
  const body = planEnableFor(adapter.id, pf, { numVfs: req.numVfs, bind: req.bind, vfioLoaded: ctx.host.exists(paths.pciDriver('vfio-pci')) });
  if (!req.bind && pf.sriov.driversAutoprobe === false && pf.sriov.numVfs !== req.numVfs) {
    // An earlier --bind turned autoprobe off; VFs for the host need it on, or they get no driver.
    body.unshift({ kind: 'write', path: paths.pciAttr(pf.address, 'sriov_drivers_autoprobe'), value: '1', title: `let host drivers take the new VFs of ${pf.address}` });
  }
  const steps = withUndo(body, sriovUndo(pf, adapter));
  // xe's VF profiles are written once the VFs exist; undone first (newest first), before the count goes back.
  const profile = req.vfProfile ? planXeVfProfile(ctx.host, pf.address, req.numVfs, req.vfProfile) : null;
  if (req.vfProfile) refusals.push(...xeProfileRefusals(ctx.host, pf.address, pf.driver, req.numVfs, req.vfProfile));
  if (profile) steps.push(...profile.steps);
  // A PF kept at boot by its own entry stays kept, with the count it gets now.
  const persisted = req.persist || ownRecorded(ctx, pf.address, 'sriov') || (previous?.persisted ?? false);
  const boot = persisted && !req.noPersistFiles ? planRecordEdit(ctx, [sriovEdit(pf.address, req.numVfs, req.bind)]) : null;
  if (boot) {
    steps.push(...boot.steps);
    refusals.push(...boot.refusals);
  }
  const record: SriovRecord = {
    pf: pf.address, numVfs: req.numVfs, bind: req.bind, adapter: adapter.id, persisted: false,
    originalNumVfs: previous?.originalNumVfs ?? pf.sriov.numVfs, originalAutoprobe: previous?.originalAutoprobe ?? pf.sriov.driversAutoprobe,
    status: 'done', since: (ctx.clock?.() ?? new Date()).toISOString(),
  };
  return {
    view: { action: 'enable', pf: pfJson(ctx, pf), adapter: adapter.id, requested: req.numVfs, notes, hint: null, after: null, vfProfile: req.vfProfile ?? null },
    steps, refusals, blockedExit: errors.length || refusals.some((r) => r.code === 'no-sriov-admin') ? ExitCode.unsupported : ExitCode.refused, warnings: [...(gaps ? [gaps] : []), ...(boot?.warnings ?? [])],
    question: `Enable ${req.numVfs} VFs on ${pf.address}?`,
    state: (s) => {
      const next = { ...s, sriov: { ...s.sriov, [pf.address]: { ...record, persisted: !boot && (previous?.persisted ?? false) } } };
      return boot ? boot.state(next) : next;
    },
    expect: [...countFacts(pf, adapter, req.numVfs, req.bind), ...(profile?.expect ?? [])],
    watch: watchFacts(pf),
  };
}

export function planSriovDisable(ctx: Ctx, pf: PfInfo, persist: boolean): ChangePlan<SriovView> {
  const adapter = chooseAdapter(pf);
  const refusals: Refusal[] = [];
  if (pf.sriov.numVfs > 0 && !pf.driver && adapter.id === 'generic') {
    // The kernel disables VFs through the PF's driver: without one, sriov_numvfs says ENOENT.
    refusals.push({ code: 'no-driver', address: pf.address, force: null,
      message: `${pf.address} has no driver, and the kernel disables VFs through it (sriov_numvfs would fail with ENOENT): bind its driver again first (\`echo ${pf.address} > /sys/bus/pci/drivers_probe\`)` });
  }
  refusals.push(...inUse(ctx, pf, 'disable the VFs'));
  const state = readState(ctx.host);
  const previous = state.sriov?.[pf.address];
  const body = planDisableFor(adapter.id, pf);
  if (previous?.originalAutoprobe === true && pf.sriov.driversAutoprobe === false) {
    body.push({ kind: 'write', path: paths.pciAttr(pf.address, 'sriov_drivers_autoprobe'), value: '1', title: `restore sriov_drivers_autoprobe of ${pf.address}` });
  }
  const steps = withUndo(body, sriovUndo(pf, adapter));
  // --persist: the PF leaves the boot record (host.yaml), and the boot files are generated from what is left.
  const boot = persist ? planRecordEdit(ctx, [{ address: pf.address, sriov: null }]) : null;
  if (boot) {
    steps.push(...boot.steps);
    refusals.push(...boot.refusals);
  }
  const kept = keptAtBoot(ctx, state).sriov.get(pf.address);
  const keep = !persist && kept !== undefined;
  const warnings = kept && !persist ? [`${pf.address} stays persisted: the next boot creates its ${kept.vfs} VFs again (--persist removes that)`] : [...(boot?.warnings ?? [])];
  const gaps = usageGaps(ctx.host, 'processes');
  if (gaps) warnings.push(gaps);
  return {
    view: { action: 'disable', pf: pfJson(ctx, pf), adapter: adapter.id, requested: 0, notes: [], hint: null, after: null },
    steps, refusals, warnings,
    question: `Remove the ${pf.sriov.numVfs} VFs of ${pf.address}?`,
    state: (s) => {
      if (!keep && s.sriov) delete s.sriov[pf.address];
      // VFs that no longer exist are no longer passthrough devices either.
      for (const vf of pf.vfs) delete s.devices[vf.address];
      return boot ? boot.state(s) : s;
    },
    expect: countFacts(pf, adapter, 0, null),
    watch: watchFacts(pf),
  };
}
