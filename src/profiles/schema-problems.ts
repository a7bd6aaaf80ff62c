// What is wrong with a profile the shape check (shape.ts) did not pass: zod's verdict on it,
// each issue worded for a person and placed in the source, and the rules run on the parts that
// are well-formed, so every problem comes out in one run. Loaded only then: zod and the
// schema are most of a profile command's start.
import type { LineCounter } from 'yaml';
import type { z } from 'zod';
import { normalizeDevice } from './normalize.js';
import { kindOf, place, shortText, type Doc } from './place.js';
import { problem, type Path, type Problem } from './problems.js';
import { profileRules, type RuleInput } from './rules.js';
import { deviceSchema, profileSchema, type Profile } from './schema.js';

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

/** zod's verdict: the profile as it parses, or the problems (the rules' on the well-formed parts included). */
export function schemaCheck(data: Record<string, unknown>, doc: Doc, lc: LineCounter): { profile: Profile } | { problems: Problem[] } {
  const parsed = profileSchema.safeParse(data);
  if (parsed.success) return { profile: parsed.data };
  const problems: Problem[] = [];
  for (const issue of parsed.error.issues) problems.push(...issueProblems(issue, data, doc, lc));
  problems.push(...profileRules(wellFormedParts(data)).map((p) => place(p, doc, lc)));
  return { problems };
}
