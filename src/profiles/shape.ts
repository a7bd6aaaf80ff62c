// The profile schema as plain data (profile-shape.gen.ts, made from schema.ts by
// `npm run shape`) and a checker over it: a profile that passes comes back exactly as zod would
// return it (defaults filled in, keys in the schema's order), without loading zod. zod is
// needed only to say what is wrong with a profile, which is when this checker gives up; it
// also gives up on anything it is not sure of, and zod decides.
//
// Loading zod and building the schema is most of `profile validate`'s start; this check of a
// profile costs a few hundred microseconds.

/** One node of the schema, as shape-of.ts reads it from zod. */
export type Shape =
  /** A strict object: every key known, in this order. */
  | { k: 'object'; shape: Readonly<Record<string, Shape>> }
  /** Lengths in code points, as zod counts them; every pattern must match. */
  | { k: 'string'; min?: number; max?: number; patterns?: readonly RegExp[] }
  /** A safe integer, bounds inclusive. */
  | { k: 'int'; min?: number; max?: number }
  | { k: 'boolean' }
  | { k: 'literal'; values: readonly (string | number | boolean)[] }
  | { k: 'enum'; values: readonly (string | number)[] }
  /** The first option that passes. */
  | { k: 'union'; options: readonly Shape[] }
  | { k: 'array'; element: Shape; min?: number; max?: number }
  | { k: 'record'; key: Shape; value: Shape }
  | { k: 'optional'; inner: Shape }
  /** Absent: the value (a copy); present: checked by inner. */
  | { k: 'default'; inner: Shape; value: unknown };

/** zod would refuse the value. */
const INVALID: unique symbol = Symbol('invalid');
/** A value this checker does not judge (not plain data as YAML gives it): zod decides. */
const UNSURE: unique symbol = Symbol('unsure');
type Result = unknown;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype && Object.getOwnPropertySymbols(v).length === 0;

/** A string's length as zod counts it: a surrogate pair is one. */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    if ((s.charCodeAt(i) & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n--;
      i++;
    }
  }
  return n;
}

function copy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copy);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)]));
  return v;
}

const within = (n: number, s: { min?: number; max?: number }) => (s.min === undefined || n >= s.min) && (s.max === undefined || n <= s.max);

function check(s: Shape, v: unknown): Result {
  switch (s.k) {
    case 'string': {
      if (typeof v !== 'string') return INVALID;
      if ((s.min !== undefined || s.max !== undefined) && !within(codePoints(v), s)) return INVALID;
      if (s.patterns) for (const p of s.patterns) {
        p.lastIndex = 0;
        if (!p.test(v)) return INVALID;
      }
      return v;
    }
    case 'int':
      return typeof v === 'number' && Number.isSafeInteger(v) && within(v, s) ? v : INVALID;
    case 'boolean':
      return typeof v === 'boolean' ? v : INVALID;
    case 'literal':
    case 'enum':
      return (s.values as readonly unknown[]).includes(v) ? v : INVALID;
    case 'union': {
      for (const o of s.options) {
        const r = check(o, v);
        // An earlier option this checker cannot judge might be the one zod takes.
        if (r !== INVALID) return r;
      }
      return INVALID;
    }
    case 'array': {
      if (!Array.isArray(v)) return INVALID;
      if (Object.getPrototypeOf(v) !== Array.prototype) return UNSURE;
      if (!within(v.length, s)) return INVALID;
      const out: unknown[] = [];
      for (let i = 0; i < v.length; i++) {
        if (!(i in v)) return UNSURE; // a hole
        const r = check(s.element, v[i]);
        if (r === INVALID || r === UNSURE) return r;
        out.push(r);
      }
      return out;
    }
    case 'record': {
      if (!isPlainObject(v)) return v !== null && typeof v === 'object' && !Array.isArray(v) ? UNSURE : INVALID;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(v)) {
        if (key === '__proto__') return UNSURE;
        const k = check(s.key, key);
        if (k === INVALID || k === UNSURE) return k;
        const r = check(s.value, v[key]);
        if (r === INVALID || r === UNSURE) return r;
        out[key] = r;
      }
      return out;
    }
    case 'object': {
      if (!isPlainObject(v)) return v !== null && typeof v === 'object' && !Array.isArray(v) ? UNSURE : INVALID;
      for (const key of Object.keys(v)) if (!Object.hasOwn(s.shape, key)) return INVALID;
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(s.shape)) {
        const has = Object.hasOwn(v, key);
        if (has && v[key] === undefined) return UNSURE;
        if (!has) {
          if (field.k === 'optional') continue;
          if (field.k === 'default') {
            out[key] = copy(field.value);
            continue;
          }
          return INVALID;
        }
        const r = check(field, v[key]);
        if (r === INVALID || r === UNSURE) return r;
        out[key] = r;
      }
      return out;
    }
    case 'optional':
      return v === undefined ? UNSURE : check(s.inner, v);
    case 'default':
      return v === undefined ? copy(s.value) : check(s.inner, v);
  }
}

/** The value as zod would return it, or undefined when zod must decide (an error, or a doubt). */
export function parseShape<T>(shape: Shape, value: unknown): T | undefined {
  const r = check(shape, value);
  return r === INVALID || r === UNSURE ? undefined : (r as T);
}
