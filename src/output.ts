// Typed results and their two renderings. With --json, stdout gets exactly one versioned
// document; the shape below is the public contract (see README, "JSON output").
import { GpuvirtError } from './errors.js';

export const SCHEMA_VERSION = 1;

export interface Outcome<D> {
  ok: boolean;
  data: D;
  warnings: string[];
  /** Overrides the exit status derived from `ok` (0 when ok, 1 otherwise). */
  exitCode?: number;
  /** Why the command failed, when `ok` is false; a generic one is made when absent. */
  error?: { code: string; message: string; hint?: string | null };
  /** Warnings kept inside `data` (doctor's warn checks, a profile's warnings): --strict counts them too. */
  dataWarnings?: number;
}

/**
 * What every document says about where it comes from: the gpuvirt version, the host it
 * describes (null before a host was opened), and when it was made.
 */
export interface DocumentMeta {
  tool: { name: 'gpuvirt'; version: string };
  host: { machineId: string | null; hostname: string | null; kernel: string | null } | null;
  timestamp: string;
}

export interface ErrorJson {
  code: string;
  message: string;
  hint: string | null;
  exitCode: number;
}

export function errorJson(err: GpuvirtError): ErrorJson {
  return { code: err.code, message: err.message, hint: err.hint ?? null, exitCode: err.exitCode };
}

export function jsonDocument(command: string, outcome: Outcome<unknown>, meta: DocumentMeta, error: ErrorJson | null = null): string {
  const doc = { schemaVersion: SCHEMA_VERSION, command, ok: outcome.ok, data: outcome.data, ...(error ? { error } : {}), warnings: outcome.warnings, ...meta };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function jsonError(command: string, err: GpuvirtError, meta: DocumentMeta): string {
  return `${JSON.stringify({ schemaVersion: SCHEMA_VERSION, command, ok: false, error: errorJson(err), warnings: [], ...meta }, null, 2)}\n`;
}

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const plainStyle: Style = { bold: (s) => s, dim: (s) => s, red: (s) => s, green: (s) => s, yellow: (s) => s, cyan: (s) => s };

/** chalk is loaded only when colour will really be shown. */
export async function makeStyle(color: boolean): Promise<Style> {
  if (!color) return plainStyle;
  const { Chalk } = await import('chalk');
  const c = new Chalk({ level: 1 });
  return { bold: c.bold, dim: c.dim, red: c.red, green: c.green, yellow: c.yellow, cyan: c.cyan };
}

/** Wraps `text` to `width` columns, indenting continuation lines by `indent` spaces. */
export function wrap(text: string, width: number, indent: number): string {
  if (width <= indent + 20) return text;
  const words = text.split(' ');
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > width - indent) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}
