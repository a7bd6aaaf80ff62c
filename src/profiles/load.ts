// Reading a profile: its YAML, checked against the schema and the cross-field rules, every
// problem placed at file:line:col. Never throws on bad input: everything wrong comes back as
// problems. The profiles people write are read without the yaml package and zod (yaml-lite.ts,
// shape.ts): they are most of a profile command's start. Any other text, a profile with a
// mistake in it, and placing a problem go through load-yaml.ts, with the same result.
import { normalize } from './normalize.js';
import type { Problem } from './problems.js';
import { PROFILE_SHAPE } from './profile-shape.gen.js';
import { profileRules } from './rules.js';
import type { Profile } from './schema.js';
import { parseShape } from './shape.js';
import { readSimpleYaml } from './yaml-lite.js';

export interface LoadedProfile {
  /** The parsed profile, when it has no errors (warnings allowed). */
  profile: Profile | null;
  problems: Problem[];
  source: string;
}

/** Parses and checks profile text; `extra` adds checks on a well-formed profile (against a host). */
export async function loadProfileText(source: string, extra?: (p: Profile) => Problem[]): Promise<LoadedProfile> {
  const data = readSimpleYaml(source);
  const parsed = data === undefined ? undefined : parseShape<Profile>(PROFILE_SHAPE, data);
  if (parsed === undefined) return (await import('./load-yaml.js')).loadWithYaml(source, extra);
  const profile = normalize(parsed);
  const found = [...profileRules(profile), ...(extra ? extra(profile) : [])];
  const problems = found.length ? await locateProblems(source, found) : [];
  return { profile: problems.some((p) => p.severity === 'error') ? null : profile, problems, source };
}

/** Places problems found later (against a host) in the same source. */
export async function locateProblems(source: string, found: readonly Problem[]): Promise<Problem[]> {
  return (await import('./load-yaml.js')).placeProblems(source, found);
}
