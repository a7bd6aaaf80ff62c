// How far this host is from a config: per-device differences (driver, VF count, the VFs'
// driver), the host-wide ones (kernel parameters, vfio modules at boot), whether a reboot is
// still needed for what is configured to take effect, and the diff in the shape Ansible shows
// (`diff: {before, after}`). The host-wide part is what `gpuvirt setup` would change: its own
// planner is asked, so both commands agree on what "done" is. A device's resetMethod is
// setup --reset's change for that GPU: reset_method now, and the udev rule that sets it at boot.
// A device's vgpu is `vgpu remove|create` on its VFs (vgpu.ts), compared as vGPUs per type.
import type { Ctx } from '../context.js';
import { GpuvirtError } from '../errors.js';
import { formatParam, normalizeKey, paramValue, parseCmdline, type KernelParam } from '../detect/cmdline.js';
import { iommuActive } from '../doctor/checks.js';
import { gatherFacts } from '../doctor/facts.js';
import type { ChangePlan } from '../change/types.js';
import { planSetup, type SetupView } from '../setup/change.js';
import { vfioLoadedAtBoot } from '../setup/modules.js';
import type { HostConfig } from './schema.js';
import { futureVfs, selectDevices, type SelectedDevice } from './state.js';
import { needsDeviceSpecific } from '../reset/judge.js';
import { RESET_RULE, ruleAddresses } from '../reset/change.js';
import { readVgpuDevices } from '../sharing/vgpu.js';
import { planVgpuLayout, vfHeld, vgpuLayout, type VgpuLayout } from './vgpu.js';

export interface Difference {
  /** A PCI address, or "host". */
  subject: string;
  name: string;
  field: 'driver' | 'vfs' | 'vfDriver' | 'resetMethod' | 'vgpu' | 'kernelParams' | 'vfioModules' | 'resetRule';
  before: unknown;
  after: unknown;
}

export interface Inspection {
  devices: SelectedDevice[];
  /** What stops the config from applying here (a selector naming nothing, no SR-IOV, no bootloader). */
  problems: string[];
  differences: Difference[];
  /** The configured kernel command line is not the running one, for what the config asks. */
  rebootRequired: boolean;
  /** ...and would not be once `host apply` has edited the configuration. */
  rebootAfterApply: boolean;
  diff: { before: Record<string, unknown>; after: Record<string, unknown> };
  /** setup's change for the host-wide items, when they need one. */
  setup: ChangePlan<SetupView> | null;
  /** `vgpu remove|create` changes for the devices' vgpu entries, in the order they run. */
  vgpu: ChangePlan<unknown>[];
  /** GPUs whose VFs this apply makes: their vGPUs come with the next apply. */
  vgpuDeferred: string[];
  /** VFs named by address that this apply makes (with their PF): their entries come with the next apply. */
  vfDeferred: { vf: string; pf: string }[];
}

const vfDrivers = (d: SelectedDevice): string | null => {
  const names = [...new Set((d.now.sriov?.vfs ?? []).map((v) => v.driver ?? 'none'))];
  return names.length === 0 ? null : names.join(',');
};

function deviceDiff(d: SelectedDevice, problems: string[], layout: VgpuLayout | null): { before: Record<string, unknown>; after: Record<string, unknown>; differences: Difference[] } {
  const out: Difference[] = [];
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  const add = (field: Difference['field'], was: unknown, will: unknown) => {
    before[field] = was;
    after[field] = will;
    if (JSON.stringify(was) !== JSON.stringify(will)) out.push({ subject: d.now.address, name: d.now.name, field, before: was, after: will });
  };
  if (d.want.driver) add('driver', d.now.driver, d.want.driver);
  if (d.want.sriov) {
    if (!d.now.sriov) problems.push(`${d.now.address} (${d.now.name}) cannot make SR-IOV VFs: it has no sriov_totalvfs`);
    else {
      if (d.want.sriov.vfs > d.now.sriov.totalVfs) problems.push(`${d.now.address} offers at most ${d.now.sriov.totalVfs} VFs, not ${d.want.sriov.vfs}`);
      add('vfs', d.now.sriov.numVfs, d.want.sriov.vfs);
      if (d.want.sriov.vfDriver && d.want.sriov.vfs > 0) add('vfDriver', d.now.sriov.numVfs === d.want.sriov.vfs ? vfDrivers(d) : null, d.want.sriov.vfDriver);
    }
  }
  if (d.want.resetMethod) {
    // The kernel offers device_specific only through vendor-reset, which knows these families alone.
    if (!needsDeviceSpecific({ ...d.now, physfn: null })) problems.push(`${d.now.address} (${d.now.name}) is not a GPU vendor-reset resets (AMD Polaris, Vega, Navi 10/12/14): resetMethod device_specific is for those`);
    else add('resetMethod', d.now.resetMethods.join(' ') || null, d.want.resetMethod);
  }
  // vGPUs per type, as "NVIDIA L40S-8Q (1152)": 2.
  if (layout) add('vgpu', layout.before, layout.after);
  return { before, after, differences: out };
}

/** The kernel parameters the config asks for, as `--param` would. */
export function configParams(config: HostConfig): KernelParam[] {
  return config.host.kernelParams.flatMap((p) => parseCmdline(p));
}

/** `reset`: the GPUs the config resets through vendor-reset (setup --reset for exactly these). */
async function hostSide(ctx: Ctx, config: HostConfig, reset: string[], problems: string[]) {
  const params = configParams(config);
  const loaded = vfioLoadedAtBoot(ctx.host);
  const vfioModules = config.host.vfioModules && !loaded;
  let setup: ChangePlan<SetupView> | null = null;
  if (config.host.iommu || params.length || vfioModules || reset.length) {
    try {
      setup = await planSetup(ctx, { iommu: config.host.iommu, vfioModules, params, removeParams: [], ...(reset.length ? { reset: true, resetOnly: reset } : {}) });
    } catch (err) {
      if (!(err instanceof GpuvirtError)) throw err;
      problems.push(`${err.message}${err.hint ? ` (${err.hint})` : ''}`);
    }
  }
  if (setup?.refusals?.length) {
    // What stops setup (vendor-reset missing) stops the config: a problem, refused once by apply.
    problems.push(...setup.refusals.filter((r) => r.force === null).map((r) => r.message));
    setup.refusals = setup.refusals.filter((r) => r.force !== null);
  }
  const facts = gatherFacts(ctx.host);
  const configured = facts.configuredParams ?? [];
  const added = setup ? setup.view.change.add.flatMap((p) => parseCmdline(p)) : [];
  const wanted = [...params, ...added.filter((a) => !params.some((p) => normalizeKey(p.key) === normalizeKey(a.key)))];
  const isConfigured = (p: KernelParam) => paramValue(configured, p.key) === p.value;
  // An IOMMU parameter configured by an earlier apply is no longer "wanted" by setup, but until
  // the reboot the IOMMU stays off. Without a known configuration there is nothing to compare.
  const keys = new Set([...wanted.map((p) => normalizeKey(p.key)), ...(config.host.iommu && !iommuActive(facts) ? ['intel_iommu'] : [])]);
  const after = [...configured, ...added];
  const differs = (conf: KernelParam[]) => facts.configuredParams !== null && [...keys].some((k) => paramValue(facts.cmdline.params, k) !== paramValue(conf, k));
  const rebootRequired = differs(configured);
  const rebootAfterApply = differs(after);
  if (config.host.iommu && !iommuActive(facts) && !rebootAfterApply) {
    // Nothing on the command line turns it on: the firmware switch is off, or the firmware has no IOMMU.
    problems.push(`the IOMMU is off and no kernel parameter turns it on: enable VT-d / AMD-Vi (IOMMU) in the firmware setup (\`gpuvirt doctor\` says more)`);
  }
  const before: Record<string, unknown> = {};
  const want: Record<string, unknown> = {};
  const differences: Difference[] = [];
  if (wanted.length) {
    before.kernelParams = wanted.filter(isConfigured).map(formatParam);
    want.kernelParams = wanted.map(formatParam);
    if (JSON.stringify(before.kernelParams) !== JSON.stringify(want.kernelParams)) differences.push({ subject: 'host', name: 'kernel command line', field: 'kernelParams', before: before.kernelParams, after: want.kernelParams });
  }
  if (config.host.vfioModules) {
    before.vfioModules = loaded;
    want.vfioModules = true;
    if (!loaded) differences.push({ subject: 'host', name: 'vfio modules at boot', field: 'vfioModules', before: false, after: true });
  }
  if (reset.length) {
    // The rule lists the GPUs whose reset_method udev sets at boot: exactly the config's.
    before.resetRule = ruleAddresses(ctx.host.readText(RESET_RULE)).sort();
    want.resetRule = [...reset].sort();
    if (JSON.stringify(before.resetRule) !== JSON.stringify(want.resetRule)) differences.push({ subject: 'host', name: `reset at boot (${RESET_RULE})`, field: 'resetRule', before: before.resetRule, after: want.resetRule });
  }
  // setup verifies and records even when it edits nothing: only a file, a program or an attribute write is a change.
  const changes = setup !== null && (setup.view.files.length > 0 || setup.steps.some((st) => st.kind === 'exec' || st.kind === 'write'));
  return { setup: changes ? setup : null, rebootRequired, rebootAfterApply, before, after: want, differences };
}

export async function inspect(ctx: Ctx, config: HostConfig): Promise<Inspection> {
  const selection = selectDevices(ctx.host, ctx.names, config);
  // A VF named by its address that a selected PF makes in this apply is not missing: it is there
  // once the VFs are, and a second change gives it what its entry says.
  const future = futureVfs(ctx.host, selection.devices);
  const vfDeferred: { vf: string; pf: string }[] = [];
  const problems = selection.problems.filter((p) => {
    const entry = /^devices\[(\d+)\]: no device on this host matches/.exec(p);
    const vf = entry ? config.devices[Number(entry[1])]?.select.address : undefined;
    const pf = vf ? future.get(vf) : undefined;
    if (!vf || !pf) return true;
    vfDeferred.push({ vf, pf });
    return false;
  });
  const reset = selection.devices.filter((d) => d.want.resetMethod && needsDeviceSpecific({ ...d.now, physfn: null })).map((d) => d.now.address);
  const host = await hostSide(ctx, config, reset, problems);
  const before: Record<string, unknown> = { host: host.before, devices: {} };
  const after: Record<string, unknown> = { host: host.after, devices: {} };
  const differences = [...host.differences];
  const gpus = selection.devices.some((d) => d.want.vgpu) ? readVgpuDevices(ctx.host) : [];
  const vgpu: ChangePlan<unknown>[] = [];
  const vgpuDeferred: string[] = [];
  for (const d of selection.devices) {
    const layout = d.want.vgpu ? vgpuLayout(ctx.host, d, gpus, vfHeld(ctx), problems) : null;
    if (layout?.deferred) vgpuDeferred.push(d.now.address);
    else if (layout) vgpu.push(...await planVgpuLayout(ctx, layout, problems));
    const r = deviceDiff(d, problems, layout);
    (before.devices as Record<string, unknown>)[d.now.address] = r.before;
    (after.devices as Record<string, unknown>)[d.now.address] = r.after;
    differences.push(...r.differences);
  }
  for (const { vf, pf } of vfDeferred) {
    const want = config.devices.find((d) => d.select.address === vf);
    if (want?.driver) differences.push({ subject: vf, name: `VF of ${pf}, made by this apply`, field: 'driver', before: null, after: want.driver });
  }
  return { devices: selection.devices, problems, differences, rebootRequired: host.rebootRequired, rebootAfterApply: host.rebootAfterApply, diff: { before, after }, setup: host.setup, vgpu, vgpuDeferred, vfDeferred };
}
