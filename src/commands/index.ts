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
  /** Absent in a bundle made for another command (see GPUVIRT_ONLY below). */
  load: (() => Promise<AnyCommand>) | undefined;
}

/**
 * GPUVIRT_ONLY: the one command a per-command bundle holds. The build defines it (esbuild's
 * define) for the bundles of the read-only commands; every other command's `load` is then
 * undefined and its code left out of that bundle (esbuild folds each condition below, so
 * they must stay literal), and a short command reads and compiles only its own code. Source
 * runs (tests, tsx) and the whole program's bundle have no GPUVIRT_ONLY (src/bundle.d.ts).
 */
export const commands: CommandEntry[] = [
  { name: 'doctor', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'doctor' ? async () => (await import('./doctor.js')).doctor : undefined },
  { name: 'list', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'list' ? async () => (await import('./list.js')).list : undefined },
  { name: 'passthrough', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'passthrough' ? async () => (await import('./passthrough.js')).passthrough : undefined },
  { name: 'release', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'release' ? async () => (await import('./release.js')).release : undefined },
  { name: 'status', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'status' ? async () => (await import('./status.js')).status : undefined },
  { name: 'recover', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'recover' ? async () => (await import('./recover.js')).recoverCommand : undefined },
  { name: 'sriov status', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'sriov status' ? async () => (await import('./sriov/status.js')).sriovStatus : undefined },
  { name: 'sriov enable', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'sriov enable' ? async () => (await import('./sriov/enable.js')).sriovEnable : undefined },
  { name: 'sriov disable', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'sriov disable' ? async () => (await import('./sriov/disable.js')).sriovDisable : undefined },
  { name: 'vgpu types', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'vgpu types' ? async () => (await import('./vgpu/types.js')).vgpuTypes : undefined },
  { name: 'vgpu status', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'vgpu status' ? async () => (await import('./vgpu/status.js')).vgpuStatus : undefined },
  { name: 'vgpu create', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'vgpu create' ? async () => (await import('./vgpu/create.js')).vgpuCreate : undefined },
  { name: 'vgpu remove', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'vgpu remove' ? async () => (await import('./vgpu/create.js')).vgpuRemove : undefined },
  { name: 'vgpu mig', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'vgpu mig' ? async () => (await import('./vgpu/mig.js')).vgpuMig : undefined },
  { name: 'mdev types', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'mdev types' ? async () => (await import('./mdev/types.js')).mdevTypes : undefined },
  { name: 'mdev create', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'mdev create' ? async () => (await import('./mdev/create.js')).mdevCreate : undefined },
  { name: 'mdev remove', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'mdev remove' ? async () => (await import('./mdev/create.js')).mdevRemove : undefined },
  { name: 'snapshot', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'snapshot' ? async () => (await import('./snapshot.js')).snapshot : undefined },
  { name: 'singlegpu', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'singlegpu' ? async () => (await import('./singlegpu.js')).singleGpu : undefined },
  { name: 'setup', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'setup' ? async () => (await import('./setup.js')).setup : undefined },
  { name: 'cmdline', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'cmdline' ? async () => (await import('./cmdline.js')).cmdline : undefined },
  { name: 'profile validate', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'profile validate' ? async () => (await import('./profile/validate.js')).profileValidate : undefined },
  { name: 'profile schema', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'profile schema' ? async () => (await import('./profile/schema.js')).profileSchemaCommand : undefined },
  { name: 'profile check', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'profile check' ? async () => (await import('./profile/check.js')).profileCheck : undefined },
  { name: 'generate', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'generate' ? async () => (await import('./generate.js')).generate : undefined },
  { name: 'apply', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'apply' ? async () => (await import('./apply.js')).apply : undefined },
  { name: 'host schema', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'host schema' ? async () => (await import('./host/schema.js')).hostSchemaCommand : undefined },
  { name: 'host diff', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'host diff' ? async () => (await import('./host/diff.js')).hostDiff : undefined },
  { name: 'host assert', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'host assert' ? async () => (await import('./host/assert.js')).hostAssert : undefined },
  { name: 'host apply', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'host apply' ? async () => (await import('./host/apply.js')).hostApply : undefined },
  { name: 'host unpersist', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'host unpersist' ? async () => (await import('./host/unpersist.js')).hostUnpersist : undefined },
  { name: 'host export', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'host export' ? async () => (await import('./host/export.js')).hostExport : undefined },
  { name: 'host labels', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'host labels' ? async () => (await import('./host/labels.js')).hostLabels : undefined },
  { name: 'init', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'init' ? async () => (await import('./init.js')).init : undefined },
  { name: 'schema', load: typeof GPUVIRT_ONLY !== 'string' || GPUVIRT_ONLY === 'schema' ? async () => (await import('./schema.js')).schemaCommand : undefined },
];

/** Every command's definition (help, the man page): the whole program only. */
export function loadAll(): Promise<AnyCommand[]> {
  return Promise.all(commands.map((c) => {
    if (!c.load) throw new Error(`unreachable: ${c.name} is not in this bundle`);
    return c.load();
  }));
}
