// A small JSON Schema (draft 2020-12) validator for the keywords `gpuvirt schema` emits, so the
// tests check documents against the published schema itself. An unknown keyword fails loudly
// rather than being ignored. `closed`: an object without additionalProperties accepts no
// property it does not list, so a field the schema forgot fails the test (the published
// schemas stay open for fields added later).

type Schema = Record<string, unknown>;
const KNOWN = new Set(['$schema', 'title', 'description', 'type', 'properties', 'required', 'additionalProperties', 'propertyNames', 'items',
  'anyOf', 'oneOf', 'const', 'enum', 'pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(want: string, v: unknown): boolean {
  const t = typeOf(v);
  return want === t || (want === 'number' && t === 'integer');
}

export function validate(schema: Schema, value: unknown, opts: { closed: boolean }, at = '$'): string[] {
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`${at}: schema keyword ${k} is not supported by this validator`);
  const errs: string[] = [];
  if (schema.anyOf || schema.oneOf) {
    const branches = (schema.anyOf ?? schema.oneOf) as Schema[];
    const results = branches.map((b) => validate(b, value, opts, at));
    const passing = results.filter((r) => r.length === 0).length;
    if (schema.oneOf ? passing !== 1 : passing === 0) {
      // Every branch's complaints, to say what is wrong whichever was meant.
      errs.push(schema.oneOf && passing > 1 ? `${at}: matches ${passing} oneOf branches` : `${at}: matches no branch: ${results.map((r, i) => `[${i}] ${r.slice(0, 8).join('; ')}`).join(' | ')}`);
    }
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((t) => typeMatches(t, value))) return [...errs, `${at}: ${typeOf(value)}, expected ${types.join('|')}`];
  }
  if ('const' in schema && value !== schema.const) errs.push(`${at}: ${JSON.stringify(value)} is not ${JSON.stringify(schema.const)}`);
  if (schema.enum && !(schema.enum as unknown[]).includes(value)) errs.push(`${at}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'string' && schema.pattern && !new RegExp(schema.pattern as string).test(value)) errs.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < (schema.minimum as number)) errs.push(`${at}: ${value} < ${schema.minimum}`);
    if (schema.maximum !== undefined && value > (schema.maximum as number)) errs.push(`${at}: ${value} > ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && value <= (schema.exclusiveMinimum as number)) errs.push(`${at}: ${value} <= ${schema.exclusiveMinimum}`);
    if (schema.exclusiveMaximum !== undefined && value >= (schema.exclusiveMaximum as number)) errs.push(`${at}: ${value} >= ${schema.exclusiveMaximum}`);
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => errs.push(...validate(schema.items as Schema, v, opts, `${at}[${i}]`)));
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const r of (schema.required ?? []) as string[]) if (!(r in obj)) errs.push(`${at}: missing ${r}`);
    for (const [k, v] of Object.entries(obj)) {
      if (props[k]) errs.push(...validate(props[k], v, opts, `${at}.${k}`));
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') errs.push(...validate(schema.additionalProperties as Schema, v, opts, `${at}.${k}`));
      else if (schema.additionalProperties === false || (opts.closed && schema.properties)) errs.push(`${at}: ${k} is not in the schema`);
      if (schema.propertyNames) errs.push(...validate(schema.propertyNames as Schema, k, opts, `${at}{${k}}`));
    }
  }
  return errs;
}
