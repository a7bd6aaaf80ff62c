// Changing the words of a kernel command line: add or replace `key[=value]`, remove keys.
// Words gpuvirt does not touch keep their text and order.
import { normalizeKey, type KernelParam } from '../detect/cmdline.js';

export interface ParamChange {
  add: KernelParam[];
  /** Keys to remove; `key=value` removes only that value. */
  remove: string[];
}

export function paramText(p: KernelParam): string {
  return p.value === null ? p.key : `${p.key}=${p.value}`;
}

function split(word: string): { key: string; value: string | null } {
  const eq = word.indexOf('=');
  return eq < 0 ? { key: normalizeKey(word), value: null } : { key: normalizeKey(word.slice(0, eq)), value: word.slice(eq + 1) };
}

const keyOf = (word: string) => split(word).key;

function removes(word: string, remove: readonly string[]): boolean {
  const w = split(word);
  return remove.some((r) => {
    const x = split(r);
    return x.key === w.key && (x.value === null || x.value === w.value);
  });
}

/** Splits on spaces outside double quotes, as the kernel does. */
export function splitWords(text: string): string[] {
  return text.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
}

/**
 * Applies `change` to `words`. Words that are not plain parameters (shell expansions such as
 * `$GRUB_CMDLINE_LINUX_DEFAULT`) are kept as they are. Returns null when nothing changes.
 */
export function applyChange(words: readonly string[], change: ParamChange): string[] | null {
  let out = words.filter((w) => w.includes('$') || !removes(w, change.remove));
  for (const p of change.add) {
    const k = normalizeKey(p.key);
    const at = out.findIndex((w) => !w.includes('$') && keyOf(w) === k);
    if (at >= 0) out = out.map((w, i) => (i === at ? paramText(p) : w)).filter((w, i) => i <= at || w.includes('$') || keyOf(w) !== k);
    else out = [...out, paramText(p)];
  }
  const same = out.length === words.length && out.every((w, i) => w === words[i]);
  return same ? null : out;
}
