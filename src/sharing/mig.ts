// NVIDIA MIG through the exec seam: MIG has no sysfs interface, so nvidia-smi's
// machine-readable outputs are read, never its tables. Mode comes from
// `--query-gpu=... --format=csv,noheader`; instances from `nvidia-smi -q -x` (XML,
// nvsmi_device DTD: <gpu id=...><mig_mode><current_mig>, <mig_devices><mig_device>
// <gpu_instance_id>, <compute_instance_id>, <device_attributes><shared><multiprocessor_count>,
// <fb_memory_usage><total>). nvidia-smi lists GPU instance *profiles* only as a table
// (`mig -lgip`), so profiles come from the facts table (families.ts).
import type { Exec } from '../host/exec.js';
import { errnoOf } from '../errors.js';

export const MIG_MODE_ARGV = ['nvidia-smi', '--query-gpu=pci.bus_id,mig.mode.current,mig.mode.pending', '--format=csv,noheader'] as const;
export const MIG_XML_ARGV = ['nvidia-smi', '-q', '-x'] as const;

export type MigMode = 'Enabled' | 'Disabled' | 'N/A';

export interface MigDevice {
  gpuInstanceId: number;
  computeInstanceId: number;
  multiprocessors: number | null;
  memoryMiB: number | null;
}

export interface MigGpu {
  address: string;
  current: MigMode;
  pending: MigMode;
  devices: MigDevice[];
}

export type MigReport = { known: true; gpus: MigGpu[] } | { known: false; reason: string };

/** nvidia-smi's `00000000:41:00.0` → `0000:41:00.0`. */
export function normalizeBusId(id: string): string {
  const m = /^([0-9a-fA-F]+):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/.exec(id.trim());
  if (!m) return id.trim().toLowerCase();
  return `${m[1]!.slice(-4).padStart(4, '0')}:${m[2]}:${m[3]}.${m[4]}`.toLowerCase();
}

const mode = (s: string | undefined): MigMode => {
  const v = (s ?? '').trim();
  return v === 'Enabled' || v === 'Disabled' ? v : 'N/A';
};

export function parseModeCsv(text: string): MigGpu[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).map((line) => {
    const [bus, current, pending] = line.split(',');
    return { address: normalizeBusId(bus ?? ''), current: mode(current), pending: mode(pending), devices: [] };
  });
}

const tag = (xml: string, name: string): string | null => new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)?.[1]?.trim() ?? null;
const num = (s: string | null): number | null => (s !== null && /^\d+/.test(s) ? parseInt(s, 10) : null);

/** MIG devices per GPU address from `nvidia-smi -q -x`. */
export function parseMigXml(xml: string): Map<string, MigDevice[]> {
  const out = new Map<string, MigDevice[]>();
  for (const m of xml.matchAll(/<gpu id="([^"]+)">([\s\S]*?)<\/gpu>/g)) {
    const devices: MigDevice[] = [];
    for (const d of (tag(m[2]!, 'mig_devices') ?? '').matchAll(/<mig_device>([\s\S]*?)<\/mig_device>/g)) {
      const body = d[1]!;
      const gi = num(tag(body, 'gpu_instance_id'));
      const ci = num(tag(body, 'compute_instance_id'));
      if (gi === null || ci === null) continue;
      devices.push({ gpuInstanceId: gi, computeInstanceId: ci, multiprocessors: num(tag(body, 'multiprocessor_count')), memoryMiB: num(tag(tag(body, 'fb_memory_usage') ?? '', 'total')) });
    }
    out.set(normalizeBusId(m[1]!), devices);
  }
  return out;
}

function failure(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === 'E_EXEC_UNDER_ROOT') return 'gpuvirt runs no programs under --root, and MIG state is only known to nvidia-smi';
  // The exec seam's E_EXEC carries the spawn's errno as its cause.
  if (errnoOf(err) === 'ENOENT' || errnoOf((err as { cause?: unknown }).cause) === 'ENOENT') return 'nvidia-smi is not installed';
  return `nvidia-smi failed: ${(err as Error).message ?? String(err)}`;
}

/** MIG mode of every NVIDIA GPU, and the MIG devices of those in MIG mode. Never throws. */
export async function readMig(exec: Exec): Promise<MigReport> {
  try {
    const modes = await exec.run(MIG_MODE_ARGV, { timeoutMs: 20_000 });
    if (modes.exitCode !== 0) return { known: false, reason: `nvidia-smi exited with ${modes.exitCode}: ${modes.stderr.trim() || modes.stdout.trim()}` };
    const gpus = parseModeCsv(modes.stdout);
    if (gpus.some((g) => g.current === 'Enabled')) {
      const xml = await exec.run(MIG_XML_ARGV, { timeoutMs: 30_000 });
      if (xml.exitCode !== 0) return { known: false, reason: `nvidia-smi -q -x exited with ${xml.exitCode}` };
      const devices = parseMigXml(xml.stdout);
      for (const g of gpus) g.devices = devices.get(g.address) ?? [];
    }
    return { known: true, gpus };
  } catch (err) {
    return { known: false, reason: failure(err) };
  }
}

/** nvidia-smi's own form of a PCI address (`-i` takes it): `0000:41:00.0` → `00000000:41:00.0`. */
export function smiBusId(address: string): string {
  return `0000${address}`;
}

/**
 * The GPU instance profile a MIG-backed vGPU type needs, from its name: `<board>-<slices>-<GB>C`
 * (H100-1-10C, A100D-3-40C) → `1g.10gb`; the ME suffix (media extensions) → `1g.10gb+me`.
 */
export function migProfileOfType(name: string): string | null {
  const m = /-(\d+)-(\d+)C(ME)?$/.exec(name.trim());
  return m ? `${m[1]}g.${m[2]}gb${m[3] ? '+me' : ''}` : null;
}

/** NVML's compute instance profile ids by slice count (nvml.h NVML_COMPUTE_INSTANCE_PROFILE_<N>_SLICE). */
const CI_PROFILE_OF_SLICES: Record<number, number> = { 1: 0, 2: 1, 3: 2, 4: 3, 7: 4, 8: 5, 6: 6 };

/** The compute instance profile that fills a GPU instance of this profile (`3g.40gb` → 2), as `-C` makes. */
export function fullCiProfile(giProfile: string): number | null {
  const slices = Number(/^(\d+)g\./.exec(giProfile)?.[1]);
  return CI_PROFILE_OF_SLICES[slices] ?? null;
}

/** GPU instances (id → compute instance ids) as `-q -x` lists them: a GI without a CI is not there. */
export function gpuInstancesOf(gpu: MigGpu): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const d of gpu.devices) out.set(d.gpuInstanceId, [...(out.get(d.gpuInstanceId) ?? []), d.computeInstanceId]);
  return out;
}
