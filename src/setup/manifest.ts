// The record of one setup run, kept with its backups (var/lib/gpuvirt/backups/<run>/), so
// `setup --undo` can put every file back byte for byte and run the bootloader's tool again.
import { createHash } from 'node:crypto';
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import type { BootloaderKind } from '../boot/bootloader.js';
import type { ParamChange } from './params.js';

export interface SetupManifest {
  format: 1;
  command: 'setup';
  runId: string;
  createdAt: string;
  bootloader: BootloaderKind;
  change: ParamChange;
  files: { path: string; existed: boolean; afterSha256: string }[];
  /** The programs the run used, so undo can run them again (grubby/kernelstub get the inverse change). */
  commands: string[][];
  initramfsRebuilt: boolean;
  undone?: string;
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export const manifestPath = (runId: string) => `${paths.backupDir}/${runId}/manifest.json`;
export const backupPath = (runId: string, path: string) => `${paths.backupDir}/${runId}${path}`;

export function writeManifest(host: Host, m: SetupManifest): void {
  host.writeFile(manifestPath(m.runId), `${JSON.stringify(m, null, 2)}\n`, 0o600);
}

/** The newest setup run that has not been undone, or null. */
export function lastSetup(host: Host): SetupManifest | null {
  const runs = (host.list(paths.backupDir) ?? []).sort().reverse();
  for (const run of runs) {
    const text = host.readText(manifestPath(run));
    if (!text) continue;
    try {
      const m = JSON.parse(text) as SetupManifest;
      if (m.command === 'setup' && !m.undone) return m;
    } catch {
      // not a manifest of ours
    }
  }
  return null;
}
