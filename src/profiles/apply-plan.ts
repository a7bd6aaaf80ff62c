// `gpuvirt apply`: one change that makes the host match a profile, combined from the sriov and
// passthrough changes (VF counts first, since VFs must exist before they are bound; then
// vfio-pci for every passed function; mdev instances; boot-time persistence; the generated VM
// configs last). One plan, one question, one rollback.
import type { Ctx } from '../context.js';
import { paths } from '../host/paths.js';
import { vmDir } from '../generate/layout.js';
import type { Step } from '../mutate/steps.js';
import { combine } from '../change/combine.js';
import type { ChangePlan } from '../change/types.js';
import { mdevCreateSteps, mdevDevice, recordMdev } from '../mdev/change.js';
import { planLookingGlass } from './looking-glass.js';
import { hasMdevctl, mdevDefineSteps, NO_MDEVCTL } from '../mdev/persist.js';
import type { Refusal } from '../change/types.js';
import { planPassthrough } from '../passthrough/change.js';
import { planSriovEnable, sriovEdit } from '../sriov/change.js';
import { planRecordEdit } from '../hostconfig/early.js';
import type { DeviceEdit } from '../hostconfig/record.js';
import { readPf } from '../sriov/detect.js';
import { readState, type GpuvirtState } from '../state.js';
import type { ResolvedDevice } from './resolve.js';
import type { Profile } from './schema.js';
import type { RegisterPart } from './register.js';

export interface ConfigFile {
  target: 'qemu' | 'libvirt' | 'proxmox';
  path: string;
  content: string;
  mode?: number;
}

/** Where apply keeps the configs it generates for a VM. */
export function configDir(profile: Profile): string {
  return vmDir(profile);
}

/** The PFs whose VF count the profile changes, with their changes, and their boot record entries. */
function sriovParts(ctx: Ctx, profile: Profile, devices: readonly ResolvedDevice[]): { parts: ChangePlan<unknown>[]; changed: Set<string>; edits: DeviceEdit[] } {
  const parts: ChangePlan<unknown>[] = [];
  const changed = new Set<string>();
  const edits: DeviceEdit[] = [];
  for (const d of devices) {
    if (d.kind !== 'pci' || d.source !== 'vf' || !d.pf || changed.has(d.pf)) continue;
    const want = profile.devices[d.index];
    const pf = readPf(ctx.host, d.pf);
    if (!pf || want?.type !== 'vf' || pf.sriov.numVfs === want.vfCount) continue;
    parts.push(planSriovEnable(ctx, pf, { numVfs: want.vfCount, bind: 'vfio-pci', persist: false, noPersistFiles: true }));
    changed.add(pf.address);
    edits.push(sriovEdit(pf.address, want.vfCount, 'vfio-pci'));
  }
  return { parts, changed, edits };
}

export function planApply<V>(
  ctx: Ctx, view: V, profile: Profile, devices: readonly ResolvedDevice[], configs: readonly ConfigFile[], opts: { force: boolean; persist: boolean },
  register: RegisterPart | null = null,
): ChangePlan<V> {
  const { parts, changed, edits } = sriovParts(ctx, profile, devices);
  // VFs of a PF whose count changes are created and bound by the SR-IOV steps.
  const addresses = devices.flatMap((d) => (d.kind !== 'pci' || (d.pf && changed.has(d.pf)) ? [] : d.functions.map((f) => f.address)));
  if (addresses.length) parts.push(planPassthrough(ctx, { addresses, driver: 'vfio-pci', force: opts.force, persist: false }));
  // Persistence: the VF counts and the bindings in the boot record (host.yaml), its boot files written once, for all.
  const boot = opts.persist ? planRecordEdit(ctx, [...edits, ...addresses.map((address) => ({ address, driver: 'vfio-pci' as const }))]) : null;
  const extra: Step[] = [...(boot?.steps ?? [])];
  const refusals: Refusal[] = [...(boot?.refusals ?? [])];
  const warnings: string[] = [...(boot?.warnings ?? [])];
  // The mdevs this apply makes are recorded, so status lists them and release removes them.
  const records: ((s: GpuvirtState) => GpuvirtState)[] = [];
  const maker = { command: 'apply' as const, profile: profile.name, since: (ctx.clock?.() ?? new Date()).toISOString() };
  const known = readState(ctx.host).mdevs ?? {};
  for (const d of devices) {
    if (d.kind !== 'mdev') continue;
    const create = !ctx.host.exists(mdevDevice(d.uuid));
    if (create) extra.push(...mdevCreateSteps(d.parent.address, d.mdevType, d.uuid));
    let defined = false;
    // Boot-time persistence of an mdev is mdevctl's definition.
    if (opts.persist && !hasMdevctl(ctx.host)) {
      warnings.push(`mediated device ${d.uuid} (${d.mdevType} on ${d.parent.address}) is not persistent: ${NO_MDEVCTL}`);
    } else if (opts.persist) {
      const def = mdevDefineSteps(ctx.host, d.parent.address, d.mdevType, d.uuid);
      extra.push(...def.steps);
      refusals.push(...def.refusals);
      defined = def.steps.length > 0;
    }
    // One that was there already is someone else's unless gpuvirt recorded it.
    if (create || known[d.uuid]) records.push(recordMdev(d.uuid, d.parent.address, d.mdevType, defined, maker));
  }
  // Looking Glass's kvmfr device is set up at module load and by udev: boot-time files, like the rest of --persist.
  if (opts.persist) {
    const lg = planLookingGlass(ctx.host, profile);
    extra.push(...lg.steps);
    warnings.push(...lg.warnings);
  } else if (profile.lookingGlass?.device === 'kvmfr') {
    warnings.push('--no-persist: the kvmfr module options and /dev/kvmfr0\'s udev rule for Looking Glass are not written');
  }
  for (const c of configs) {
    if (ctx.host.readText(c.path) === c.content) continue;
    extra.push({ kind: 'file', path: c.path, content: c.content, mode: c.mode, title: `write the ${c.target} config ${c.path}` });
  }
  // The consumer reads the files just written: registering comes last.
  if (register) extra.push(...register.steps);
  const plan = combine(view, parts, '', extra);
  if (boot) {
    const inner = plan.state;
    plan.state = (st) => boot.state(inner ? inner(st) : st);
  }
  plan.refusals = [...(plan.refusals ?? []), ...refusals];
  plan.warnings = [...(plan.warnings ?? []), ...warnings];
  if (register) {
    plan.refusals = [...(plan.refusals ?? []), ...register.refusals];
    plan.warnings = [...(plan.warnings ?? []), ...register.warnings];
  }
  if (records.length) {
    const before = plan.state;
    plan.state = (st) => records.reduce((acc, f) => f(acc), before ? before(st) : st);
  }
  plan.question = `Apply ${plan.steps.length} steps for ${profile.name}?`;
  return plan;
}
