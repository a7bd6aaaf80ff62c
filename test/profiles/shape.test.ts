// The shape check (src/profiles/shape.ts) against zod, the schema it is made from: what it
// passes, zod passes too and returns the very same value (defaults, key order); what zod passes
// of data as YAML gives it, it passes too (or zod would be loaded for nothing); the generated
// shape is the current schema's; and a schema it cannot follow is refused where it is made.
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parseDocument, stringify } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { PROFILE_SHAPE } from '../../src/profiles/profile-shape.gen.js';
import { profileSchema } from '../../src/profiles/schema.js';
import { parseShape, type Shape } from '../../src/profiles/shape.js';
import { shapeModule, shapeOf } from '../../src/profiles/shape-of.js';

const GEN = new URL('../../src/profiles/profile-shape.gen.ts', import.meta.url);
const PROFILES = new URL('../../profiles/', import.meta.url);

/** As loadProfileText reads a file: YAML to plain data. */
const asYaml = (v: unknown): unknown => parseDocument(stringify(v), { uniqueKeys: false, strict: true }).toJS({ maxAliasCount: 100 });

/** The shape check agrees with zod on `v`; `complete`: data as YAML gives it, which it must judge itself. */
function agrees(v: unknown, complete: boolean): boolean {
  const fast = parseShape(PROFILE_SHAPE, v);
  const slow = profileSchema.safeParse(v);
  if (fast !== undefined) {
    expect(slow.success, JSON.stringify(v)).toBe(true);
    // Same values, and the same keys in the same order (what JSON output and YAML show).
    expect(JSON.stringify(fast)).toBe(JSON.stringify(slow.data));
    expect(fast).toStrictEqual(slow.data);
  } else if (complete) expect(slow.success, `zod passes what the shape check does not: ${JSON.stringify(v)}`).toBe(false);
  return fast !== undefined;
}

const junk = fc.oneof(
  fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string({ maxLength: 8 }),
  fc.constantFrom(-0, 0.5, 2 ** 53, -1, Number.MAX_SAFE_INTEGER, Number.NaN, Number.POSITIVE_INFINITY, '', ' ', '\u0000', '\ud83d\ude00', '\ud800', 'x'.repeat(70)),
  fc.constant([]), fc.constant({}),
);

/**
 * Values for `s`. Clean: what it accepts, often at its edges (the rules of the generator make
 * some fail still: a pattern with a length). Else: now and then something else, a key missing
 * or one the schema does not have.
 */
function arb(s: Shape, clean: boolean): fc.Arbitrary<unknown> {
  const some = (good: fc.Arbitrary<unknown>) => (clean ? good : fc.oneof({ arbitrary: good, weight: 6 }, { arbitrary: junk, weight: 1 }));
  switch (s.k) {
    case 'string': {
      const sized = (n: number) => n >= (s.min ?? 0) && n <= (s.max ?? Infinity);
      const edges = [s.min, s.max].filter((n): n is number => n !== undefined).flatMap((n) => [n - 1, n, n + 1]).filter((n) => n >= 0 && n < 5000 && (!clean || sized(n)));
      const lengths = edges.map((n) => fc.constantFrom('a'.repeat(n), '\ud83d\ude00'.repeat(n), `${'a'.repeat(Math.max(0, n - 1))}\ud800`));
      // (fast-check generates for a pattern without the i flag: the lowercase ones.)
      const matching = (s.patterns ?? []).map((p) => fc.stringMatching(new RegExp(p.source, p.flags.replace('i', ''))));
      const free = [fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 12 })];
      const fits = (v: string) => (s.patterns ?? []).every((p) => p.test(v)) && sized([...v].length);
      if (clean) return (matching.length ? fc.oneof(...matching) : fc.oneof(...lengths, ...free)).filter(fits);
      return some(fc.oneof(...matching, ...lengths, ...free));
    }
    case 'int': {
      const edges = [s.min, s.max].filter((n): n is number => n !== undefined).flatMap((n) => (clean ? [n] : [n - 1, n, n + 1, n + 0.5]));
      return some(fc.oneof(fc.integer({ min: s.min ?? -1000, max: s.max ?? 100000 }), fc.constantFrom(...(edges.length ? edges : [0]), ...(clean && (s.min ?? 0) > 0 ? [] : [-0]))));
    }
    case 'boolean':
      return some(fc.boolean());
    case 'literal':
    case 'enum':
      return some(fc.constantFrom(...s.values));
    case 'union':
      return fc.oneof(...s.options.map((o) => arb(o, clean)));
    case 'array': {
      const max = Math.min((s.max ?? 3) + (clean ? 0 : 1), 4);
      return some(fc.array(arb(s.element, clean), { minLength: Math.max(0, (s.min ?? 0) - (clean ? 0 : 1)), maxLength: max }));
    }
    case 'record':
      return some(fc.dictionary(arb(s.key, clean) as fc.Arbitrary<string>, arb(s.value, clean), { maxKeys: 3, noNullPrototype: true }));
    case 'object': {
      const fields = Object.fromEntries(Object.entries(s.shape).map(([k, f]) => [k, arb(f, clean)]));
      const required = Object.entries(s.shape).filter(([, f]) => f.k !== 'optional' && f.k !== 'default').map(([k]) => k);
      const obj = fc.record(fields, { requiredKeys: required, noNullPrototype: true });
      if (clean) return obj;
      const off = fc.tuple(obj, fc.constantFrom(...Object.keys(s.shape), 'unknownKey', 'Name', '__proto__'), fc.nat(3)).map(([o, key, how]) => {
        const copy: Record<string, unknown> = { ...o };
        if (how === 0) delete copy[key];
        else Object.defineProperty(copy, key, { value: 1, enumerable: true, configurable: true, writable: true });
        return copy;
      });
      return fc.oneof({ arbitrary: obj, weight: 6 }, { arbitrary: off, weight: 1 }, { arbitrary: junk, weight: 1 });
    }
    case 'optional':
    case 'default':
      return arb(s.inner, clean);
  }
}

/** Every place in `v` (objects and lists, and what is in them), as paths. */
function places(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => places(x, [...at, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) places(x, [...at, k], out);
  return out;
}

/** A profile with one thing wrong, or odd: one value replaced, one key dropped or added. */
const oneDefect = fc.tuple(arb(PROFILE_SHAPE, true), fc.nat(), junk, fc.nat(2), fc.constantFrom('unknownKey', 'Name', 'type', 'address')).map(([v, n, bad, how, key]) => {
  const copy = structuredClone(v) as Record<string, unknown>;
  const all = places(copy);
  const path = all[n % all.length]!;
  if (path.length === 0) return copy;
  const parent = path.slice(0, -1).reduce<any>((o, k) => o[k], copy);
  const last = path[path.length - 1]!;
  if (how === 0) parent[last] = bad;
  else if (how === 1 && !Array.isArray(parent)) delete parent[last];
  else if (parent[last] !== null && typeof parent[last] === 'object' && !Array.isArray(parent[last])) parent[last][key] = bad;
  else parent[last] = bad;
  return copy;
});

describe('the shape check of profiles', () => {
  it('is made from the current schema (npm run shape writes it)', () => {
    expect(shapeModule(shapeOf(profileSchema)), 'src/profiles/profile-shape.gen.ts is stale: run `npm run shape`').toBe(readFileSync(GEN, 'utf8'));
  });

  it('passes every example profile, with what zod returns', () => {
    const files = readdirSync(PROFILES).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      const data = parseDocument(readFileSync(new URL(f, PROFILES), 'utf8')).toJS();
      expect(agrees(data, true), f).toBe(true);
    }
  });

  it('agrees with zod on random values of the schema\'s shape, as given and as YAML reads them back', () => {
    let passed = 0;
    let runs = 0;
    fc.assert(fc.property(fc.oneof(arb(PROFILE_SHAPE, true), arb(PROFILE_SHAPE, false), oneDefect), (v) => {
      runs++;
      agrees(v, false);
      if (agrees(asYaml(v), true)) passed++;
    }), { numRuns: 600 });
    // Not vacuous: a good share of the values are profiles, which the check must pass itself.
    expect(passed).toBeGreaterThan(runs / 10);
  });

  it('each device kind and its edges: the discriminator, lengths in code points, list bounds, unknown keys', () => {
    const base = { apiVersion: 'gpuvirt/v1', name: 'n', memory: 128, cpu: { cores: 1 } };
    const gpu = { type: 'gpu', select: { address: '01:00.0' } };
    const cases: unknown[] = [
      base, { ...base, memory: 127 }, { ...base, memory: '4GiB' }, { ...base, memory: 4.5 },
      { ...base, name: '\ud83d\ude00'.repeat(64) }, { ...base, name: '\ud83d\ude00'.repeat(65) }, { ...base, name: 'a/b' }, { ...base, name: '' },
      { ...base, devices: [gpu] }, { ...base, devices: [{ ...gpu, type: 'vf' }] }, { ...base, devices: [{ ...gpu, type: 'mdev' }] },
      { ...base, devices: [{ ...gpu, type: undefined }] }, { ...base, devices: Array(32).fill(gpu) }, { ...base, devices: Array(33).fill(gpu) },
      { ...base, devices: [{ ...gpu, functions: [] }] }, { ...base, devices: [{ ...gpu, functions: [0, 1] }] }, { ...base, devices: [{ ...gpu, functions: 'some' }] },
      { ...base, devices: [{ type: 'vf', pf: { id: '1002:73bf' }, vf: 'any', vfCount: 4 }] }, { ...base, devices: [{ type: 'vf', pf: {}, vf: 256, vfCount: 4 }] },
      { ...base, cpu: { cores: 1, threds: 2 } }, { ...base, targets: { proxmox: { vmid: 100, extra: { args: '-no-hpet' } } } },
      { ...base, targets: { proxmox: { vmid: 100, extra: { Args: 'x' } } } }, { ...base, display: {} }, { ...base, hugepages: '2M' }, { ...base, hugepages: '4M' },
    ];
    const passed = cases.filter((c) => agrees(asYaml(c), true)).length;
    expect(passed).toBeGreaterThan(8);
    expect(passed).toBeLessThan(cases.length - 8);
  });

  it('leaves to zod what is not plain data as YAML gives it', () => {
    const p = { apiVersion: 'gpuvirt/v1', name: 'n', memory: 128, cpu: Object.assign(Object.create(null) as object, { cores: 1 }) };
    expect(parseShape(PROFILE_SHAPE, p)).toBeUndefined();
    expect(profileSchema.safeParse(p).success).toBe(true);
    expect(parseShape(PROFILE_SHAPE, { apiVersion: 'gpuvirt/v1', name: 'n', memory: 128, cpu: { cores: 1 }, tpm: undefined })).toBeUndefined();
  });

  it('refuses, where it is made, what zod reads otherwise than its shape says', () => {
    enum Numbered { A = 0, B = 1 }
    const schemas = [
      // zod fills in the default of an optional's inner schema when the key is absent.
      z.strictObject({ a: z.int().default(2).optional() }), z.strictObject({ a: z.union([z.int(), z.string().default('d')]).optional() }),
      // A TypeScript enum maps numbers back to names: zod takes 0 and 1, not "A".
      z.strictObject({ a: z.enum(Numbered) }),
      // A record keyed by an enum or a literal needs every key.
      z.strictObject({ a: z.record(z.enum(['x', 'y']), z.string()) }), z.strictObject({ a: z.record(z.literal('x'), z.string()) }),
      // Defaults the generated module would write otherwise (JSON: -0 as 0, NaN as null, a Date as a string), or that change.
      z.strictObject({ a: z.int().default(-0) }), z.strictObject({ a: z.int().default(Number.NaN) }), z.strictObject({ a: z.string().default(new Date(0) as unknown as string) }),
      z.strictObject({ a: z.record(z.string(), z.string()).default(JSON.parse('{"__proto__": "x"}') as Record<string, string>) }),
      z.strictObject({ a: z.string().default(() => String(Math.random())) }),
      // Literals JSON cannot carry.
      z.strictObject({ a: z.literal(undefined) }), z.strictObject({ a: z.literal(1n) }), z.strictObject({ a: z.literal(Number.NaN) }),
      // zod skips a __proto__ key; in the generated module it would set the prototype.
      z.strictObject({ ['__proto__']: z.string().optional() }),
    ];
    for (const [i, s] of schemas.entries()) expect(() => shapeOf(s), `schema ${i}`).toThrow(/the shape check cannot follow it/);
    // What it does follow: a default inside an optional's value, a string-keyed record, plain defaults.
    expect(shapeOf(z.strictObject({ a: z.strictObject({ b: z.int().default(1) }).optional(), r: z.record(z.string(), z.int()), d: z.array(z.int()).default([1]) }))).toEqual({
      k: 'object',
      shape: {
        a: { k: 'optional', inner: { k: 'object', shape: { b: { k: 'default', inner: { k: 'int' }, value: 1 } } } },
        r: { k: 'record', key: { k: 'string' }, value: { k: 'int' } },
        d: { k: 'default', inner: { k: 'array', element: { k: 'int' } }, value: [1] },
      },
    });
  });

  it('refuses, where it is made, a schema it cannot follow', () => {
    for (const s of [z.strictObject({ a: z.string().email() }), z.strictObject({ a: z.string().refine((x) => x !== 'b') }), z.object({ a: z.string() }),
      z.strictObject({ a: z.number() }), z.strictObject({ a: z.string().transform((x) => x.length) }), z.strictObject({ a: z.xor([z.string(), z.string().min(2)]) }),
      z.strictObject({ a: z.int().gt(3) }), z.strictObject({ a: z.string().nullable() })]) {
      expect(() => shapeOf(s)).toThrow(/the shape check cannot follow it/);
    }
    expect(shapeOf(z.strictObject({ a: z.int().min(1).max(3).default(2) }))).toEqual({ k: 'object', shape: { a: { k: 'default', inner: { k: 'int', min: 1, max: 3 }, value: 2 } } });
  });
});
