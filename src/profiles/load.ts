// Reading a profile: its YAML, checked against the schema and the cross-field rules, every
// problem placed at file:line:col. Never throws on bad input: everything wrong comes back as
// problems. The profiles people write are read without the yaml package and zod (yaml-lite.ts,
// shape.ts): they are most of a profile command's start, and most problems are placed from
// where that reader saw each value. Any other text, a profile with a mistake in it, and a
// problem at a block collection go through load-yaml.ts, with the same result.
import { normalize } from './normalize.js';
import { sortProblems, type Problem } from './problems.js';
import { PROFILE_SHAPE } from './profile-shape.gen.js';
import { profileRules } from './rules.js';
import type { Profile } from './schema.js';
import { parseShape } from './shape.js';
import { placeKey, readSimpleYaml, type Places } from './yaml-lite.js';

export interface LoadedProfile {
  /** The parsed profile, when it has no errors (warnings allowed). */
  profile: Profile | null;
  problems: Problem[];
  source: string;
}

/** Parses and checks profile text; `extra` adds checks on a well-formed profile (against a host). */
export async function loadProfileText(source: string, extra?: (p: Profile) => Problem[]): Promise<LoadedProfile> {
  const places: Places = new Map();
  const data = readSimpleYaml(source, places);
  const parsed = data === undefined ? undefined : parseShape<Profile>(PROFILE_SHAPE, data);
  if (parsed === undefined) return (await import('./load-yaml.js')).loadWithYaml(source, extra);
  const profile = normalize(parsed);
  const found = [...profileRules(profile), ...(extra ? extra(profile) : [])];
  const problems = found.length ? placeQuickly(source, places, found) ?? (await locateProblems(source, found)) : [];
  return { profile: problems.some((p) => p.severity === 'error') ? null : profile, problems, source };
}

/**
 * The problems placed as the yaml package places them (load-yaml.ts: at the closest node along
 * the path that exists, from its start to its end), from where readSimpleYaml saw the nodes;
 * undefined when one falls on a block collection, whose end only the yaml package knows.
 */
export function placeQuickly(source: string, places: Places, found: readonly Problem[]): Problem[] | undefined {
  // Where each line starts, and an offset's 1-based line and column (the yaml package's LineCounter).
  const starts = [0];
  for (let i = source.indexOf('\n'); i >= 0; i = source.indexOf('\n', i + 1)) starts.push(i + 1);
  const at = (offset: number) => {
    let low = 0;
    let high = starts.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (starts[mid]! < offset) low = mid + 1;
      else high = mid;
    }
    if (starts[low] === offset) return { line: low + 1, col: 1 };
    return { line: low, col: offset - starts[low - 1]! + 1 };
  };
  const out: Problem[] = [];
  for (const p of found) {
    if (p.line !== null) {
      out.push(p);
      continue;
    }
    let range: readonly [number, number] | null | undefined;
    for (let n = p.path.length; n >= 0 && range === undefined; n--) range = places.get(placeKey(p.path.slice(0, n)));
    if (!range) return undefined;
    const start = at(range[0]);
    const end = at(range[1]);
    out.push({ ...p, line: start.line, col: start.col, endLine: end.line, endCol: end.col });
  }
  return sortProblems(out);
}

/** Places problems found later (against a host) in the same source. */
export async function locateProblems(source: string, found: readonly Problem[]): Promise<Problem[]> {
  return (await import('./load-yaml.js')).placeProblems(source, found);
}
