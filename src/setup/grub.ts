// Editing the kernel command line in /etc/default/grub (and its grub.d drop-ins) as shell
// assignments: only the one assignment that decides the value changes; its quoting is kept,
// and every other line, comment and byte of the file stays as it was.
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import { applyChange, splitWords, type ParamChange } from './params.js';

export interface FileChange {
  path: string;
  /** null: the file does not exist yet. */
  before: string | null;
  after: string;
}

interface Assignment {
  line: number;
  /** The last line of the assignment: a double-quoted value may go on over several lines. */
  endLine: number;
  prefix: string;
  quote: '"' | "'" | '';
  value: string;
  rest: string;
}

/** An assignment gpuvirt cannot edit without guessing (a single-quoted value over several lines, an unclosed quote). */
const UNEDITABLE = 'uneditable' as const;

/** Where the closing quote of a value that opened with `q` is on `line` from `from`, or -1. */
function closingQuote(line: string, q: string, from: number): number {
  for (let i = from; i < line.length; i++) {
    if (q === '"' && line[i] === '\\') i++;
    else if (line[i] === q) return i;
  }
  return -1;
}

/** The last top-level assignment to `name` in `text`, split into its parts. */
function findAssignment(text: string, name: string): Assignment | typeof UNEDITABLE | null {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = new RegExp(`^(\\s*(?:export\\s+)?${name}=)(.*)$`).exec(lines[i]!);
    if (!m) continue;
    const rhs = m[2]!;
    const q = rhs[0];
    if (q === '"' || q === "'") {
      // sh continues a quoted value on the next line; inside double quotes it drops backslash-newline.
      let value = '';
      let line = rhs;
      let from = 1;
      for (let j = i; ; j++) {
        const end = closingQuote(line, q, from);
        if (end >= 0) {
          value += line.slice(from, end);
          const words = q === '"' ? value.replace(/\\\n/g, '') : value;
          return { line: i, endLine: j, prefix: m[1]!, quote: q, value: words, rest: line.slice(end + 1) };
        }
        if (q === "'" || j + 1 >= lines.length) return UNEDITABLE;
        value += `${line.slice(from)}\n`;
        line = lines[j + 1]!;
        from = 0;
      }
    }
    const bare = /^(\S*)(.*)$/.exec(rhs)!;
    if (bare[1]!.endsWith('\\')) return UNEDITABLE;
    return { line: i, endLine: i, prefix: m[1]!, quote: '', value: bare[1]!, rest: bare[2]! };
  }
  return null;
}

export class UneditableAssignment extends Error {}

function quoteFor(a: Assignment, words: string[]): { quote: Assignment['quote']; value: string } {
  const joined = words.join(' ');
  if (a.quote === "'" && !joined.includes("'")) return { quote: "'", value: joined };
  if (a.quote === '' && words.length <= 1 && !/[$"'\\`]/.test(joined)) return { quote: '', value: joined };
  // Double quotes keep $VAR expansions working. New parameters never carry shell specials:
  // setup refuses those before planning.
  return { quote: '"', value: joined };
}

/** The text with `change` applied to variable `name`, or null when nothing changes. */
export function editAssignment(text: string, name: string, change: ParamChange): string | null {
  const a = findAssignment(text, name);
  if (a === UNEDITABLE) throw new UneditableAssignment(name);
  if (!a) {
    if (!change.add.length) return null;
    const words = applyChange([], { add: change.add, remove: [] }) ?? [];
    const sep = text === '' || text.endsWith('\n') ? '' : '\n';
    return `${text}${sep}${name}="${words.join(' ')}"\n`;
  }
  const words = applyChange(splitWords(a.value), change);
  if (!words) return null;
  const q = quoteFor(a, words);
  const lines = text.split('\n');
  // A value that went on over several lines is written back on one: the words are what counts.
  lines.splice(a.line, a.endLine - a.line + 1, `${a.prefix}${q.quote}${q.value}${q.quote}${a.rest}`);
  return lines.join('\n');
}

/** /etc/default/grub and its drop-ins, in the order grub-mkconfig sources them. */
export function grubFiles(host: Host): string[] {
  const dropIns = (host.list(`${paths.etcDefaultGrub}.d`) ?? []).filter((n) => n.endsWith('.cfg')).map((n) => `${paths.etcDefaultGrub}.d/${n}`);
  return [paths.etcDefaultGrub, ...dropIns];
}

/**
 * Edits the command line GRUB passes to Linux. New parameters go to `variable` in the file whose
 * assignment wins (a later drop-in overrides the main file); removals apply to both variables.
 */
export function planGrubEdit(host: Host, variable: 'GRUB_CMDLINE_LINUX' | 'GRUB_CMDLINE_LINUX_DEFAULT', change: ParamChange): FileChange[] {
  const files = grubFiles(host).map((path) => ({ path, text: host.readText(path) }));
  const edited = new Map<string, string>();
  const textOf = (path: string) => edited.get(path) ?? files.find((f) => f.path === path)!.text ?? '';
  for (const v of ['GRUB_CMDLINE_LINUX', 'GRUB_CMDLINE_LINUX_DEFAULT']) {
    const add = v === variable ? change.add : [];
    // A key added to one variable leaves the other, so no stale value stays on the line.
    const remove = v === variable ? change.remove : [...change.remove, ...change.add.map((p) => p.key)];
    const owners = files.filter((f) => f.text !== null && findAssignment(f.text, v) !== null);
    const targets = owners.length ? owners.map((o) => o.path) : v === variable ? [paths.etcDefaultGrub] : [];
    for (const path of targets) {
      const isLast = path === targets[targets.length - 1];
      let next: string | null;
      try {
        next = editAssignment(textOf(path), v, { add: isLast ? add : [], remove });
      } catch (err) {
        if (!(err instanceof UneditableAssignment)) throw err;
        throw new GpuvirtError('E_GRUB_UNEDITABLE', `${v} in ${path} has a quote gpuvirt cannot follow (a single-quoted value over several lines, or one never closed): it is not edited, and no new assignment is added that would override it`, {
          exitCode: ExitCode.unsupported,
          hint: `put ${v}'s value on one line in ${path}, then run this again`,
        });
      }
      if (next !== null) edited.set(path, next);
    }
  }
  return [...edited].map(([path, after]) => ({ path, before: files.find((f) => f.path === path)!.text, after }));
}
