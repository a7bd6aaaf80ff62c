// The data of every read-only command's --json document. Each schema mirrors the command's
// *Data type; the schema tests run the commands on every fixture and hold the two together.
import { z } from 'zod';
import { address, bootloader, mdevRecord, checkStatus as status, classId, count, fileResult, hexId, int, pciFunction } from './common.js';

const check = z.object({ id: z.string().describe('stable check id, e.g. iommu.enabled'), status, summary: z.string(), remedy: z.string().nullable() });

/** doctor's per-GPU sharing verdict (src/sharing): how this GPU can be shared, and when. */
const sharing = z.object({
  strategy: z.enum(['passthrough', 'sriov', 'vendor-vfio', 'mdev', 'mig', 'virtio-gpu']),
  status: z.enum(['now', 'after', 'impossible', 'unknown']),
  summary: z.string(),
  command: z.string().nullable(),
  changes: z.array(z.object({ kind: z.string(), what: z.string(), command: z.string().nullable() })),
  source: z.string().nullable(),
});

/** doctor's per-GPU reset verdict (src/reset): the kernel's methods and the family's known behaviour. */
const reset = z.object({
  methods: z.array(z.string()),
  family: z.object({ family: z.string(), cards: z.string(), behaviour: z.string(), source: z.string() }).nullable(),
  vendorReset: z.enum(['loaded', 'installed', 'absent', 'unknown']),
  selected: z.boolean().describe('device_specific is the first method the kernel tries'),
  verdict: z.enum(['ok', 'vendor-reset', 'needs-setup', 'needs-vendor-reset', 'none']),
  summary: z.string(),
  command: z.string().nullable(),
});

const peer = z.object({ address, classId, name: z.string(), driver: z.string().nullable() });

const gpu = z.object({
  address, vendorId: hexId, deviceId: hexId, classId, name: z.string(), driver: z.string().nullable(),
  iommuGroup: count.nullable(), bootVga: z.boolean().nullable(), resetMethods: z.array(z.string()),
  sriov: z.object({ totalVfs: count, numVfs: count }).nullable(),
  physfn: address.nullable(),
  isolation: z.enum(['clean', 'shared', 'unknown']),
  blockingPeers: z.array(peer),
  sharing: z.array(sharing),
  reset: reset.nullable().describe('null for a VF'),
  companions: z.array(z.object({ address, iommuGroup: count.nullable(), blockingPeers: z.array(peer) }))
    .describe('functions of the GPU\'s slot in other IOMMU groups, judged with it'),
});

export const doctor = z.object({
  host: z.object({ kernel: z.string().nullable(), cpuVendor: z.enum(['intel', 'amd', 'other', 'unknown']), bootloader }),
  checks: z.array(check),
  iommu: z.object({ firmware: z.enum(['DMAR', 'IVRS', 'none', 'unknown']), enabled: z.boolean(), groupCount: count }),
  cmdline: z.object({ running: z.string().nullable(), configured: z.string().nullable() }),
  gpus: z.array(gpu),
});

const device = z.object({ ...pciFunction, className: z.string(), name: z.string() });

export const list = z.object({
  iommu: z.boolean(),
  groups: z.array(z.object({ id: count, devices: z.array(device) })),
  ungrouped: z.array(device),
  reason: z.string().nullable().describe('why devices have no IOMMU group, when some have none'),
});

export const statusData = z.object({
  devices: z.array(z.object({
    address,
    target: z.enum(['vfio-pci', 'pci-stub']),
    originalDriver: z.string().nullable(),
    originalModule: z.string().nullable(),
    originalOverride: z.string().nullable(),
    originalKnown: z.boolean().optional(),
    set: z.array(address).describe('every address taken together with this one'),
    persisted: z.boolean(),
    status: z.enum(['applying', 'bound', 'released']),
    since: z.string(),
    currentDriver: z.string().nullable(),
    present: z.boolean(),
  })),
  sriov: z.array(z.object({
    pf: address, numVfs: count, bind: z.literal('vfio-pci').nullable(), adapter: z.string(), persisted: z.boolean(),
    originalNumVfs: count, originalAutoprobe: z.boolean().nullable(), status: z.enum(['applying', 'done']), since: z.string(),
    currentNumVfs: count.nullable().describe('the VF count the PF reports now; null: the PF is gone'),
  })),
  vgpu: z.array(z.object({
    vf: address, pf: address, type: z.string(), typeName: z.string().nullable(), since: z.string(),
    currentType: z.string().nullable().describe('the type the VF shows now; null: the VF is gone, or shows none'),
  })).describe('vGPU types an earlier gpuvirt set again at boot on NVIDIA VFs with its own unit (until converted into the boot record; see hostConfig.legacy)'),
  mdevs: z.array(mdevRecord.extend({
    present: z.boolean().describe('the device exists now'),
    defined: z.boolean().describe('mdevctl defines it on its parent now (it is created again at boot)'),
  })).describe('mediated devices gpuvirt made (apply, mdev create, vgpu create)'),
  interrupted: z.object({ command: z.string(), pid: int, startedAt: z.string(), step: int, steps: int }).nullable().describe('a run that died or could not finish its rollback: `gpuvirt recover`'),
  hostConfig: z.object({
    config: z.string().nullable(), file: z.string().nullable().describe('the boot record, /etc/gpuvirt/host.yaml; null: none, only files of an earlier gpuvirt'),
    unit: z.string(), enabled: z.boolean(),
    devices: z.array(z.object({
      select: z.string(), driver: z.string().optional(), vfs: count.optional(), vfDriver: z.string().optional(), vgpu: z.string().optional(), resetMethod: z.string().optional(),
    })).describe('the entries of the recorded config'),
    early: z.array(z.object({ file: z.string(), holds: z.array(z.string()) })).describe('the early files generated from the record (udev, modprobe.d, initramfs) and what each holds'),
    legacy: z.array(z.string()).describe('boot files and state.json records of an earlier gpuvirt, in effect until the next --persist or `host unpersist` converts or removes them'),
  }).nullable()
    .describe('what this host keeps at boot: the record (`host apply --persist`, the single commands\' --persist) and what is generated from it; null when nothing is'),
});

const vf = z.object({
  index: count, address, vendorId: hexId, deviceId: hexId, driver: z.string().nullable(), iommuGroup: count.nullable(),
  inUse: z.boolean().nullable().describe('a process holds its device files (VFIO group, DRM node); null: the processes are not visible'),
  vgpuTypes: z.array(z.string()).nullable(),
});

export const pf = z.object({
  address, vendorId: hexId, deviceId: hexId, name: z.string(), classId, driver: z.string().nullable(),
  adapter: z.string().describe('generic, amd-gim, intel, nvidia'), adapterReason: z.string(),
  totalVfs: count, numVfs: count, driversAutoprobe: z.boolean().nullable(), vfs: z.array(vf),
});

export const sriovStatus = z.object({ pfs: z.array(pf) });

export const cmdline = z.object({
  running: z.string().nullable(),
  configured: z.string().nullable(),
  bootloader,
  params: z.array(z.object({ key: z.string(), running: z.string().nullable(), configured: z.string().nullable(), state: z.enum(['same', 'next-boot', 'this-boot', 'changed']) })),
});

export const mdevTypes = z.object({
  parents: z.array(z.object({
    parent: address,
    types: z.array(z.object({ id: z.string(), name: z.string().nullable(), availableInstances: count.nullable(), deviceApi: z.string().nullable(), description: z.string().nullable() })),
  })),
});

export const profileValidate = z.object({ valid: z.boolean(), files: z.array(fileResult) });

const value = z.union([z.string(), z.number(), z.null(), z.array(z.union([z.string(), z.number(), z.null()]))]);

export const profileCheck = z.object({
  file: z.string(),
  matches: z.boolean(),
  checks: z.array(z.object({
    device: count.describe('index in the profile\'s devices'),
    id: z.enum(['found', 'ids', 'subsystem', 'group', 'isolation', 'functions', 'vf-count', 'mdev-type', 'driver']),
    status,
    summary: z.string(),
    expected: value.describe('what the profile says; null when it records nothing'),
    actual: value.describe('what the host has; null when nothing'),
  })),
  profile: fileResult,
});

export const schema = z.object({ schema: z.record(z.string(), z.unknown()) });

export const generate = z.object({
  file: z.string(),
  target: z.enum(['qemu', 'libvirt', 'proxmox']),
  offline: z.boolean(),
  out: z.string().nullable(),
  devices: z.array(z.object({ index: count, kind: z.enum(['gpu', 'vf', 'mdev']), addresses: z.array(address), uuid: z.string().nullable() })),
  output: z.string().nullable().describe('the generated text; null when the profile is invalid'),
  argv: z.array(z.string()).optional().describe('qemu: the command as an argv array'),
  hostdevs: z.array(z.string()).optional().describe('libvirt --hostdev-only: one document per function, each for one `virsh attach-device`'),
  files: z.array(z.string()).optional().describe('--hostdev-only --out with several documents: the files written'),
  proxmox: z.object({
    vmid: int,
    artifact: z.enum(['conf', 'commands', 'mapping']).describe('the artifact that is the output'),
    config: z.array(z.object({ key: z.string(), value: z.string() })),
    commands: z.array(z.array(z.string())),
    mapping: z.string(),
    artifacts: z.object({ conf: z.string(), commands: z.string(), mapping: z.string() }).describe('each artifact\'s text'),
  }).optional(),
  profile: fileResult,
});

export const snapshot = z.object({
  out: z.string(), files: count, links: count, bytes: count, skipped: count,
  unreadable: z.array(z.object({ path: z.string(), errno: z.string() })),
});

export const init = z.object({
  out: z.string().nullable(),
  profile: z.string().describe('the profile text written'),
  device: z.object({
    address, name: z.string(), isolation: z.string(),
    kind: z.enum(['gpu', 'vf']).describe('a whole GPU, or an SR-IOV VF (a `type: vf` device)'),
    pf: address.nullable().describe('for a VF: its PF'),
    vf: z.union([z.int().min(0), z.literal('any')]).nullable().describe('for a VF: its index, or "any"'),
  }).nullable(),
});

export const version = z.object({ version: z.string() });

const mechanism = z.enum(['vendor-vfio', 'mdev']);

export const vgpuTypes = z.object({
  devices: z.array(z.object({
    address, name: z.string(), mechanism, parents: z.array(address),
    types: z.array(z.object({
      id: z.string(), name: z.string().nullable(),
      available: count.nullable().describe('free VFs that offer it (vendor-vfio) or available_instances (mdev)'),
      migBacked: z.boolean(), parent: address,
    })),
  })),
});

export const vgpuStatus = z.object({
  devices: z.array(z.object({
    address, name: z.string(), mechanism,
    vfs: z.array(z.object({ index: count, address, driver: z.string().nullable(), currentType: z.string().nullable(), currentName: z.string().nullable(), gpuInstanceId: int.nullable() })),
    instances: z.array(z.object({ uuid: z.string(), parent: address, type: z.string().nullable(), typeName: z.string().nullable() })),
  })),
  mig: z.array(z.object({
    address, known: z.boolean(), reason: z.string().nullable(),
    current: z.enum(['Enabled', 'Disabled', 'N/A']).nullable(), pending: z.enum(['Enabled', 'Disabled', 'N/A']).nullable(),
    gpuInstances: z.array(z.object({ id: int, computeInstances: z.array(int), multiprocessors: int.nullable(), memoryMiB: int.nullable() })),
    profiles: z.array(z.object({ name: z.string(), id: int, instances: count })).nullable(),
  })),
});
