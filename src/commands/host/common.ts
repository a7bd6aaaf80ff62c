// What host diff, assert and apply share: opening the file at the named config, and the result
// in the field names Ansible modules return (changed, failed, msg, diff {before, after}), so a
// module passes gpuvirt's answer on as it is.
import type { OptionDef } from '../command.js';
import type { Ctx } from '../../context.js';
import type { Style } from '../../output.js';
import type { HostConfig } from '../../hostconfig/schema.js';
import type { Difference, Inspection } from '../../hostconfig/inspect.js';
import { fileResult, renderFileResult, type FileResult } from '../profile/validate.js';

export interface HostOptions {
  file: string;
  config: string;
}

export interface AnsibleResult {
  file: string;
  config: string;
  changed: boolean;
  failed: boolean;
  msg: string;
  diff: { before: Record<string, unknown>; after: Record<string, unknown> };
  reboot_required: boolean;
  differences: Difference[];
  problems: string[];
  /** The file is valid and has the named config: the rest of the result is about the host. */
  configFound: boolean;
  /** The file's own problems (file:line:col), when it does not validate. */
  validation: FileResult;
}

export const FILE_OPTIONS: readonly OptionDef[] = [
  { flags: '-f, --file <file>', help: 'host configuration file', required: true },
  { flags: '-c, --config <name>', help: 'which named config of the file', required: true },
];

export const parseFileOptions = (opts: Record<string, unknown>): HostOptions => ({ file: String(opts.file), config: String(opts.config) });

export interface Opened {
  config: HostConfig | null;
  result: AnsibleResult;
  /** The file as read (what `host apply --persist` records). */
  source: string;
}

/** Reads and checks the file; a bad file or an unknown config name is a result with failed set. */
export async function openHostConfig(opts: HostOptions): Promise<Opened> {
  const [{ loadHostConfigText, pickConfig }, { readProfileFile }] = await Promise.all([import('../../hostconfig/load.js'), import('../../profiles/session.js')]);
  // Bounded and regular files only, as profiles: a FIFO or /dev/zero named by mistake is refused, not read.
  const source = readProfileFile(opts.file, 'host configuration');
  const loaded = loadHostConfigText(source);
  const validation = fileResult(opts.file, source, loaded.problems);
  const result: AnsibleResult = {
    file: opts.file, config: opts.config, changed: false, failed: true, msg: '', diff: { before: {}, after: {} }, reboot_required: false, differences: [], problems: [], configFound: false, validation,
  };
  if (!loaded.file) {
    result.msg = `${opts.file} is not a valid host configuration: ${loaded.problems.filter((p) => p.severity === 'error').map((p) => `${p.line ?? 1}:${p.col ?? 1}: ${p.message}`).join('; ')}`;
    return { config: null, result, source };
  }
  const picked = pickConfig(loaded.file, opts.config);
  if (!picked.config) {
    result.msg = `${opts.file}: ${picked.message!}`;
    return { config: null, result, source };
  }
  result.failed = false;
  result.configFound = true;
  return { config: picked.config, result, source };
}

/**
 * Fills the result from an inspection: what differs, what stops it, and whether a reboot is due
 * now, or (`afterApply`, for diff and a plan) once apply has edited the boot configuration.
 */
export function withInspection(r: AnsibleResult, i: Inspection, afterApply: boolean): AnsibleResult {
  return { ...r, diff: i.diff, differences: i.differences, problems: i.problems, reboot_required: afterApply ? i.rebootAfterApply : i.rebootRequired };
}

const value = (v: unknown): string => {
  if (v === null || v === undefined) return 'none';
  if (Array.isArray(v)) return v.length ? v.join(' ') : '(none)';
  // vGPUs per type: "NVIDIA L40S-8Q (1152) x2, ...".
  if (typeof v === 'object') return Object.entries(v).map(([k, n]) => `${k} x${String(n)}`).join(', ') || '(none)';
  return String(v);
};

/** The differences as a diff: `-` what the host shows, `+` what the config wants, per device. */
export function renderDifferences(r: AnsibleResult, s: Style): string {
  const out: string[] = [s.bold(`--- this host`), s.bold(`+++ ${r.file} config ${r.config}`)];
  let last = '';
  for (const d of r.differences) {
    if (d.subject !== last) out.push(s.cyan(`@@ ${d.subject === 'host' ? 'host' : `${d.subject} ${d.name}`} @@`));
    last = d.subject;
    out.push(s.red(`-${d.field}: ${value(d.before)}`), s.green(`+${d.field}: ${value(d.after)}`));
  }
  return `${out.join('\n')}\n`;
}

/** The lines after the diff: problems, reboot, and the verdict (msg). */
export function renderTail(r: AnsibleResult, s: Style): string {
  const out = r.problems.map((p) => `${s.red('problem:')} ${p}`);
  if (r.reboot_required) out.push(s.yellow('reboot required: the kernel command line configured is not the one running'));
  out.push(r.failed ? s.red(r.msg) : r.msg);
  return `${out.join('\n')}\n`;
}

export function renderInvalid(r: AnsibleResult, s: Style, ctx: Ctx): string {
  if (!r.validation.valid) ctx.io.err(renderFileResult(r.validation, s));
  else ctx.io.err(`${r.msg}\n`);
  return '';
}
