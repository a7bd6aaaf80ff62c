// The sharing verdict as doctor's JSON field and text lines. The JSON shape is its own, so
// internal types can change without changing the contract.
import { wrap, type Style } from '../output.js';
import type { Availability, StrategyVerdict } from './verdict.js';

export interface SharingJson {
  strategy: StrategyVerdict['strategy'];
  status: Availability;
  summary: string;
  command: string | null;
  changes: { kind: string; what: string; command: string | null }[];
  source: string | null;
}

export function sharingJson(list: readonly StrategyVerdict[]): SharingJson[] {
  return list.map((x) => ({
    strategy: x.strategy, status: x.status, summary: x.summary, command: x.command,
    changes: x.changes.map((c) => ({ kind: c.kind, what: c.what, command: c.command })), source: x.source,
  }));
}

const WORD: Record<Availability, (s: Style) => string> = {
  now: (s) => s.green('now       '),
  after: (s) => s.yellow('after     '),
  impossible: (s) => s.dim('not here  '),
  unknown: (s) => s.dim('unknown   '),
};

export function renderSharing(list: readonly SharingJson[], s: Style, width: number): string[] {
  if (!list.length) return [];
  const lines = ['      sharing:'];
  // Too narrow for a column beside the strategy (a 40-column terminal): the text goes under it.
  const narrow = width > 0 && width - 31 < 30;
  for (const x of list) {
    const run = x.command ? s.dim(` (${x.command})`) : '';
    if (narrow) {
      lines.push(`        ${WORD[x.status](s)}${x.strategy}`, `          ${wrap(`${x.summary}${run}`, width, 10)}`);
      for (const c of x.changes) lines.push(`          ${wrap(`needs ${c.kind}: ${c.what}${c.command ? ` → ${c.command}` : ''}`, width, 10)}`);
      continue;
    }
    lines.push(`        ${WORD[x.status](s)}${x.strategy.padEnd(12)} ${wrap(`${x.summary}${run}`, width, 31)}`);
    for (const c of x.changes) {
      lines.push(`${' '.repeat(30)}${wrap(`needs ${c.kind}: ${c.what}${c.command ? ` → ${c.command}` : ''}`, width, 32)}`);
    }
  }
  return lines;
}
