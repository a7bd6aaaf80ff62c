// The registry: every subcommand, in the order `gpuvirt --help` lists them. A command's module
// is imported only when that command runs (or for help), so no command's start pays for the
// code of the others; `name` is the command's own `name`, as typed ("sriov enable").
import type { AnyCommand } from './command.js';

/** The groups of commands ("sriov enable" is enable in group sriov), with their summaries. */
export const GROUPS: Record<string, string> = {
  sriov: 'manage SR-IOV virtual functions: status, enable, disable',
  vgpu: 'manage vGPUs over NVIDIA vendor-specific VFIO and mdev, and MIG: types, status, create, remove',
  mdev: 'manage mediated devices (Intel GVT-g, NVIDIA vGPU): types, create, remove',
  profile: 'work with VM profiles: validate, check against the hardware, JSON Schema',
  host: 'manage declarative host state for fleets: diff, assert, apply, export a host config',
};

export interface CommandEntry {
  name: string;
  load(): Promise<AnyCommand>;
}

export const commands: CommandEntry[] = [
  { name: 'doctor', load: async () => (await import('./doctor.js')).doctor },
  { name: 'list', load: async () => (await import('./list.js')).list },
  { name: 'passthrough', load: async () => (await import('./passthrough.js')).passthrough },
  { name: 'release', load: async () => (await import('./release.js')).release },
  { name: 'status', load: async () => (await import('./status.js')).status },
  { name: 'recover', load: async () => (await import('./recover.js')).recoverCommand },
  { name: 'sriov status', load: async () => (await import('./sriov/status.js')).sriovStatus },
  { name: 'sriov enable', load: async () => (await import('./sriov/enable.js')).sriovEnable },
  { name: 'sriov disable', load: async () => (await import('./sriov/disable.js')).sriovDisable },
  { name: 'vgpu types', load: async () => (await import('./vgpu/types.js')).vgpuTypes },
  { name: 'vgpu status', load: async () => (await import('./vgpu/status.js')).vgpuStatus },
  { name: 'vgpu create', load: async () => (await import('./vgpu/create.js')).vgpuCreate },
  { name: 'vgpu remove', load: async () => (await import('./vgpu/create.js')).vgpuRemove },
  { name: 'vgpu mig', load: async () => (await import('./vgpu/mig.js')).vgpuMig },
  { name: 'mdev types', load: async () => (await import('./mdev/types.js')).mdevTypes },
  { name: 'mdev create', load: async () => (await import('./mdev/create.js')).mdevCreate },
  { name: 'mdev remove', load: async () => (await import('./mdev/create.js')).mdevRemove },
  { name: 'snapshot', load: async () => (await import('./snapshot.js')).snapshot },
  { name: 'singlegpu', load: async () => (await import('./singlegpu.js')).singleGpu },
  { name: 'setup', load: async () => (await import('./setup.js')).setup },
  { name: 'cmdline', load: async () => (await import('./cmdline.js')).cmdline },
  { name: 'profile validate', load: async () => (await import('./profile/validate.js')).profileValidate },
  { name: 'profile schema', load: async () => (await import('./profile/schema.js')).profileSchemaCommand },
  { name: 'profile check', load: async () => (await import('./profile/check.js')).profileCheck },
  { name: 'generate', load: async () => (await import('./generate.js')).generate },
  { name: 'apply', load: async () => (await import('./apply.js')).apply },
  { name: 'host schema', load: async () => (await import('./host/schema.js')).hostSchemaCommand },
  { name: 'host diff', load: async () => (await import('./host/diff.js')).hostDiff },
  { name: 'host assert', load: async () => (await import('./host/assert.js')).hostAssert },
  { name: 'host apply', load: async () => (await import('./host/apply.js')).hostApply },
  { name: 'host unpersist', load: async () => (await import('./host/unpersist.js')).hostUnpersist },
  { name: 'host export', load: async () => (await import('./host/export.js')).hostExport },
  { name: 'host labels', load: async () => (await import('./host/labels.js')).hostLabels },
  { name: 'init', load: async () => (await import('./init.js')).init },
  { name: 'schema', load: async () => (await import('./schema.js')).schemaCommand },
];
