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
      return { k: 'literal', values: [...(d.values as (string | number | boolean)[])] };
    case 'enum':
      only(['type', 'entries']);
      return { k: 'enum', values: Object.values(d.entries as Record<string, string | number>) };
    case 'union':
      only(['type', 'options', 'discriminator', 'inclusive']);
      if (d.discriminator !== undefined) discriminated(d, where);
      else if (d.inclusive === false) throw refuse(where, `an exclusive union (z.xor)`);
      return { k: 'union', options: (d.options as z.core.$ZodType[]).map((o, i) => shapeOf(o, `${where}|${i}`)) };
    case 'array':
      only(['type', 'element', 'checks']);
      return { k: 'array', element: shapeOf(d.element as z.core.$ZodType, `${where}[]`), ...bounds(d, where) };
    case 'record':
      only(['type', 'keyType', 'valueType', 'mode']);
      if (d.mode !== undefined && d.mode !== 'strict') throw refuse(where, `a record in ${String(d.mode)} mode`);
      return { k: 'record', key: shapeOf(d.keyType as z.core.$ZodType, `${where}{key}`), value: shapeOf(d.valueType as z.core.$ZodType, `${where}{}`) };
    case 'optional':
      only(['type', 'innerType']);
      return { k: 'optional', inner: shapeOf(d.innerType as z.core.$ZodType, where) };
    case 'default': {
      only(['type', 'innerType', 'defaultValue']);
      const value = d.defaultValue;
      if (JSON.stringify(value) === undefined || typeof value === 'function') throw refuse(where, `a default that is not plain data`);
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
