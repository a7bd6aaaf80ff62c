// Reading a host configuration file: YAML with source positions, the zod schema, the rules
// that relate fields, and every problem placed at file:line:col as `profile validate` does.
// Never throws on bad input; pure over the text.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { collectionKeys } from '../profiles/place.js';
import { problem, sortProblems, type Path, type Problem } from '../profiles/problems.js';
import { hostConfigFileSchema, type HostConfig, type HostConfigFile, type HostDevice } from './schema.js';

export interface LoadedHostConfig {
  file: HostConfigFile | null;
  problems: Problem[];
}

function nodeAt(doc: Document.Parsed, path: Path, key: boolean): YamlNode | null {
  let node: unknown = doc.contents;
  for (const [i, step] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(step));
      if (!pair) return null;
      node = key && i === path.length - 1 ? pair.key : pair.value;
    } else if (isSeq(node) && typeof step === 'number') node = node.items[step];
    else return null;
    if (node === null || node === undefined) return null;
  }
  return node as YamlNode;
}

function place(p: Problem, doc: Document.Parsed, lc: LineCounter, key = false): Problem {
  for (let n = p.path.length; n >= 0; n--) {
    const node = nodeAt(doc, p.path.slice(0, n), key && n === p.path.length);
    if (node?.range) {
      const s = lc.linePos(node.range[0]);
      const e = lc.linePos(node.range[1]);
      return { ...p, line: s.line, col: s.col, endLine: e.line, endCol: e.col };
    }
  }
  return { ...p, line: 1, col: 1 };
}

function shown(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v === 'string' ? `the text ${JSON.stringify(v)}` : `${typeof v} ${String(v)}`;
}

function valueAt(data: unknown, path: Path): unknown {
  let v = data;
  for (const s of path) v = v && typeof v === 'object' ? (v as Record<string | number, unknown>)[s] : undefined;
  return v;
}

function issueProblem(issue: z.core.$ZodIssue, data: unknown): { p: Problem; key: boolean }[] {
  const path = issue.path.filter((s): s is string | number => typeof s !== 'symbol');
  const value = valueAt(data, path);
  const last = String(path[path.length - 1] ?? '');
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => ({ p: problem('error', [...path, k], `unknown key "${k}"`), key: true }));
    case 'invalid_type':
      if (value === undefined) return [{ p: problem('error', path, `missing key "${last}" (${issue.expected} required)`), key: false }];
      // A PCI address written without quotes reaches YAML 1.1 readers as a number.
      if (typeof value === 'number' && last === 'address') return [{ p: problem('error', path, 'a PCI address must be quoted: "0000:01:00.0"'), key: false }];
      return [{ p: problem('error', path, `expected ${issue.expected === 'int' ? 'a whole number' : `a ${issue.expected}`}, got ${shown(value)}`), key: false }];
    case 'invalid_value':
      return [{ p: problem('error', path, `${value === undefined ? `missing key "${last}": ` : 'must be '}${issue.values.map((x) => JSON.stringify(x)).join(' or ')}${value === undefined ? '' : `, not ${shown(value)}`}`), key: false }];
    case 'too_small':
    case 'too_big':
      return [{ p: problem('error', path, `must be ${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(issue.code === 'too_small' ? issue.minimum : issue.maximum)}`), key: false }];
    default:
      return [{ p: problem('error', path, issue.message), key: issue.code === 'invalid_key' }];
  }
}

const fullAddress = (a: string) => (a.length === 7 ? `0000:${a}` : a).toLowerCase();

function normalizeDevice(d: HostDevice): HostDevice {
  const s = d.select;
  return { ...d, ...(d.vgpu ? { vgpu: d.vgpu.map((v) => ({ type: String(v.type).trim(), count: v.count })) } : {}), select: { ...s, ...(s.address ? { address: fullAddress(s.address) } : {}), ...(s.id ? { id: s.id.toLowerCase() } : {}) } };
}

/** Addresses written without quotes: gpuvirt reads them (YAML 1.2), PyYAML and so Ansible read 0000:01:00.0 as 60.0. */
function unquoted(doc: Document.Parsed, lc: LineCounter, file: HostConfigFile): Problem[] {
  const out: Problem[] = [];
  for (const [name, cfg] of Object.entries(file.configs)) {
    cfg.devices.forEach((_d, i) => {
      const path: Path = ['configs', name, 'devices', i, 'select', 'address'];
      const node = nodeAt(doc, path, false);
      if (isScalar(node) && node.type === 'PLAIN') {
        out.push(place(problem('warning', path, `write the address quoted ("${String(node.value)}"): YAML 1.1 readers such as PyYAML (Ansible) read it as a number`), doc, lc));
      }
    });
  }
  return out;
}

/** What the schema cannot say: each device entry wants exactly one thing, and a selector selects. */
function rules(file: HostConfigFile): Problem[] {
  const out: Problem[] = [];
  for (const [name, cfg] of Object.entries(file.configs)) {
    cfg.devices.forEach((d, i) => {
      const at: Path = ['configs', name, 'devices', i];
      if (d.driver && d.sriov) out.push(problem('error', at, 'give driver or sriov, not both: a PF passed through whole has no VFs'));
      if (!d.driver && !d.sriov && !d.resetMethod && !d.vgpu) out.push(problem('error', at, 'say what the devices should be: driver (vfio-pci, pci-stub), sriov { vfs }, vgpu or resetMethod'));
      if (d.vgpu && d.driver) out.push(problem('error', [...at, 'vgpu'], 'give driver or vgpu, not both: a GPU passed through whole carries no vGPUs'));
      if (d.vgpu && d.sriov?.vfDriver) out.push(problem('error', [...at, 'vgpu'], 'give sriov.vfDriver or vgpu, not both: VFs that carry vGPUs stay on the vendor driver, which is their VFIO driver'));
      const types = (d.vgpu ?? []).map((v) => String(v.type).toLowerCase());
      if (new Set(types).size !== types.length) out.push(problem('error', [...at, 'vgpu'], 'each vGPU type once: add up the counts'));
      const s = d.select;
      if (!s.address && !s.id && !s.name && !s.all) out.push(problem('error', [...at, 'select'], 'a selector needs address, id, name or all: true'));
      if (s.address && (s.all || s.index !== undefined)) out.push(problem('error', [...at, 'select'], 'an address names one device: all and index do not go with it'));
      if (s.all && s.index !== undefined) out.push(problem('error', [...at, 'select'], 'all and index contradict each other'));
    });
  }
  return out;
}

export function loadHostConfigText(source: string): LoadedHostConfig {
  const lc = new LineCounter();
  // YAML 1.1 is what Ansible's readers speak; gpuvirt reads 1.2, and refuses the unquoted address both misread.
  const doc = parseDocument(source, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: true });
  const problems: Problem[] = collectionKeys(doc, lc);
  for (const e of [...doc.errors, ...doc.warnings]) {
    const s = lc.linePos(e.pos[0]);
    problems.push({ severity: e.name === 'YAMLWarning' ? 'warning' : 'error', path: [], message: `YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, line: s.line, col: s.col, endLine: null, endCol: null });
  }
  if (problems.some((p) => p.severity === 'error')) return { file: null, problems: sortProblems(problems) };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { file: null, problems: [{ ...problem('error', [], `YAML: ${(err as Error).message}`), line: 1, col: 1 }] };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { file: null, problems: [place(problem('error', [], `a host configuration is a mapping (apiVersion, kind, configs), not ${shown(data)}`), doc, lc)] };
  }
  const parsed = hostConfigFileSchema.safeParse(data);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) for (const { p, key } of issueProblem(issue, data)) problems.push(place(p, doc, lc, key));
    return { file: null, problems: sortProblems(problems) };
  }
  const file: HostConfigFile = { ...parsed.data, configs: Object.fromEntries(Object.entries(parsed.data.configs).map(([n, c]) => [n, { ...c, devices: c.devices.map(normalizeDevice) }])) };
  problems.push(...rules(file).map((p) => place(p, doc, lc)), ...unquoted(doc, lc, parsed.data));
  return { file: problems.some((p) => p.severity === 'error') ? null : file, problems: sortProblems(problems) };
}

/** The named config, or a problem listing the names there are. */
export function pickConfig(file: HostConfigFile, name: string): { config: HostConfig | null; message: string | null } {
  const config = Object.hasOwn(file.configs, name) ? file.configs[name]! : null;
  if (config) return { config, message: null };
  const names = Object.keys(file.configs);
  return { config: null, message: `no config named "${name}" in the file${names.length ? ` (it has: ${names.join(', ')})` : ''}` };
}
