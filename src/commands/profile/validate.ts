import type { CommandDef } from '../command.js';
import type { Ctx } from '../../context.js';
import { ExitCode, GpuvirtError } from '../../errors.js';
import type { Outcome, Style } from '../../output.js';
import { clip, formatProblems, pathText, problem, type Problem } from '../../profiles/problems.js';

export interface ValidateOptions {
  files: string[];
  host: boolean;
}

export interface ProblemJson {
  severity: Problem['severity'];
  line: number | null;
  col: number | null;
  endLine: number | null;
  endCol: number | null;
  path: string;
  message: string;
}

export interface FileResult {
  file: string;
  valid: boolean;
  errors: number;
  warnings: number;
  problems: ProblemJson[];
  /** The source, for showing the lines in the human rendering (not in JSON). */
  source?: string;
  raw?: Problem[];
}

export interface ValidateData {
  valid: boolean;
  files: FileResult[];
}

export function problemJson(p: Problem): ProblemJson {
  return { severity: p.severity, line: p.line, col: p.col, endLine: p.endLine, endCol: p.endCol, path: clip(pathText(p.path)), message: clip(p.message) };
}

export function fileResult(file: string, source: string, problems: Problem[]): FileResult {
  const errors = problems.filter((p) => p.severity === 'error').length;
  const result: FileResult = { file, valid: errors === 0, errors, warnings: problems.length - errors, problems: problems.map(problemJson) };
  // Kept off the JSON document: non-enumerable.
  Object.defineProperty(result, 'source', { value: source, enumerable: false });
  Object.defineProperty(result, 'raw', { value: problems, enumerable: false });
  return result;
}

/**
 * The outcome of a profile that cannot be used: exit 6 when what stops it is a device the
 * host does not have (not found), else 2 (the profile is wrong).
 */
export function invalidProfile<D>(data: D, r: FileResult): Outcome<D> {
  const errors = (r.raw ?? []).filter((p) => p.severity === 'error');
  const missing = errors.length > 0 && errors.every((p) => p.code === 'E_NOT_FOUND');
  const first = errors[0]?.message ?? 'the profile has errors';
  return {
    ok: false, data, warnings: [], exitCode: missing ? ExitCode.notFound : ExitCode.usage,
    error: { code: missing ? 'E_NOT_FOUND' : 'E_INVALID_PROFILE', message: `${r.file}: ${first}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}` },
  };
}

export function renderFileResult(r: FileResult, s: Style): string {
  const text = formatProblems(r.file, r.source ?? '', r.raw ?? []);
  const colored = text.replace(/^(\S+: )(error|warning)(: )/gm, (_m, a: string, sev: string, b: string) => `${s.bold(a)}${sev === 'error' ? s.red(sev) : s.yellow(sev)}${b}`);
  const summary = r.valid
    ? `${r.file}: ${s.green('valid')}${r.warnings ? ` (${r.warnings} warning${r.warnings > 1 ? 's' : ''})` : ''}`
    : `${r.file}: ${s.red('invalid')}: ${r.errors} error${r.errors > 1 ? 's' : ''}${r.warnings ? `, ${r.warnings} warning${r.warnings > 1 ? 's' : ''}` : ''}`;
  return `${colored}${summary}\n`;
}

function validateOutcome(files: FileResult[], unreadable: string[]): Outcome<ValidateData> {
  const valid = files.every((f) => f.valid);
  const dataWarnings = files.reduce((n, f) => n + f.warnings, 0);
  if (valid) return { ok: true, data: { valid, files }, warnings: [], dataWarnings };
  const invalid = files.filter((f) => !f.valid).map((f) => f.file);
  const error = unreadable.length
    ? { code: 'E_USAGE', message: unreadable.join('; ') }
    : { code: 'E_INVALID_PROFILE', message: `${invalid.join(', ')}: ${invalid.length > 1 ? 'have' : 'has'} errors` };
  return { ok: false, data: { valid, files }, warnings: [], exitCode: ExitCode.usage, error, dataWarnings };
}

export const profileValidate: CommandDef<ValidateOptions, ValidateData> = {
  name: 'profile validate',
  summary: 'validate profiles: every problem as file:line:col with the line shown',
  help: [
    'Reads each profile (YAML, apiVersion gpuvirt/v1) and reports every problem at once: YAML',
    'syntax, unknown keys, wrong types, and combinations QEMU, libvirt or Proxmox cannot do',
    '(pcie on i440fx, Secure Boot with SeaBIOS, ...). With --host, also resolves the devices against',
    'this host (or --root): missing devices, ambiguous selectors, mdev types the parent lacks, and',
    'whether a virgl/venus display can run here (a render node, virglrenderer).',
    'Exit status 2 when a profile has errors.',
  ].join('\n'),
  linuxOnly: false,
  args: [
    { name: '<file...>', help: 'profile files' },
  ],
  options: [
    { flags: '--host', help: 'also resolve the devices against this host (or --root)' },
  ],
  parse: (args, opts) => ({ files: args, host: Boolean(opts.host) }),
  async run(opts, ctx: Ctx) {
    const { openProfile } = await import('../../profiles/session.js');
    const unreadable: string[] = [];
    const files: FileResult[] = [];
    for (const file of opts.files) {
      try {
        const o = await openProfile(file, ctx, { resolve: opts.host, offline: false, needFunctions: true });
        files.push(fileResult(file, o.source, o.problems));
      } catch (err) {
        // A file that cannot be read is that file's error; the others are still reported.
        if (!(err instanceof GpuvirtError) || err.exitCode !== ExitCode.usage) throw err;
        unreadable.push(err.message);
        const r = fileResult(file, '', [problem('error', [], err.message.replace(`${file}: `, ''))]);
        // What stopped the reading is an error of the run: on a terminal it goes to stderr.
        Object.defineProperty(r, 'unreadable', { value: true, enumerable: false });
        files.push(r);
      }
    }
    return validateOutcome(files, unreadable);
  },
  render: (d, s, ctx) => {
    const unreadable = (f: FileResult) => (f as FileResult & { unreadable?: boolean }).unreadable === true;
    for (const f of d.files.filter(unreadable)) ctx.io.err(renderFileResult(f, s));
    return d.files.filter((f) => !unreadable(f)).map((f) => renderFileResult(f, s)).join('');
  },
};
