// Everything a host tree holds, for "byte-identical" comparisons: every file's content and mode,
// every link's target, every directory. The simulator's sidecar (its logs) is left out.
import * as fs from 'node:fs';
import * as nodePath from 'node:path';

const SKIP = new Set(['.sim-kernel.json', 'run/gpuvirt.lock']);

export function treeState(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  /** Records what is under `rel`; returns whether it recorded anything. */
  const walk = (rel: string): boolean => {
    let any = false;
    for (const e of fs.readdirSync(nodePath.join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (SKIP.has(r)) continue;
      const full = nodePath.join(root, r);
      any ||= !e.isDirectory();
      if (e.isSymbolicLink()) out[r] = `link ${fs.readlinkSync(full)}`;
      else if (e.isDirectory()) {
        // A kernel directory with nothing but empty directories in it is not kept in a fixture (git
        // keeps no empty directories), so one the simulated kernel made and emptied is no difference.
        const inside = walk(r);
        if (inside || !r.startsWith('sys/')) {
          out[r] = `dir ${(fs.statSync(full).mode & 0o7777).toString(8)}`;
          any = true;
        }
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
    return any;
  };
  walk('');
  return out;
}

/** The entries that differ between two tree states, for a readable failure. */
export function treeDiff(a: Record<string, string>, b: Record<string, string>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].sort().filter((k) => a[k] !== b[k]).map((k) => `${k}: ${JSON.stringify(a[k] ?? null)?.slice(0, 80)} → ${JSON.stringify(b[k] ?? null)?.slice(0, 80)}`);
}

/**
 * What a user can tell apart on a host whose kernel re-creates devices (a module reload makes
 * new VF devices): each PCI device's driver, driver_override and SR-IOV settings, the loaded
 * modules and their parameters, and every file outside /sys, /proc and /dev.
 */
export function hostFacts(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const read = (p: string) => {
    try {
      return fs.readFileSync(nodePath.join(root, p), 'utf8').trim();
    } catch {
      return null;
    }
  };
  const link = (p: string) => {
    try {
      return nodePath.basename(fs.readlinkSync(nodePath.join(root, p)));
    } catch {
      return null;
    }
  };
  for (const dev of fs.readdirSync(nodePath.join(root, 'sys/bus/pci/devices'))) {
    const d = `sys/bus/pci/devices/${dev}`;
    out[`${dev} driver`] = String(link(`${d}/driver`));
    out[`${dev} driver_override`] = String(read(`${d}/driver_override`));
    for (const a of ['sriov_numvfs', 'sriov_drivers_autoprobe']) if (read(`${d}/${a}`) !== null) out[`${dev} ${a}`] = read(`${d}/${a}`)!;
  }
  out.modules = (read('proc/modules') ?? '').split('\n').map((l) => l.split(' ')[0]).sort().join(' ');
  const mods = nodePath.join(root, 'sys/module');
  for (const m of fs.existsSync(mods) ? fs.readdirSync(mods) : []) {
    const params = nodePath.join(mods, m, 'parameters');
    for (const p of fs.existsSync(params) ? fs.readdirSync(params) : []) out[`module ${m} ${p}`] = String(read(`sys/module/${m}/parameters/${p}`));
  }
  for (const [k, v] of Object.entries(treeState(root))) if (!/^(sys|proc|dev)(\/|$)/.test(k)) out[k] = v;
  return out;
}
