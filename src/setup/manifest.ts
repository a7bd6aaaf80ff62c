// The record of one setup run, kept with its backups (var/lib/gpuvirt/backups/<run>/), so
// `setup --undo` can put every file back byte for byte and run the bootloader's tool again.
import { createHash } from 'node:crypto';
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import type { BootloaderKind } from '../boot/bootloader.js';
import { RESET_RULE } from '../reset/change.js';
import type { ParamChange } from './params.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import { checkLine, checkPath, RUN_ID, showValue, unsafeValue } from '../validate.js';

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
  /** reset_method values `setup --reset` replaced with device_specific, to write back on undo. */
  resetMethods?: { path: string; value: string }[];
  undone?: string;
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export const manifestPath = (runId: string) => `${paths.backupDir}/${runId}/manifest.json`;
export const backupPath = (runId: string, path: string) => `${paths.backupDir}/${runId}${path}`;

export function writeManifest(host: Host, m: SetupManifest): void {
  host.writeFile(manifestPath(m.runId), `${JSON.stringify(m, null, 2)}\n`, 0o600);
}

/** Files setup edits: what a manifest may name for undo to restore or remove. */
export function isManagedSetupFile(path: string): boolean {
  const exact: string[] = [
    paths.etcDefaultGrub, paths.etcKernelCmdline, paths.etcModules, paths.initramfsToolsModules, paths.kernelstubConfig,
    ...Object.values(paths.setupFiles), RESET_RULE,
  ];
  if (exact.includes(path)) return true;
  const dir = path.slice(0, path.lastIndexOf('/'));
  if (dir === `${paths.etcDefaultGrub}.d`) return path.endsWith('.cfg');
  return (paths.loaderEntryDirs as readonly string[]).includes(dir) && path.endsWith('.conf');
}

/** The programs setup runs, and so the only ones undo runs again. */
const SETUP_TOOLS = ['update-grub', 'grub2-mkconfig', 'grubby', 'proxmox-boot-tool', 'kernelstub', 'update-initramfs', 'dracut', 'mkinitcpio'];

/** A manifest as setup wrote it, or an error naming the first field that is not. */
export function checkManifest(m: SetupManifest, dir: string): SetupManifest {
  const where = manifestPath(dir);
  const refuse = (detail: string) => new GpuvirtError('E_MANIFEST', `${where} is not a setup manifest gpuvirt can undo: ${detail}`, {
    exitCode: ExitCode.refused, hint: 'move that backup directory aside; the files it names are left as they are',
  });
  const bad = (field: string, value: unknown, what: string) => refuse(unsafeValue(field, value, what).message);
  const wrap = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      throw err instanceof GpuvirtError ? refuse(err.message) : err;
    }
  };
  if (m.format !== 1) throw bad('format', m.format, '1');
  if (m.runId !== dir || !RUN_ID.test(dir)) throw bad('runId', m.runId, `the name of its directory (${showValue(dir)})`);
  if (!Array.isArray(m.files)) throw bad('files', m.files, 'a list');
  m.files.forEach((f, i) => {
    wrap(() => checkPath(f?.path, `files[${i}].path`));
    if (!isManagedSetupFile(f.path)) throw bad(`files[${i}].path`, f.path, 'a file setup edits');
    if (typeof f.existed !== 'boolean') throw bad(`files[${i}].existed`, f.existed, 'true or false');
    if (typeof f.afterSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.afterSha256)) throw bad(`files[${i}].afterSha256`, f.afterSha256, 'a SHA-256');
  });
  if (!Array.isArray(m.commands)) throw bad('commands', m.commands, 'a list');
  m.commands.forEach((argv, i) => {
    if (!Array.isArray(argv) || !SETUP_TOOLS.includes(String(argv[0]))) throw bad(`commands[${i}]`, argv, `a run of ${SETUP_TOOLS.join(', ')}`);
    argv.forEach((a, j) => wrap(() => checkLine(a, `commands[${i}][${j}]`)));
  });
  if (m.resetMethods !== undefined) {
    if (!Array.isArray(m.resetMethods)) throw bad('resetMethods', m.resetMethods, 'a list');
    m.resetMethods.forEach((r, i) => {
      const addr = typeof r?.path === 'string' && r.path.startsWith(`${paths.pciDevices}/`) ? r.path.slice(paths.pciDevices.length + 1) : '';
      if (!/^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]\/reset_method$/.test(addr)) throw bad(`resetMethods[${i}].path`, r?.path, 'a PCI device\'s reset_method');
      if (typeof r.value !== 'string' || !/^(\n|[a-z_]+( [a-z_]+)*)$/.test(r.value)) throw bad(`resetMethods[${i}].value`, r.value, 'reset method names');
    });
  }
  const change = m.change as Partial<ParamChange> | undefined;
  if (!change || !Array.isArray(change.add) || !Array.isArray(change.remove)) throw bad('change', change, '{ add, remove }');
  change.add.forEach((p, i) => {
    if (typeof p?.key !== 'string' || !/^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/.test(p.key)) throw bad(`change.add[${i}].key`, p?.key, 'a kernel parameter name');
    if (p.value !== null) wrap(() => checkLine(p.value, `change.add[${i}].value`));
  });
  change.remove.forEach((r, i) => {
    if (typeof r !== 'string' || !/^[A-Za-z0-9_.][^\s'"\x00-\x1f\x7f]*$/.test(r)) throw bad(`change.remove[${i}]`, r, 'a kernel parameter');
  });
  return m;
}

/** The newest setup run that has not been undone, or null. */
export function lastSetup(host: Host): SetupManifest | null {
  const runs = (host.list(paths.backupDir) ?? []).sort().reverse();
  for (const run of runs) {
    const text = host.readText(manifestPath(run));
    if (!text) continue;
    try {
      const parsed = JSON.parse(text) as SetupManifest;
      if (parsed.command !== 'setup' || parsed.undone) continue;
      return checkManifest(parsed, run);
    } catch (err) {
      if (err instanceof GpuvirtError) throw err;
      // not JSON: not a manifest of ours
    }
  }
  return null;
}
