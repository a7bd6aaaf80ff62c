// Reading a profile: YAML parsed with source positions (the yaml package's CST keeps every
// node's offsets), checked by the zod schema and the cross-field rules, every problem mapped
// back to file:line:col. Never throws on bad input: everything wrong comes back as problems.
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { problem, sortProblems, type Path, type Problem } from './problems.js';
import { profileRules, type RuleInput } from './rules.js';
import { deviceSchema, profileSchema, type Device, type Profile } from './schema.js';

export interface LoadedProfile {
  /** The parsed profile, when it has no errors (warnings allowed). */
  profile: Profile | null;
  problems: Problem[];
  source: string;
}

type Doc = Document.Parsed;

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

function place(p: Problem, doc: Doc, lc: LineCounter, key = false): Problem {
  const node = closest(doc, p.path, key);
  if (!node?.range) return { ...p, line: 1, col: 1, endLine: null, endCol: null };
  const start = lc.linePos(node.range[0]);
  const end = lc.linePos(node.range[1]);
  return { ...p, line: start.line, col: start.col, endLine: end.line, endCol: end.col };
}

/** A value quoted for a message, never more than 60 characters of it: a 20 MB value is not echoed. */
function shortText(v: string): string {
  return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
}

function kindOf(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v === 'string' ? `the text ${shortText(v)}` : `${typeof v} ${shortText(String(v)).slice(1, -1)}`;
}

/** Keys an object schema allows at `path` (through optional, default, arrays and unions). */
function allowedKeys(path: Path, value: unknown): string[] {
  let s: z.core.$ZodType = profileSchema;
  let v: unknown = value;
  const unwrap = () => {
    for (;;) {
      const def = s._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType; options?: z.core.$ZodType[] };
      if ((def.type === 'optional' || def.type === 'default' || def.type === 'nullable') && def.innerType) s = def.innerType;
      else if (def.type === 'pipe' && def.in) s = def.in;
      else if (def.type === 'union' && def.options) {
        const t = v && typeof v === 'object' ? (v as Record<string, unknown>).type : undefined;
        s = def.options.find((o) => {
          const shape = (o._zod.def as { shape?: Record<string, z.core.$ZodType> }).shape;
          const lit = shape?.type?._zod.def as { values?: unknown[] } | undefined;
          return shape && (t === undefined || lit?.values?.includes(t));
        }) ?? def.options[0]!;
      } else return;
    }
  };
  for (const step of path) {
    unwrap();
    const def = s._zod.def as { type: string; shape?: Record<string, z.core.$ZodType>; element?: z.core.$ZodType };
    if (def.type === 'object' && def.shape && typeof step === 'string' && def.shape[step]) s = def.shape[step];
    else if (def.type === 'array' && def.element) s = def.element;
    else return [];
    v = v && typeof v === 'object' ? (v as Record<string | number, unknown>)[step] : undefined;
  }
  unwrap();
  const shape = (s._zod.def as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}

function closeMatch(word: string, options: readonly string[]): string | null {
  if (word.length > 64) return null; // no key is that long, and the distance table would be huge
  const lower = word.toLowerCase();
  const dist = (a: string, b: string) => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0]![j] = j;
    for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    return d[a.length]![b.length]!;
  };
  let best: string | null = null;
  let bestD = Infinity;
  for (const o of options) {
    const d = dist(lower, o.toLowerCase());
    if (d < bestD) [best, bestD] = [o, d];
  }
  return best !== null && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

function valueAt(data: unknown, path: Path): unknown {
  let v = data;
  for (const step of path) v = v && typeof v === 'object' ? (v as Record<string | number, unknown>)[step] : undefined;
  return v;
}

function issueProblems(issue: z.core.$ZodIssue, data: unknown, doc: Doc, lc: LineCounter): Problem[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const value = valueAt(data, path);
  const last = path[path.length - 1];
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeys(path, data);
      return issue.keys.map((k) => {
        const near = closeMatch(k, allowed);
        const msg = `unknown key ${shortText(k)}${near ? ` (did you mean "${near}"?)` : allowed.length ? ` (allowed here: ${allowed.join(', ')})` : ''}`;
        return place(problem('error', [...path, k], msg), doc, lc, true);
      });
    }
    case 'invalid_type':
      if (value === undefined) return [place(problem('error', path, `missing key "${String(last)}" (${issue.expected} required)`), doc, lc)];
      return [place(problem('error', path, `expected ${issue.expected === 'int' ? 'a whole number' : `a ${issue.expected}`}, got ${kindOf(value)}`), doc, lc)];
    case 'invalid_union':
      if ('discriminator' in issue && issue.discriminator) {
        const msg = value === undefined ? 'missing key "type": gpu, vf or mdev' : `type must be gpu, vf or mdev, not ${kindOf(value)}`;
        return [place(problem('error', path, msg), doc, lc)];
      }
      return [place(problem('error', path, value === undefined ? `missing key "${String(last)}": ${issue.message}` : `expected ${issue.message}, got ${kindOf(value)}`), doc, lc)];
    case 'invalid_value':
      if (value === undefined) return [place(problem('error', path, `missing key "${String(last)}": ${issue.values.map((x) => JSON.stringify(x)).join(' or ')}`), doc, lc)];
      return [place(problem('error', path, `must be ${issue.values.map((x) => JSON.stringify(x)).join(' or ')}, not ${kindOf(value)}`), doc, lc)];
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const word = issue.code === 'too_small' ? 'at least' : 'at most';
      const unit = issue.origin === 'string' ? ' characters' : issue.origin === 'array' ? ' entries' : '';
      return [place(problem('error', path, `must be ${word} ${String(bound)}${unit}`), doc, lc)];
    }
    default:
      return [place(problem('error', path, issue.message), doc, lc)];
  }
}

const lowerAddr = (a: string) => (a.length === 7 ? `0000:${a}` : a).toLowerCase();

/** Addresses and ids in the kernel's form (0000:01:00.0, lowercase hex). */
function normalizeDevice(d: Device): Device {
  const sel = <T extends { address?: string; id?: string; subsystem?: string }>(s: T): T => ({
    ...s,
    ...(s.address ? { address: lowerAddr(s.address) } : {}),
    ...(s.id ? { id: s.id.toLowerCase() } : {}),
    ...(s.subsystem ? { subsystem: s.subsystem.toLowerCase() } : {}),
  });
  if (d.type === 'gpu') return { ...d, select: sel(d.select) };
  if (d.type === 'vf') return { ...d, pf: sel(d.pf), ...(d.address ? { address: lowerAddr(d.address) } : {}) };
  return { ...d, parent: sel(d.parent), ...(d.uuid ? { uuid: d.uuid.toLowerCase() } : {}) };
}

function normalize(p: Profile): Profile {
  return { ...p, devices: p.devices.map(normalizeDevice) };
}

/** The fields and devices that pass the schema on their own, for the rules to check. */
function wellFormedParts(data: Record<string, unknown>): RuleInput {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(profileSchema.shape)) {
    if (key === 'devices') continue;
    const r = schema.safeParse(data[key]);
    if (r.success) out[key] = r.data;
  }
  const raw = Array.isArray(data.devices) ? (data.devices as unknown[]) : [];
  const devices = raw.map((d) => {
    let r = deviceSchema.safeParse(d);
    if (!r.success && d && typeof d === 'object' && !Array.isArray(d)) {
      // Drop the fields the schema rejected (keeping `type`) and try the rest.
      const bad = new Set(r.error.issues.flatMap((i) => (i.code === 'unrecognized_keys' && i.path.length === 0 ? i.keys : [String(i.path[0])])));
      bad.delete('type');
      r = deviceSchema.safeParse(Object.fromEntries(Object.entries(d).filter(([k]) => !bad.has(k))));
    }
    return r.success ? normalizeDevice(r.data) : null;
  });
  return { ...out, devices };
}

/** "Map keys must be unique", as yaml words it, at each repeated scalar key: one pass with a set per map. */
function duplicateKeys(doc: Doc, lc: LineCounter): Problem[] {
  const out: Problem[] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const it of map.items) {
        if (!isScalar(it.key)) continue;
        const k = `${typeof it.key.value}:${String(it.key.value)}`;
        if (!seen.has(k)) {
          seen.add(k);
          continue;
        }
        const at = it.key.range?.[0] ?? 0;
        const start = lc.linePos(at);
        const end = lc.linePos(at + 1);
        out.push({ severity: 'error', path: [], message: 'YAML: Map keys must be unique', line: start.line, col: start.col, endLine: end.line, endCol: end.col });
      }
    },
  });
  return out;
}

/** Parses and checks profile text; `extra` adds checks on a well-formed profile (against a host). */
export function loadProfileText(source: string, extra?: (p: Profile) => Problem[]): LoadedProfile {
  const lc = new LineCounter();
  // Duplicate keys are found here, by duplicateKeys: yaml's own check compares each key with
  // every earlier one (10k keys took seconds).
  const doc = parseDocument(source, { lineCounter: lc, prettyErrors: false, uniqueKeys: false, strict: true });
  const problems: Problem[] = duplicateKeys(doc, lc);
  for (const e of [...doc.errors, ...doc.warnings]) {
    const start = lc.linePos(e.pos[0]);
    const end = lc.linePos(e.pos[1]);
    const message = `YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`;
    problems.push({ severity: e.name === 'YAMLWarning' ? 'warning' : 'error', path: [], message, line: start.line, col: start.col, endLine: end.line, endCol: end.col });
  }
  if (problems.some((p) => p.severity === 'error')) return { profile: null, problems: sortProblems(problems), source };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { profile: null, problems: [{ ...problem('error', [], `YAML: ${(err as Error).message}`), line: 1, col: 1 }], source };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { profile: null, problems: [place(problem('error', [], `a profile is a mapping of keys (apiVersion, name, ...), not ${kindOf(data)}`), doc, lc)], source };
  }
  const parsed = profileSchema.safeParse(data);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(...issueProblems(issue, data, doc, lc));
    problems.push(...profileRules(wellFormedParts(data as Record<string, unknown>)).map((p) => place(p, doc, lc)));
    return { profile: null, problems: sortProblems(problems), source };
  }
  const profile = normalize(parsed.data);
  const more = [...profileRules(profile), ...(extra ? extra(profile) : [])];
  problems.push(...more.map((p) => (p.line === null ? place(p, doc, lc) : p)));
  return { profile: problems.some((p) => p.severity === 'error') ? null : profile, problems: sortProblems(problems), source };
}

/** Places problems found later (against a host) in the same source. */
export function locateProblems(source: string, found: readonly Problem[]): Problem[] {
  const lc = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lc, prettyErrors: false });
  return sortProblems(found.map((p) => (p.line === null ? place(p, doc, lc) : p)));
}
