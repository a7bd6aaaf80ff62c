// Checks documents against the vendored Kubernetes and KubeVirt schema excerpts in
// test/fixtures/schemas/ (each names its source). Strict, like `kubectl apply --validate=strict`:
// a field the schema does not know is an error, as are a missing required field and a wrong type.
import { readFileSync } from 'node:fs';

const SCHEMAS = new URL('../fixtures/schemas/', import.meta.url).pathname;
const load = (name: string) => JSON.parse(readFileSync(SCHEMAS + name, 'utf8'));

// ---- OpenAPI v3 (a CRD's openAPIV3Schema) ----

interface OpenApi {
  type?: string;
  properties?: Record<string, OpenApi>;
  required?: string[];
  items?: OpenApi;
  additionalProperties?: OpenApi | boolean;
  nullable?: boolean;
}

function checkOpenApi(s: OpenApi, v: unknown, at: string, errors: string[]): void {
  if (v === null) {
    if (!s.nullable) errors.push(`${at}: null`);
    return;
  }
  switch (s.type) {
    case 'object': {
      if (typeof v !== 'object' || Array.isArray(v)) return void errors.push(`${at}: not an object`);
      const o = v as Record<string, unknown>;
      for (const r of s.required ?? []) if (!(r in o)) errors.push(`${at}.${r}: required`);
      for (const [k, x] of Object.entries(o)) {
        const p = s.properties?.[k] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
        if (!p) errors.push(`${at}.${k}: unknown field`);
        else checkOpenApi(p, x, `${at}.${k}`, errors);
      }
      return;
    }
    case 'array':
      if (!Array.isArray(v)) return void errors.push(`${at}: not an array`);
      v.forEach((x, i) => checkOpenApi(s.items ?? {}, x, `${at}[${i}]`, errors));
      return;
    case 'string':
      if (typeof v !== 'string') errors.push(`${at}: not a string`);
      return;
    case 'boolean':
      if (typeof v !== 'boolean') errors.push(`${at}: not a boolean`);
      return;
    case 'integer':
      if (!Number.isInteger(v)) errors.push(`${at}: not an integer`);
      return;
  }
}

/** Errors of a value for the KubeVirt CR's spec.configuration (the fields the excerpt covers). */
export function kubevirtConfigurationErrors(configuration: unknown): string[] {
  const errors: string[] = [];
  checkOpenApi(load('kubevirt-configuration.json'), configuration, 'spec.configuration', errors);
  return errors;
}

// ---- Kubernetes built-in types (structured-merge-diff schema + required fields) ----

interface SmdType {
  namedType?: string;
  scalar?: 'string' | 'numeric' | 'boolean' | 'untyped';
  list?: { elementType: SmdType };
  map?: { fields?: { name: string; type: SmdType }[]; elementType?: SmdType };
}
interface SmdNamed extends SmdType {
  name: string;
  required?: string[];
}

let types: Map<string, SmdNamed> | null = null;

function checkSmd(t: SmdType, v: unknown, at: string, errors: string[], required: string[] = []): void {
  if (t.namedType) {
    types ??= new Map((load('kubernetes-workloads.json').types as SmdNamed[]).map((x) => [x.name, x]));
    const named = types.get(t.namedType);
    if (!named) return void errors.push(`${at}: the excerpt lacks ${t.namedType}`);
    return checkSmd(named, v, at, errors, named.required);
  }
  if (v === null || v === undefined) return;
  if (t.scalar) {
    const ok = t.scalar === 'untyped' || (t.scalar === 'numeric' ? typeof v === 'number' : typeof v === t.scalar);
    if (!ok) errors.push(`${at}: not ${t.scalar}`);
    return;
  }
  if (t.list) {
    if (!Array.isArray(v)) return void errors.push(`${at}: not a list`);
    v.forEach((x, i) => checkSmd(t.list!.elementType, x, `${at}[${i}]`, errors));
    return;
  }
  if (t.map) {
    if (typeof v !== 'object' || Array.isArray(v)) return void errors.push(`${at}: not a map`);
    const o = v as Record<string, unknown>;
    for (const r of required) if (!(r in o)) errors.push(`${at}.${r}: required`);
    for (const [k, x] of Object.entries(o)) {
      const f = t.map.fields?.find((y) => y.name === k)?.type ?? t.map.elementType;
      if (!f) errors.push(`${at}.${k}: unknown field`);
      else checkSmd(f, x, `${at}.${k}`, errors);
    }
  }
}

/** Errors of a value as a Kubernetes object of the named type (io.k8s.api.apps.v1.DaemonSet). */
export function kubernetesErrors(typeName: string, value: unknown): string[] {
  const errors: string[] = [];
  checkSmd({ namedType: typeName }, value, typeName.slice(typeName.lastIndexOf('.') + 1), errors);
  return errors;
}
