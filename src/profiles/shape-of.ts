// Reads a zod schema into the plain data of shape.ts, and writes that as the TypeScript of
// profile-shape.gen.ts (`npm run shape`; a test checks the file is current). Anything in the
// schema the checker does not know (a refinement, a transform, a string format) is refused
// here, so the fast check never silently disagrees with zod.
import type { z } from 'zod';
import type { Shape } from './shape.js';

type Def = Record<string, unknown> & { type: string };

const refuse = (where: string, what: string) => new Error(`${where}: ${what}: the shape check cannot follow it (src/profiles/shape.ts)`);
const defOf = (t: z.core.$ZodType): Def => t._zod.def as unknown as Def;
const checkDefs = (d: Def) => ((d.checks as z.core.$ZodCheck[] | undefined) ?? []).map((c) => c._zod.def as unknown as Record<string, unknown> & { check: string });

function bounds(d: Def, where: string): { min?: number; max?: number; patterns?: RegExp[] } {
  const out: { min?: number; max?: number; patterns?: RegExp[] } = {};
  for (const c of checkDefs(d)) {
    if (c.check === 'min_length') out.min = c.minimum as number;
    else if (c.check === 'max_length') out.max = c.maximum as number;
    else if (c.check === 'greater_than' && c.inclusive === true) out.min = c.value as number;
    else if (c.check === 'less_than' && c.inclusive === true) out.max = c.value as number;
    else if (c.check === 'string_format' && c.format === 'regex') (out.patterns ??= []).push(c.pattern as RegExp);
    else throw refuse(where, `a check ${JSON.stringify(c.check)} ${String(c.format ?? '')}`);
  }
  return out;
}

/**
 * A discriminated union takes the option its discriminator names; checked as a union (the
 * first option that passes), that is the same only when each option's discriminator is one
 * literal of its own, so that no two options can pass.
 */
function discriminated(d: Def, where: string): void {
  const key = d.discriminator as string;
  if (d.unionFallback) throw refuse(where, `a discriminated union with unionFallback`);
  const seen = new Set<unknown>();
  for (const o of d.options as z.core.$ZodType[]) {
    const field = (defOf(o).shape as Record<string, z.core.$ZodType> | undefined)?.[key];
    const lit = field ? defOf(field) : undefined;
    if (!lit || lit.type !== 'literal') throw refuse(where, `an option whose ${key} is not a literal`);
    for (const v of lit.values as unknown[]) {
      if (seen.has(v)) throw refuse(where, `${String(v)} names two options`);
      seen.add(v);
    }
  }
}

/** Gives a value of its own when the key is absent (zod's "defaulted"): an optional of it would too. */
const defaults = (s: Shape): boolean => s.k === 'default' || (s.k === 'union' && s.options.some(defaults)) || (s.k === 'optional' && defaults(s.inner));

/**
 * Data that profile-shape.gen.ts writes as JSON and reads back the same: no -0, NaN or
 * Infinity, no Date or other class, no hole, no __proto__ key (in an object literal it sets the
 * prototype).
 */
function plainData(v: unknown): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v) && !Object.is(v, -0);
  if (Array.isArray(v)) return Object.getPrototypeOf(v) === Array.prototype && Object.keys(v).length === v.length && v.every(plainData);
  if (typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype || Object.getOwnPropertySymbols(v).length) return false;
  return Object.entries(v).every(([k, x]) => k !== '__proto__' && plainData(x));
}

export function shapeOf(t: z.core.$ZodType, where = '$'): Shape {
  const d = defOf(t);
  const only = (keys: string[]) => {
    // `error` is a message only: what passes is the same.
    const extra = Object.keys(d).filter((k) => !keys.includes(k) && k !== 'error' && d[k] !== undefined);
    if (extra.length) throw refuse(where, `${d.type} with ${extra.join(', ')}`);
  };
  switch (d.type) {
    case 'object': {
      only(['type', 'shape', 'catchall', 'checks']);
      if (!d.catchall || defOf(d.catchall as z.core.$ZodType).type !== 'never') throw refuse(where, `an object that is not strict`);
      if (checkDefs(d).length) throw refuse(where, `an object with checks`);
      const shape = d.shape as Record<string, z.core.$ZodType>;
      if (Object.hasOwn(shape, '__proto__')) throw refuse(where, `a __proto__ key`);
      return { k: 'object', shape: Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, shapeOf(v, `${where}.${k}`)])) };
    }
    case 'string':
      only(['type', 'checks']);
      return { k: 'string', ...bounds(d, where) };
    case 'number':
      only(['type', 'check', 'abort', 'format', 'checks', 'coerce']);
      if (d.format !== 'safeint' || d.coerce) throw refuse(where, `a number that is not z.int()`);
      return { k: 'int', ...bounds(d, where) };
    case 'boolean':
      only(['type', 'coerce']);
      if (d.coerce) throw refuse(where, `a coerced boolean`);
      return { k: 'boolean' };
    case 'literal':
      only(['type', 'values']);
      if (!(d.values as unknown[]).every((v) => v === null || (typeof v === 'number' ? Number.isFinite(v) : typeof v === 'string' || typeof v === 'boolean'))) {
        throw refuse(where, `a literal JSON cannot carry`);
      }
      return { k: 'literal', values: [...(d.values as (string | number | boolean)[])] };
    case 'enum':
      only(['type', 'entries']);
      // A TypeScript enum of numbers also maps each number back to its name, which zod leaves out.
      if (Object.values(d.entries as object).some((v) => typeof v !== 'string')) throw refuse(where, `an enum with numbers`);
      return { k: 'enum', values: Object.values(d.entries as Record<string, string>) };
    case 'union':
      only(['type', 'options', 'discriminator', 'inclusive']);
      if (d.discriminator !== undefined) discriminated(d, where);
      else if (d.inclusive === false) throw refuse(where, `an exclusive union (z.xor)`);
      return { k: 'union', options: (d.options as z.core.$ZodType[]).map((o, i) => shapeOf(o, `${where}|${i}`)) };
    case 'array':
      only(['type', 'element', 'checks']);
      return { k: 'array', element: shapeOf(d.element as z.core.$ZodType, `${where}[]`), ...bounds(d, where) };
    case 'record': {
      only(['type', 'keyType', 'valueType', 'mode']);
      if (d.mode !== undefined && d.mode !== 'strict') throw refuse(where, `a record in ${String(d.mode)} mode`);
      const key = shapeOf(d.keyType as z.core.$ZodType, `${where}{key}`);
      // Keyed by an enum or literals, zod wants every one of them as a key.
      if (key.k !== 'string') throw refuse(where, `a record keyed by ${key.k}, not a string`);
      return { k: 'record', key, value: shapeOf(d.valueType as z.core.$ZodType, `${where}{}`) };
    }
    case 'optional': {
      only(['type', 'innerType']);
      const inner = shapeOf(d.innerType as z.core.$ZodType, where);
      if (defaults(inner)) throw refuse(where, `an optional with a default (zod fills it in when the key is absent)`);
      return { k: 'optional', inner };
    }
    case 'default': {
      only(['type', 'innerType', 'defaultValue']);
      const value = d.defaultValue;
      if (!plainData(value)) throw refuse(where, `a default that is not plain data`);
      // A function's default is called at each parse: one that gives another value each time cannot be written down.
      if (JSON.stringify(d.defaultValue) !== JSON.stringify(value)) throw refuse(where, `a default that changes`);
      return { k: 'default', inner: shapeOf(d.innerType as z.core.$ZodType, where), value };
    }
    default:
      throw refuse(where, `a ${d.type} schema`);
  }
}

const key = (k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k));

/** On one line: a value with nothing nested but patterns, when that fits. */
function flat(v: unknown): string | null {
  if (v instanceof RegExp) return String(v);
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const parts = Array.isArray(v) ? v.map((x) => (x === null || typeof x !== 'object' || x instanceof RegExp ? flat(x) : null))
    : Object.entries(v).map(([k, x]) => (x === null || typeof x !== 'object' || x instanceof RegExp ? `${key(k)}: ${flat(x)}` : null));
  if (parts.some((p) => p === null)) return null;
  const text = Array.isArray(v) ? `[${parts.join(', ')}]` : parts.length ? `{ ${parts.join(', ')} }` : '{}';
  return text.length <= 90 ? text : null;
}

/** The data as a TypeScript expression: JSON, with each pattern a regular expression literal. */
function source(v: unknown, indent: string): string {
  const one = flat(v);
  if (one !== null) return one;
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    const inner = indent + '  ';
    return `[\n${v.map((x) => `${inner}${source(x, inner)},`).join('\n')}\n${indent}]`;
  }
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v);
    if (entries.length === 0) return '{}';
    const inner = indent + '  ';
    return `{\n${entries.map(([k, x]) => `${inner}${key(k)}: ${source(x, inner)},`).join('\n')}\n${indent}}`;
  }
  return JSON.stringify(v);
}

/** profile-shape.gen.ts's text. */
export function shapeModule(shape: Shape): string {
  return [
    '// Generated by `npm run shape` from schema.ts: do not edit. What shape.ts checks a profile',
    '// against without loading zod; test/profiles/shape.test.ts checks it is current.',
    "import type { Shape } from './shape.js';",
    '',
    `export const PROFILE_SHAPE: Shape = ${source(shape, '')};`,
    '',
  ].join('\n');
}
