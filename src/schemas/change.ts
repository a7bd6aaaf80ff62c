// The data of every mutating command's --json document. Every one goes through the change engine
// (src/change/), so its data is one shape, `changeData` (plan, refusals, outcome, rollback, the
// facts before, now and as promised), with the command's own `view` fields next to it
// (ChangeResult<V> = V & ChangeData). Each schema mirrors the TypeScript type named above it;
// the schema tests run every command in every way it can end and hold the two together.
import { z } from 'zod';
import { address, bootloader, count, fileResult, int, mdevRecord } from './common.js';
import { pf } from './read.js';

// --- the change engine's part (src/change/types.ts, facts.ts, undo.ts, rollback.ts; src/mutate/steps.ts, apply.ts)

/** Fact (src/change/facts.ts): a host fact a change promises or watches. */
const fact = z.union([
  z.object({ kind: z.literal('driver'), address }),
  z.object({ kind: z.literal('override'), address }),
  z.object({ kind: z.literal('attr'), path: z.string() }),
  z.object({ kind: z.literal('file'), path: z.string() }),
  z.object({ kind: z.literal('exists'), path: z.string() }),
  z.object({ kind: z.literal('module'), name: z.string(), param: z.string().optional() }),
]);

const passthroughDriver = z.enum(['vfio-pci', 'pci-stub']);

/** Undo (src/change/undo.ts): what brings a step's change back, as data. */
const undo = z.union([
  z.object({
    kind: z.literal('restore-devices'),
    devices: z.array(z.object({
      address,
      want: z.string().nullable().describe('the driver to return to; null: none; "default": whatever the kernel matches'),
      wantOverride: z.string().nullable(),
      wantModule: z.string().nullable(),
    })),
  }),
  z.object({
    kind: z.literal('restore-sriov'), pf: address, numVfs: count, autoprobe: z.boolean().nullable(),
    vfDrivers: z.array(z.object({ address, driver: passthroughDriver })),
  }),
  z.object({
    kind: z.literal('restore-file'), path: z.string(),
    content: z.string().nullable().describe('null: the file did not exist'),
    mode: int.nullable(),
    dirs: z.array(z.string()).optional().describe('directories the change made for the file, removed when empty'),
  }),
  z.object({ kind: z.literal('restore-attr'), path: z.string(), value: z.string() }),
  z.object({ kind: z.literal('remove-mdev'), uuid: z.string() }),
  z.object({ kind: z.literal('create-mdev'), uuid: z.string(), parent: z.string(), type: z.string() }),
  z.object({ kind: z.literal('restore-vgpu-type'), vf: address, type: z.string().nullable() }),
  z.object({
    kind: z.literal('restore-mig'), gpu: address,
    keep: z.array(int).optional().describe('GPU instances that were there before: any other is destroyed'),
    restore: z.array(z.object({ id: int, profile: z.string().nullable(), profileId: int.nullable() })).optional()
      .describe('GPU instances brought back when gone (null profile: cannot be re-created)'),
  }),
  z.object({
    kind: z.literal('run'), argv: z.array(z.string()), title: z.string(),
    unless: z.array(z.object({ fact, value: z.string().nullable() })).optional().describe('skipped when any of these facts has its value'),
    late: z.boolean().optional().describe('run after every other undo'),
    onlyIf: z.array(z.string()).optional().describe('a read-only program run first: the undo runs only when it exits 0'),
  }),
]);

/** StepJson (src/mutate/steps.ts): a step as planned, the exact action, and its undo. */
const step = (kind: string, fields: z.ZodRawShape) => z.object({
  kind: z.literal(kind), ...fields, title: z.string(), action: z.string().describe('the exact action, as the plan prints it'),
  undo: z.array(undo).optional(),
});

export const planStep = z.union([
  step('write', {
    path: z.string(), value: z.string(),
    retry: z.object({ attempts: count, delayMs: count, errnos: z.array(z.string()) }).optional().describe('tried again while the write fails with one of errnos'),
  }),
  step('exec', { argv: z.array(z.string()) }),
  step('file', {
    path: z.string(), content: z.string(), mode: int.optional(),
    like: z.string().optional().describe('a new file takes this file\'s mode and owner'),
    dirMode: int.optional(),
  }),
  step('remove-file', { path: z.string() }),
  step('verify-driver', { address, driver: z.string().nullable() }),
  step('verify-not-driver', { address, not: z.string() }),
  step('verify-exists', { path: z.string() }),
  step('verify-not-exists', { path: z.string() }),
  step('verify-text', { path: z.string(), contains: z.array(z.string()), absent: z.array(z.string()) }),
  step('wait-vfs', { pf: address, count, timeoutMs: count }),
  step('verify-mig', {
    gpu: address, pending: z.enum(['Enabled', 'Disabled']).optional(), gpuInstances: count.optional().describe('how many GPU instances nvidia-smi shows'),
    absent: z.array(int).optional().describe('GPU instances nvidia-smi no longer shows'),
  }),
]);

/** Refusal (src/change/types.ts). */
export const refusal = z.object({
  code: z.string().describe('stable: vfio-held, shared-group, boot-param, ...'),
  address: address.optional(),
  message: z.string(),
  force: z.string().nullable().describe('what --force would do; null: --force cannot override it'),
});

/** RollbackReport (src/change/rollback.ts). */
export const rollback = z.object({
  ok: z.boolean().describe('every undo ran and every fact is as it was before'),
  actions: z.array(z.string()).describe('what was undone, in order'),
  errors: z.array(z.string()),
  differences: z.array(z.string()).describe('facts not as they were before'),
});

/** StepReport (src/mutate/apply.ts). */
const stepReport = z.object({
  index: int.describe('the step\'s index in steps; steps.length for the final read-back of the promised facts'),
  title: z.string(),
  action: z.string(),
  status: z.enum(['done', 'failed']),
  error: z.string().optional(),
  errno: z.string().optional().describe('the kernel\'s errno when a write failed: EBUSY, ERANGE, ...'),
});

/** ChangeData (src/change/types.ts): what the engine adds to every mutating command's data. */
export const changeData = {
  dryRun: z.boolean(),
  refusals: z.array(refusal).describe('every refusal at once'),
  blocked: z.boolean().describe('the refusals stopped the run (false when --force went past them)'),
  steps: z.array(planStep).describe('the plan, in order'),
  noop: z.boolean().describe('nothing to do: the host already is as asked'),
  applied: z.object({ ok: z.boolean(), steps: z.array(stepReport), rollback: rollback.nullable() }).nullable()
    .describe('null when nothing was applied (dry run, refused, nothing to do)'),
  facts: z.array(z.object({
    fact: z.string(), before: z.string().nullable(), now: z.string().nullable(),
    expected: z.string().nullable().optional().describe('what the change promised; absent for facts only watched for the rollback'),
  })).describe('the facts the change is about, before it and as the host shows them at the end (empty when nothing was applied)'),
  interrupted: z.enum(['SIGINT', 'SIGTERM', 'SIGHUP']).optional().describe('the signal that stopped the run; the change was undone'),
};

/** A mutating command's data: its view's fields and the change engine's. */
function change(view: z.ZodRawShape): z.ZodObject {
  return z.object({ ...view, ...changeData });
}

// --- each command's view

/** DeviceView (src/passthrough/render.ts). */
const deviceView = z.object({
  address,
  reason: z.enum(['requested', 'slot', 'group', 'managed']).describe('why the device is in the set'),
  classId: z.string(),
  name: z.string(),
  driver: z.string().nullable(),
  iommuGroup: count.nullable(),
});

/** PassthroughView (src/passthrough/change.ts). */
export const passthrough = change({ action: z.literal('passthrough'), target: passthroughDriver, devices: z.array(deviceView), bridges: z.array(address) });

/** ReleaseView (src/passthrough/release-change.ts). */
export const release = change({
  action: z.literal('release'), devices: z.array(deviceView),
  mdevs: z.array(mdevRecord.extend({ present: z.boolean().describe('the device exists now') })).describe('the mediated devices removed (and undefined in mdevctl when gpuvirt defined them)'),
});

/** SriovView (src/sriov/change.ts). */
const sriov = (action: 'enable' | 'disable') => change({
  action: z.literal(action),
  pf: pf.describe('the PF as it was when the plan was made'),
  adapter: z.enum(['generic', 'amd-gim', 'intel', 'nvidia']),
  requested: count,
  notes: z.array(z.string()),
  hint: z.string().nullable().describe('what the kernel\'s answer means, when a write failed with a known errno'),
  after: pf.nullable().describe('the PF as the host shows it after the run; null before a run, or when the PF is gone'),
  vfProfile: z.object({ exec_quantum_ms: count.optional(), preempt_timeout_us: count.optional() }).nullable().optional()
    .describe('enable on xe: the scheduling profile written to every VF (sriov_admin/vfN/profile); null: none asked'),
});
export const sriovEnable = sriov('enable');
export const sriovDisable = sriov('disable');

/** MdevView (src/mdev/change.ts). */
const mdev = (action: 'create' | 'remove') => change({ action: z.literal(action), uuid: z.string(), parent: address.nullable(), type: z.string().nullable() });
export const mdevCreate = mdev('create');
export const mdevRemove = mdev('remove');

/** VgpuView (src/vgpu/change.ts). */
const vgpu = (action: 'create' | 'remove') => change({
  action: z.literal(action),
  mechanism: z.enum(['vendor-vfio', 'mdev']),
  gpu: address.nullable(),
  vf: address.nullable().describe('vendor-vfio: the VF the vGPU is on'),
  chosen: z.boolean().describe('gpuvirt chose the VF (none was named)'),
  uuid: z.string().nullable().describe('mdev: the instance'),
  parent: address.nullable(),
  type: z.string().nullable(),
  typeName: z.string().nullable(),
  previous: z.string().nullable().describe('the type the VF held before'),
  previousName: z.string().nullable(),
  migProfile: z.string().nullable().optional().describe('a MIG-backed type: the GPU instance profile it lives on'),
  gpuInstance: int.nullable().optional().describe('the GPU instance asked for (--gpu-instance), or after the run the one the driver chose'),
});
export const vgpuCreate = vgpu('create');
export const vgpuRemove = vgpu('remove');

const migMode = z.enum(['Enabled', 'Disabled', 'N/A']);

/** MigView (src/vgpu/mig.ts): vgpu mig enable|disable|create|destroy. */
export const vgpuMig = change({
  action: z.enum(['enable', 'disable', 'create', 'destroy']),
  gpu: address,
  current: migMode.describe('MIG mode when planned, as nvidia-smi showed it'),
  pending: migMode,
  gpuInstances: z.array(z.object({ id: int, computeInstances: z.array(int) })),
  profiles: z.array(z.object({ name: z.string().nullable(), id: int.nullable() })).describe('create: the profiles asked for; destroy: each instance\'s, where known'),
  destroy: z.array(count),
  holders: z.array(z.object({ pid: int, comm: z.string(), file: z.string() })).describe('what keeps the GPU from resetting: a mode change stays pending while any is there'),
  after: z.object({ current: migMode, pending: migMode, gpuInstances: z.array(int) }).nullable().describe('after the run, as nvidia-smi shows it'),
  pendingReset: z.boolean().describe('the mode asked for is set but takes effect only when the GPU is reset'),
});

/** SetupView (src/setup/change.ts): setup, setup --reset and setup --undo. */
export const setup = change({
  action: z.enum(['setup', 'undo']),
  bootloader: z.object({ kind: bootloader.shape.kind, reason: z.string() }),
  change: z.object({ add: z.array(z.string()), remove: z.array(z.string()) }).describe('kernel parameters added and removed'),
  vfioModules: z.boolean(),
  reset: z.array(z.object({ address, family: z.string(), before: z.array(z.string()) })).describe('GPUs whose reset_method becomes device_specific'),
  notes: z.array(z.string()),
  cannot: z.array(z.string()).optional().describe('what keeps the host from passthrough that setup cannot change; absent for --undo'),
  files: z.array(z.object({ path: z.string(), created: z.boolean(), removed: z.boolean(), diff: z.string() })),
  rebootRequired: z.boolean().nullable().describe('after this run, the configured kernel command line differs from the running one (a reboot applies it); null when the configured line cannot be read'),
});

/** SingleGpuView (src/singlegpu/change.ts). */
export const singlegpu = change({
  action: z.enum(['install', 'undo']),
  vm: z.string(),
  hook: z.string().describe('the hook file'),
  script: z.string().nullable().describe('the hook exactly as written; null for --undo'),
  preflight: z.array(z.string()),
});

/** ApplyView (src/commands/apply.ts). */
export const apply = change({
  file: z.string(),
  devices: z.array(z.object({ index: count, kind: z.enum(['gpu', 'vf', 'mdev']), addresses: z.array(address), uuid: z.string().nullable() })),
  configs: z.array(z.object({ target: z.enum(['qemu', 'libvirt', 'proxmox']), path: z.string() })).describe('the VM configs written once the host matches'),
  register: z.enum(['libvirt', 'proxmox', 'qemu']).nullable().describe('the consumer the VM is registered with (--register), or null'),
  profile: fileResult,
});

/** RecoverData (src/change/recover.ts). */
export const recover = z.object({
  found: z.boolean().describe('a journal of an interrupted run was found'),
  dryRun: z.boolean(),
  run: z.object({
    command: z.string(), pid: int, startedAt: z.string(),
    step: int.describe('the step it had started, from 1'), steps: count, rollbackIncomplete: z.boolean(),
  }).nullable(),
  undo: z.array(z.string()).describe('what recovery does, in order'),
  facts: z.array(z.object({ fact: z.string(), before: z.string().nullable() })).describe('the facts the run was about, as they were before it'),
  applied: rollback.nullable(),
});

// --- host configs (src/commands/host/): the field names Ansible modules return

/** AnsibleResult (src/commands/host/common.ts). */
const ansible = {
  file: z.string(),
  config: z.string(),
  changed: z.boolean(),
  failed: z.boolean(),
  msg: z.string(),
  diff: z.object({ before: z.record(z.string(), z.unknown()), after: z.record(z.string(), z.unknown()) }),
  reboot_required: z.boolean(),
  differences: z.array(z.object({
    subject: z.string().describe('a PCI address, or "host"'),
    name: z.string(),
    field: z.enum(['driver', 'vfs', 'vfDriver', 'resetMethod', 'vgpu', 'kernelParams', 'vfioModules', 'resetRule'])
      .describe('vgpu: vGPUs per type label, e.g. {"NVIDIA L40S-8Q (1152)": 2}'),
    before: z.unknown(),
    after: z.unknown(),
  })),
  problems: z.array(z.string()).describe('what stops the config from applying here'),
  configFound: z.boolean().describe('the file is valid and has the named config'),
  validation: fileResult,
};

export const hostDiff = z.object(ansible);
export const hostAssert = z.object(ansible);
/** --wait-ready's look at the host (src/hostconfig/ready.ts). */
const ready = z.object({
  ready: z.boolean(),
  polls: int.describe('how many times the host was looked at'),
  waitedMs: int,
  missing: z.array(z.string()).describe('what was still missing at the last look; empty when ready'),
}).describe('the readiness wait, with --wait-ready');
/** host apply's own fields (src/commands/host/apply.ts). */
const hostApplyExtra = {
  ready: ready.optional(),
  persisted: z.object({ config: z.string(), file: z.string(), unit: z.string() }).optional()
    .describe('with --persist: the config applied at every boot, where it is recorded, and the unit'),
  firstChange: z.object({ steps: z.int().min(0), applied: z.boolean() }).optional()
    .describe('when this apply made VFs and then gave them their vGPUs, or a VF named by address its driver, as a second change: the first change (it stays applied); the rest is the second change\'s, the diff from before the first'),
};
/** host apply: the Ansible result, with the change engine's data once the config was found (and the host was ready). */
export const hostApply = z.union([
  z.object({ ...ansible, ...hostApplyExtra, configFound: z.literal(true) }).extend(changeData),
  z.object({ ...ansible, configFound: z.literal(true), ready: ready.extend({ ready: z.literal(false) }) }).describe('--wait-ready gave up: nothing was planned or changed'),
  z.object({ ...ansible, configFound: z.literal(false) }),
]);
/** MappingSection (src/generate/proxmox.ts): one /etc/pve/mapping/pci.cfg section. */
const mappingSection = z.object({ id: z.string(), map: z.array(z.string()).describe('complete map lines: id, iommugroup, node, path, subsystem-id'), description: z.string(), mdev: z.boolean() });

/** HostExportData (src/commands/host/export.ts): the host config, or what the host has prepared for one target. */
export const hostExport = z.object({
  target: z.enum(['config', 'kubevirt', 'nova', 'proxmox-mappings']),
  config: z.string().describe('config target: the name of the config written'),
  node: z.string().nullable().describe('the node name used (--node or the hostname); null when unknown'),
  text: z.string().describe('the output: the HostConfig file, the KubeVirt YAML, nova.conf lines, or the Proxmox artifact'),
  kubevirt: z.object({
    permittedHostDevices: z.object({
      pciHostDevices: z.array(z.object({ pciVendorSelector: z.string(), resourceName: z.string(), externalResourceProvider: z.boolean() })).optional(),
      mediatedDevices: z.array(z.object({ mdevNameSelector: z.string(), resourceName: z.string() })).optional(),
    }),
    mediatedDevicesConfiguration: z.object({
      nodeMediatedDeviceTypes: z.array(z.object({ nodeSelector: z.record(z.string(), z.string()), mediatedDeviceTypes: z.array(z.string()) })),
    }).optional(),
  }).optional().describe('kubevirt: the KubeVirt CR\'s spec.configuration fragment'),
  nova: z.object({
    deviceSpecs: z.array(z.record(z.string(), z.string())).describe('[pci] device_spec objects'),
    aliases: z.array(z.record(z.string(), z.string())).describe('[pci] alias objects'),
    mdevTypes: z.array(z.object({ type: z.string(), addresses: z.array(z.string()) })).describe('[devices] enabled_mdev_types and each type\'s device_addresses'),
  }).optional(),
  proxmox: z.object({
    artifact: z.enum(['commands', 'mapping']), sections: z.array(mappingSection), commands: z.array(z.array(z.string())).describe('pvesh create, as argv'),
    mapping: z.string().describe('the pci.cfg sections'), script: z.string().describe('the pvesh commands as a script'),
  }).optional(),
});

/** LabelsView (src/commands/host/labels.ts): the NFD labels, and the change that writes them unless --stdout. */
const labelsView = {
  namespace: z.string(),
  labels: z.array(z.object({ key: z.string(), value: z.string() })),
  hostConfig: z.object({ name: z.string(), asserted: z.boolean().describe('host assert passes for it') }).nullable(),
  text: z.string().describe('the features.d file'),
};
export const hostLabels = z.union([
  z.object({ ...labelsView, out: z.string().describe('the file written') }).extend(changeData),
  z.object({ ...labelsView, out: z.null().describe('--stdout: nothing written') }),
]);
/** host unpersist: the boot-time apply removed. */
export const hostUnpersist = change({
  config: z.string().nullable().describe('the config the boot unit applied; null when none can be read from it'),
  file: z.string(),
  unit: z.string(),
});
