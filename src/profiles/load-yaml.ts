// Reading a profile with the yaml package: its text parsed with source positions (every node
// keeps its offsets), YAML errors and repeated keys reported where they are, and a profile that
// fails the shape check judged by zod (schema-problems.ts). load.ts comes here for what
// readSimpleYaml leaves to it; placing a problem in the source always does.
import { isScalar, LineCounter, parseDocument, visit } from 'yaml';
import { Elsewhere } from '../errors.js';
import { normalize } from './normalize.js';
import { collectionKeys, kindOf, place, type Doc } from './place.js';
import { problem, sortProblems, type Problem } from './problems.js';
import { PROFILE_SHAPE } from './profile-shape.gen.js';
import { profileRules } from './rules.js';
import type { Profile } from './schema.js';
import { parseShape } from './shape.js';
import type { LoadedProfile } from './load.js';

const elsewhere = (): never => {
  throw new Elsewhere('a profile that fails the shape check');
};

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

/** loadProfileText through the yaml package: the same result, for any text. */
export async function loadWithYaml(source: string, extra?: (p: Profile) => Problem[]): Promise<LoadedProfile> {
  const lc = new LineCounter();
  // Duplicate keys are found here, by duplicateKeys: yaml's own check compares each key with
  // every earlier one (10k keys took seconds).
  const doc = parseDocument(source, { lineCounter: lc, prettyErrors: false, uniqueKeys: false, strict: true });
  const problems: Problem[] = [...duplicateKeys(doc, lc), ...collectionKeys(doc, lc)];
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
  let parsed = parseShape<Profile>(PROFILE_SHAPE, data);
  if (parsed === undefined) {
    // A command's own bundle holds no zod: the whole program says what is wrong.
    const { schemaCheck } = typeof GPUVIRT_ONLY === 'string' ? elsewhere() : await import('./schema-problems.js');
    const judged = schemaCheck(data as Record<string, unknown>, doc, lc);
    if ('problems' in judged) return { profile: null, problems: sortProblems([...problems, ...judged.problems]), source };
    parsed = judged.profile;
  }
  const profile = normalize(parsed);
  const more = [...profileRules(profile), ...(extra ? extra(profile) : [])];
  problems.push(...more.map((p) => (p.line === null ? place(p, doc, lc) : p)));
  return { profile: problems.some((p) => p.severity === 'error') ? null : profile, problems: sortProblems(problems), source };
}

/** Places problems found later (against a host) in the same source. */
export function placeProblems(source: string, found: readonly Problem[]): Problem[] {
  const lc = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lc, prettyErrors: false });
  return sortProblems(found.map((p) => (p.line === null ? place(p, doc, lc) : p)));
}
