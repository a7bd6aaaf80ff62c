// Where a problem is in a profile's source: the YAML node at its path, as file:line:col
// (the yaml package's CST keeps every node's offsets), and how a value is named in a message.
import { isAlias, isMap, isPair, isScalar, isSeq, visit, type Document, type LineCounter, type Node as YamlNode } from 'yaml';
import type { Path, Problem } from './problems.js';

export type Doc = Document.Parsed;

/** Each map's pairs by key, built once: placing one problem per key of a 40k-key map stays linear. */
const pairIndex = new WeakMap<object, Map<string, { key: unknown; value: unknown }>>();

function pairOf(map: { items: unknown[] }, step: string | number): { key: unknown; value: unknown } | undefined {
  let index = pairIndex.get(map);
  if (!index) {
    index = new Map();
    for (const it of map.items) {
      if (isPair(it) && isScalar(it.key) && !index.has(String(it.key.value))) index.set(String(it.key.value), it);
    }
    pairIndex.set(map, index);
  }
  return index.get(String(step));
}

/** The node at `path`, or null; `key` gives the map key's node instead of its value. */
function nodeAt(doc: Doc, path: Path, key = false): YamlNode | null {
  let node: unknown = doc.contents;
  for (const [i, step] of path.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = pairOf(node, step);
      if (!pair) return null;
      node = key && i === path.length - 1 ? pair.key : pair.value;
    } else if (isSeq(node) && typeof step === 'number') {
      node = node.items[step];
    } else return null;
    if (node === null || node === undefined) return null;
  }
  return node as YamlNode;
}

/** The closest existing node along `path`: a missing key is reported at the map that lacks it. */
function closest(doc: Doc, path: Path, key: boolean): YamlNode | null {
  for (let n = path.length; n >= 0; n--) {
    const node = nodeAt(doc, path.slice(0, n), key && n === path.length);
    if (node && node.range) return node;
  }
  return null;
}

export function place(p: Problem, doc: Doc, lc: LineCounter, key = false): Problem {
  const node = closest(doc, p.path, key);
  if (!node?.range) return { ...p, line: 1, col: 1, endLine: null, endCol: null };
  const start = lc.linePos(node.range[0]);
  const end = lc.linePos(node.range[1]);
  return { ...p, line: start.line, col: start.col, endLine: end.line, endCol: end.col };
}

/** A value quoted for a message, never more than 60 characters of it: a 20 MB value is not echoed. */
export function shortText(v: string): string {
  return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
}

export function kindOf(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v === 'string' ? `the text ${shortText(v)}` : `${typeof v} ${shortText(String(v)).slice(1, -1)}`;
}

/**
 * A mapping or list used as a key (`? {a: 1} : x`): no profile key is one, and JavaScript keys
 * are text, so the yaml package would turn it into text and warn on stderr as it does. Each
 * is an error at the key (profiles and host configurations).
 */
export function collectionKeys(doc: Doc, lc: LineCounter): Problem[] {
  const out: Problem[] = [];
  visit(doc, {
    Pair(_, pair) {
      const key = pair.key;
      if (!(isMap(key) || isSeq(key)) || !key.range) return;
      const start = lc.linePos(key.range[0]);
      const end = lc.linePos(key.range[1]);
      out.push({ severity: 'error', path: [], message: 'YAML: a key must be text, not a mapping or a list', line: start.line, col: start.col, endLine: end.line, endCol: end.col });
    },
  });
  return out;
}
