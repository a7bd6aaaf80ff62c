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
}

export function jsonDocument(command: string, outcome: Outcome<unknown>): string {
  return `${JSON.stringify({ schemaVersion: SCHEMA_VERSION, command, ok: outcome.ok, data: outcome.data, warnings: outcome.warnings }, null, 2)}\n`;
}

export function jsonError(command: string, err: GpuvirtError): string {
  const error = { code: err.code, message: err.message, hint: err.hint ?? null, exitCode: err.exitCode };
  return `${JSON.stringify({ schemaVersion: SCHEMA_VERSION, command, ok: false, error, warnings: [] }, null, 2)}\n`;
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
