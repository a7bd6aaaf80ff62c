// Opening a profile for a command: read the file, check it, and resolve its devices against
// the host (live or --root) or offline. The imperative edge of src/profiles/: it reads the
// profile file and the host; everything it calls is pure over what it read.
import * as fs from 'node:fs';
import type { Ctx } from '../context.js';
import { usageError } from '../errors.js';
import { loadProfileText } from './load.js';
import type { Problem } from './problems.js';
import { readInventory, type Inventory } from './inventory.js';
import { resolveProfile, type ResolvedDevice } from './resolve.js';
import { displayHostProblems, readDisplayFacts } from './host-display.js';
import type { Profile } from './schema.js';

export interface OpenedProfile {
  file: string;
  source: string;
  /** Null when the profile (or its resolution) has errors. */
  profile: Profile | null;
  devices: ResolvedDevice[];
  problems: Problem[];
  inventory: Inventory | null;
}

export interface OpenOptions {
  /** Resolve against the host; false only checks the file. */
  resolve: boolean;
  offline: boolean;
  needFunctions: boolean;
}

export function readProfileFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw usageError(code === 'ENOENT' ? `${file}: no such profile file` : `${file}: cannot read it (${code ?? String(err)})`);
  }
}

export function openProfile(file: string, ctx: Pick<Ctx, 'host' | 'names'>, opts: OpenOptions): OpenedProfile {
  const source = readProfileFile(file);
  let devices: ResolvedDevice[] = [];
  let inventory: Inventory | null = null;
  const loaded = loadProfileText(source, (profile) => {
    if (!opts.resolve) return [];
    inventory = opts.offline ? null : readInventory(ctx.host, ctx.names);
    const r = resolveProfile(profile, inventory, { needFunctions: opts.needFunctions });
    devices = r.devices;
    if (opts.offline) return r.problems;
    return [...r.problems, ...displayHostProblems(profile, r.devices, readDisplayFacts(ctx.host))];
  });
  return { file, source, profile: loaded.profile, devices: loaded.profile ? devices : [], problems: loaded.problems, inventory };
}

export const errorsIn = (problems: readonly Problem[]) => problems.filter((p) => p.severity === 'error').length;
