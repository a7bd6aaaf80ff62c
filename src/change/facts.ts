// The host facts a change promises to make true, read the same way before the change, after it,
// and after a rollback: the final report says what the host shows, never what was hoped for.
import { createHash } from 'node:crypto';
import { type Host, linkName, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';

export type Fact =
  | { kind: 'driver'; address: string }
  | { kind: 'override'; address: string }
  /** A sysfs attribute's trimmed value. */
  | { kind: 'attr'; path: string }
  /** A file's content hash and mode (and link target), or absent. */
  | { kind: 'file'; path: string }
  | { kind: 'exists'; path: string }
  /** A module: absent, or loaded with the named parameter's value. */
  | { kind: 'module'; name: string; param?: string };

export const ABSENT = '(absent)';

export function factLabel(f: Fact): string {
  switch (f.kind) {
    case 'driver':
      return `${f.address} driver`;
    case 'override':
      return `${f.address} driver_override`;
    case 'attr':
    case 'file':
    case 'exists':
      return f.path;
    case 'module':
      return f.param ? `module ${f.name} ${f.param}` : `module ${f.name}`;
  }
}

export function factKey(f: Fact): string {
  return `${f.kind}:${factLabel(f)}`;
}

/** What the host shows for a fact now, as a short string (null: none / absent). */
export function readFact(host: Host, f: Fact): string | null {
  switch (f.kind) {
    case 'driver':
      if (!host.exists(paths.pciDevice(f.address))) return ABSENT;
      return linkName(host, paths.pciAttr(f.address, 'driver'));
    case 'override': {
      if (!host.exists(paths.pciDevice(f.address))) return ABSENT;
      const v = readAttr(host, paths.pciAttr(f.address, 'driver_override'));
      return v === '(null)' || v === '' ? null : v;
    }
    case 'attr':
      return readAttr(host, f.path);
    case 'file': {
      const text = host.readText(f.path);
      if (text === null) return null;
      const st = host.stat?.(f.path);
      const mode = st ? ` mode ${st.mode.toString(8)}` : '';
      return `sha256 ${createHash('sha256').update(text).digest('hex').slice(0, 16)}${mode}`;
    }
    case 'exists':
      return host.exists(f.path) ? 'yes' : 'no';
    case 'module':
      if (!host.exists(paths.sysModule(f.name))) return null;
      return f.param ? (readAttr(host, paths.moduleParam(f.name, f.param)) ?? 'loaded') : 'loaded';
  }
}

export interface FactReading {
  fact: string;
  before: string | null;
  now: string | null;
  /** What the change promised (absent for facts only watched for the rollback). */
  expected?: string | null;
}
