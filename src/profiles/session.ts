// Opening a profile for a command: read the file, check it, and resolve its devices against
// the host (live or --root) or offline. The imperative edge of src/profiles/: it reads the
// profile file and the host; everything it calls is pure over what it read.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
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

/** A profile is a few KB; anything past this is not one (and would cost the YAML parser dearly). */
export const PROFILE_MAX_BYTES = 1024 * 1024;

/**
 * A profile or host configuration file the user named (not a host path): a regular file of at
 * most PROFILE_MAX_BYTES. O_NONBLOCK so that a FIFO is refused by the fstat, not waited on.
 */
export function readProfileFile(file: string, what = 'profile'): string {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw usageError(code === 'ENOENT' ? `${file}: no such ${what} file` : `${file}: cannot read it (${code ?? String(err)})`);
  }
  try {
    if (!fstatSync(fd).isFile()) throw usageError(`${file}: not a regular file`);
    const buf = Buffer.allocUnsafe(PROFILE_MAX_BYTES + 1);
    let got = 0;
    for (let n = 1; n > 0 && got < buf.length; got += n) n = readSync(fd, buf, got, buf.length - got, null);
    if (got > PROFILE_MAX_BYTES) throw usageError(`${file}: larger than ${PROFILE_MAX_BYTES} bytes, too big for a ${what} file`);
    return buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

export async function openProfile(file: string, ctx: Pick<Ctx, 'host' | 'names'>, opts: OpenOptions): Promise<OpenedProfile> {
  const source = readProfileFile(file);
  let devices: ResolvedDevice[] = [];
  let inventory: Inventory | null = null;
  const loaded = await loadProfileText(source, (profile) => {
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
