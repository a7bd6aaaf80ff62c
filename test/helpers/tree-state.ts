// Everything a host tree holds, for "byte-identical" comparisons: every file's content and mode,
// every link's target, every directory. The simulator's sidecar (its logs) is left out.
import * as fs from 'node:fs';
import * as nodePath from 'node:path';

const SKIP = new Set(['.sim-kernel.json', 'run/gpuvirt.lock']);

export function treeState(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(nodePath.join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (SKIP.has(r)) continue;
      const full = nodePath.join(root, r);
      if (e.isSymbolicLink()) out[r] = `link ${fs.readlinkSync(full)}`;
      else if (e.isDirectory()) {
        out[r] = `dir ${(fs.statSync(full).mode & 0o7777).toString(8)}`;
        walk(r);
      } else {
        let content: string;
        try {
          content = fs.readFileSync(full, 'utf8');
        } catch {
          content = '<unreadable>';
        }
        out[r] = `file ${(fs.statSync(full).mode & 0o7777).toString(8)} ${content}`;
      }
    }
  };
  walk('');
  return out;
}

/** The entries that differ between two tree states, for a readable failure. */
export function treeDiff(a: Record<string, string>, b: Record<string, string>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].sort().filter((k) => a[k] !== b[k]).map((k) => `${k}: ${JSON.stringify(a[k] ?? null)?.slice(0, 80)} → ${JSON.stringify(b[k] ?? null)?.slice(0, 80)}`);
}
