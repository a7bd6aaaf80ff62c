// Runs the real gpuvirt (bin/gpuvirt under the guest's node) and the VFIO helper, and keeps
// what they printed for the failure messages.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { ChangeData } from './contract.js';

export const GPUVIRT = '/opt/gpuvirt/bin/gpuvirt';
export const VFIO_CHECK = '/opt/e2e/vfio-check';
/** Where gpuvirt records the devices it manages (README: release works in a later run). */
export const STATE_FILE = '/var/lib/gpuvirt/state.json';

/** The addresses gpuvirt's state file still records. */
export function recordedDevices(): string[] {
  try {
    return Object.keys((JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as { devices: Record<string, unknown> }).devices);
  } catch {
    return [];
  }
}

/** The SR-IOV PFs gpuvirt's state file still records. */
export function recordedPfs(): string[] {
  try {
    return Object.keys((JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as { sriov?: Record<string, unknown> }).sriov ?? {});
  } catch {
    return [];
  }
}

/** The JSON document gpuvirt prints with --json (README, "JSON output"). */
export interface JsonDoc<D> {
  schemaVersion: number;
  command: string;
  ok: boolean;
  data?: D;
  error?: { code: string; message: string; hint: string | null; exitCode: number };
  warnings: string[];
}

export interface Run<D = unknown> {
  argv: string[];
  status: number | null;
  stdout: string;
  stderr: string;
  /** The parsed document, or null when stdout was not exactly one JSON document. */
  doc: JsonDoc<D> | null;
  ms: number;
  /** Killed after its time limit (status is then null). */
  timedOut: boolean;
}

/** Runs `gpuvirt ARGS --json`; D is the shape of `data` the caller expects (README, "JSON output"). */
export function gpuvirt<D = unknown>(...args: string[]): Run<D> {
  return gpuvirtWithin<D>(180_000, ...args);
}

/** The same, killed (SIGKILL) after `timeoutMs`: for runs the kernel could block. */
export function gpuvirtWithin<D = unknown>(timeoutMs: number, ...args: string[]): Run<D> {
  const argv = [...args, '--json'];
  const started = Date.now();
  const r = spawnSync(process.execPath, [GPUVIRT, ...argv], { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, NO_COLOR: '1' } });
  let doc: JsonDoc<D> | null = null;
  try {
    doc = JSON.parse(r.stdout) as JsonDoc<D>;
  } catch {
    doc = null;
  }
  const timedOut = r.signal === 'SIGKILL' && Date.now() - started >= timeoutMs;
  return { argv: ['gpuvirt', ...argv], status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', doc, ms: Date.now() - started, timedOut };
}

/** What a run did, in a few lines, for a failure message: errors, refusals, each applied step, the rollback. */
export function describeRun(r: Run<unknown>): string {
  const lines = [`$ ${r.argv.join(' ')}  → ${r.timedOut ? 'KILLED after its time limit' : `exit ${r.status}`} (${r.ms} ms)`];
  const data = r.doc?.data as (Partial<ChangeData> & { hint?: string | null }) | undefined;
  if (!r.doc) lines.push(`stdout (not one JSON document): ${r.stdout.slice(0, 2000)}`);
  if (r.doc?.error) lines.push(`error: ${r.doc.error.code}: ${r.doc.error.message}${r.doc.error.hint ? ` (hint: ${r.doc.error.hint})` : ''}`);
  for (const x of data?.refusals ?? []) lines.push(`refusal ${x.code} ${x.address ?? ''}: ${x.message}`);
  for (const s of data?.applied?.steps ?? []) lines.push(`  ${s.status.padEnd(6)} ${s.action}${s.error ? `  → ${s.error}` : ''}`);
  const rb = data?.applied?.rollback;
  if (data?.hint) lines.push(`hint: ${data.hint}`);
  if (rb) lines.push(`rollback ${rb.ok ? 'ok' : 'INCOMPLETE'}: ${rb.actions.join('; ')}${rb.errors.length ? ` / errors: ${rb.errors.join('; ')}` : ''}${rb.differences?.length ? ` / differs: ${rb.differences.join('; ')}` : ''}`);
  if (r.doc?.warnings.length) lines.push(`warnings: ${r.doc.warnings.join(' / ')}`);
  if (r.stderr.trim()) lines.push(`stderr: ${r.stderr.trim().slice(0, 2000)}`);
  return lines.join('\n');
}

export interface VfioCheck {
  group: number;
  container?: string;
  apiVersion?: number;
  type1v2?: boolean;
  open?: string;
  status?: string;
  viable?: boolean;
  setContainer?: string;
  setIommu?: string;
  devices?: Record<string, string>;
}

/** Opens the group through VFIO as a VMM would (see harness/vfio-check.c). */
export function vfioCheck(group: number, devices: readonly string[]): { status: number | null; result: VfioCheck | null; raw: string } {
  const r = spawnSync(VFIO_CHECK, [String(group), ...devices], { encoding: 'utf8', timeout: 60_000 });
  let result: VfioCheck | null = null;
  try {
    result = JSON.parse(r.stdout) as VfioCheck;
  } catch {
    result = null;
  }
  return { status: r.status, result, raw: `${r.stdout}${r.stderr}` };
}
