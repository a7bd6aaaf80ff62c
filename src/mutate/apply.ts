// Performing one step of a plan, and checking it: the change engine (src/change/) decides the
// order, the journal, the undo and the report; this is what a single step does to the host.
import type { Exec } from '../host/exec.js';
import { type Host, linkName, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { errnoOf } from '../errors.js';
import type { Step, WriteRetry } from './steps.js';
import { gpuInstancesOf, readMig } from '../sharing/mig.js';

export interface StepReport {
  index: number;
  title: string;
  action: string;
  status: 'done' | 'failed';
  error?: string;
  /** The kernel's errno when a write failed (EBUSY, ERANGE, ...). */
  errno?: string;
}

export interface StepEnv {
  host: Host;
  exec: Exec;
  /** Replaces the real timer while polling (tests). */
  sleep?: (ms: number) => Promise<void>;
}

const ERRNO_TEXT: Record<string, string> = {
  EBUSY: 'device or resource busy',
  ENODEV: 'no such device (or the driver does not match it)',
  EINVAL: 'invalid argument',
  ENOENT: 'no such file or directory',
  ERANGE: 'out of range',
  EACCES: 'permission denied (or no such attribute)',
  EPERM: 'operation not permitted',
  EEXIST: 'already exists',
  ENOMEM: 'not enough memory or MMIO space',
  EIO: 'input/output error',
  ENOSPC: 'no room left (no more instances of this type fit)',
};

export function describeError(err: unknown): string {
  const errno = errnoOf(err);
  const tries = (err as { tries?: unknown } | null)?.tries;
  if (errno && ERRNO_TEXT[errno]) return `${errno} (${ERRNO_TEXT[errno]})${typeof tries === 'number' ? `, ${tries} tries` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

/** Performs one step; a failure throws (with the kernel's errno in `code` for a sysfs write). */
export async function runStep(step: Step, env: StepEnv): Promise<void> {
  const { host } = env;
  switch (step.kind) {
    case 'write':
      if (step.retry) return writeRetrying(host, step.path, step.value, step.retry, env.sleep ?? defaultSleep);
      host.writeAttr(step.path, step.value);
      return;
    case 'exec': {
      const r = await env.exec.run(step.argv);
      if (r.exitCode !== 0) {
        const detail = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ');
        throw new Error(`${step.argv[0]} exited with status ${r.exitCode}${detail ? `: ${detail}` : ''}`);
      }
      return;
    }
    case 'file':
    case 'remove-file':
      if (step.kind === 'file') host.writeFile(step.path, step.content, step.mode, { like: step.like, dirMode: step.dirMode });
      else host.removeFile(step.path);
      return;
    case 'verify-driver': {
      const now = linkName(host, paths.pciAttr(step.address, 'driver'));
      if (now !== step.driver) throw new Error(`${step.address} is bound to ${now ?? 'no driver'}, not ${step.driver ?? 'no driver'} (dmesg may say why)`);
      return;
    }
    case 'verify-not-driver': {
      const now = linkName(host, paths.pciAttr(step.address, 'driver'));
      if (now === step.not) throw new Error(`${step.address} is still bound to ${step.not}`);
      return;
    }
    case 'verify-exists':
      if (!host.exists(step.path)) throw new Error(`${step.path} does not exist`);
      return;
    case 'verify-not-exists':
      if (host.exists(step.path)) throw new Error(`${step.path} still exists`);
      return;
    case 'verify-text': {
      const words = new Set((host.readText(step.path) ?? '').split(/[\s"']+/));
      const missing = step.contains.filter((w) => !words.has(w));
      const present = step.absent.filter((a) => [...words].some((w) => w === a || w.startsWith(`${a}=`)));
      if (missing.length || present.length) {
        throw new Error(`${step.path}: ${[...missing.map((w) => `${w} missing`), ...present.map((w) => `${w} still there`)].join(', ')}`);
      }
      return;
    }
    case 'wait-vfs':
      await waitVfs(host, step.pf, step.count, step.timeoutMs, env.sleep ?? defaultSleep);
      return;
    case 'verify-mig':
      return verifyMig(env.exec, step);
  }
}

async function verifyMig(exec: Exec, step: Extract<Step, { kind: 'verify-mig' }>): Promise<void> {
  const report = await readMig(exec);
  if (!report.known) throw new Error(`MIG state unknown: ${report.reason}`);
  const gpu = report.gpus.find((g) => g.address === step.gpu);
  if (!gpu) throw new Error(`nvidia-smi does not list ${step.gpu}`);
  const gis = gpuInstancesOf(gpu);
  const wrong: string[] = [];
  if (step.pending && gpu.pending !== step.pending) wrong.push(`MIG mode pending is ${gpu.pending}, not ${step.pending}`);
  if (step.gpuInstances !== undefined && gis.size !== step.gpuInstances) wrong.push(`${gis.size} GPU instances, not ${step.gpuInstances}`);
  for (const id of step.absent ?? []) if (gis.has(id)) wrong.push(`GPU instance ${id} is still there`);
  if (wrong.length) throw new Error(`${step.gpu}: ${wrong.join('; ')}`);
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A write the kernel may refuse for a moment (NVIDIA's current_vgpu_type right after QEMU closes
 * the VF: Proxmox retries 10 times a second apart). Bounded; the last error says how many tries.
 */
async function writeRetrying(host: Host, path: string, value: string, retry: WriteRetry, sleep: (ms: number) => Promise<void>): Promise<void> {
  for (let tries = 1; ; tries++) {
    try {
      host.writeAttr(path, value);
      return;
    } catch (err) {
      if (!retry.errnos.includes(errnoOf(err) ?? '')) throw err;
      if (tries >= retry.attempts) throw Object.assign(err as Error, { tries });
    }
    await sleep(retry.delayMs);
    if (readAttr(host, path) === value.trim()) return;
  }
}

/** VFs come and go asynchronously (disable sleeps ~1 s in the kernel): poll sriov_numvfs and the virtfn links. */
async function waitVfs(host: Host, pf: string, count: number, timeoutMs: number, sleep: (ms: number) => Promise<void>): Promise<void> {
  const interval = 100;
  let last = -1;
  let stable = 0;
  for (let waited = 0; ; waited += interval) {
    const num = Number((host.readText(paths.pciAttr(pf, 'sriov_numvfs')) ?? '').trim());
    const links = (host.list(paths.pciDevice(pf)) ?? []).filter((e) => /^virtfn\d+$/.test(e));
    const present = links.filter((l) => host.exists(paths.pciAttr(pf, l))).length;
    if (num === count && links.length === count && present === count) return;
    stable = num === last ? stable + 1 : 0;
    last = num;
    // A driver may enable fewer VFs than asked; once the count holds still for a second, that is its answer.
    if (count > 0 && num > 0 && num !== count && stable >= 10) throw new Error(`${pf} reports ${num} VFs, not the ${count} asked: its driver enabled fewer`);
    if (waited >= timeoutMs) {
      throw new Error(`${pf} reports ${num} VFs with ${present} VF devices after ${Math.round(timeoutMs / 1000)} s, expected ${count}`);
    }
    await sleep(interval);
  }
}

