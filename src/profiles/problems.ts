// A problem in a profile, located in its source: what `profile validate` prints as
// `file:line:col: message` with the line shown, the way compilers do. Pure: no zod, no yaml.

export type Path = (string | number)[];

export interface Problem {
  severity: 'error' | 'warning';
  /** Where in the document, as keys and indexes: ['devices', 0, 'select', 'address']. */
  path: Path;
  message: string;
  /** 1-based; null only when the source has no position for it (a profile built in code). */
  line: number | null;
  col: number | null;
  endLine: number | null;
  endCol: number | null;
  /** E_NOT_FOUND: a device the profile names is not on the host (exit 6 where that decides). */
  code?: 'E_NOT_FOUND';
}

export function notFound(path: Path, message: string): Problem {
  return { ...problem('error', path, message), code: 'E_NOT_FOUND' };
}

/** `devices[0].select.address`: the path as a reader would write it. */
export function pathText(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out || '(top level)';
}

export function problem(severity: Problem['severity'], path: Path, message: string): Problem {
  return { severity, path, message, line: null, col: null, endLine: null, endCol: null };
}

/** Longest source line shown in an excerpt; longer ones are cut around the spot (a 20 MB one-line value). */
const EXCERPT = 120;
/** Longest message shown: only one that quotes the profile's own text gets near it. */
const MESSAGE = 300;

/** `text` cut to `max` characters with an ellipsis. */
export function clip(text: string, max = MESSAGE): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function sourceExcerpt(p: Problem, lines: readonly string[]): string[] {
  if (p.line === null || p.col === null) return [];
  const full = lines[p.line - 1];
  if (full === undefined) return [];
  const gutter = String(p.line).padStart(4);
  // A window of the line around the column, so the caret still points at the spot.
  const from = full.length > EXCERPT ? Math.max(0, Math.min(p.col - 1 - 20, full.length - EXCERPT)) : 0;
  const to = Math.min(full.length, from + EXCERPT);
  const text = `${from > 0 ? '…' : ''}${full.slice(from, to)}${to < full.length ? '…' : ''}`;
  const col = p.col - from + (from > 0 ? 1 : 0);
  const width = p.endLine === p.line && p.endCol !== null && p.endCol > p.col ? p.endCol - p.col : 1;
  // Tabs keep their width in the marker line so the caret sits under the right character.
  const lead = text.slice(0, col - 1).replace(/[^\t]/g, ' ');
  return [`${gutter} | ${text}`, `${' '.repeat(gutter.length)} | ${lead}${'^'.repeat(Math.max(1, Math.min(width, text.length - col + 1)))}`];
}

/** The human form: one `file:line:col: severity: message` line per problem, with the line shown. */
export function formatProblems(file: string, source: string, problems: readonly Problem[]): string {
  const lines = source.split(/\r?\n/);
  const out: string[] = [];
  for (const p of problems) {
    const where = p.line === null ? file : `${file}:${p.line}:${p.col}`;
    out.push(`${where}: ${p.severity}: ${clip(p.message)}`);
    out.push(...sourceExcerpt(p, lines));
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** Problems in source order (then errors before warnings), so a reader can fix them top to bottom. */
export function sortProblems(problems: readonly Problem[]): Problem[] {
  return [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0) || (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
}
