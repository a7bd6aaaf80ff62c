import * as fs from 'node:fs';
import { writeOutFile } from '../out-file.js';
import * as nodePath from 'node:path';
import pkg from '../../package.json' with { type: 'json' };
import type { CommandDef } from './command.js';
import { usageError } from '../errors.js';
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import type { Style } from '../output.js';
import { captureSnapshot, type Unreadable } from '../snapshot/capture.js';

export interface SnapshotOptions {
  /** A file name, `-` for stdout, or null for the default name in the current directory. */
  out: string | null;
  force: boolean;
}

export interface SnapshotData {
  out: string;
  files: number;
  links: number;
  /** Size of the .tar.gz. */
  bytes: number;
  /** How many files were stored empty without being read (device memory, ROMs, VPD). */
  skipped: number;
  unreadable: Unreadable[];
}

/** gpuvirt-snapshot-<kernel>-<UTC date and time>.tar.gz */
export function defaultOut(kernel: string | null, now: Date): string {
  const stamp = now.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
  return `gpuvirt-snapshot-${(kernel ?? 'unknown').replace(/[^A-Za-z0-9._+-]/g, '_')}-${stamp}.tar.gz`;
}

/** Fails before the capture when the archive could not be written there. */
function checkOut(out: string, force: boolean): void {
  const dir = nodePath.dirname(nodePath.resolve(out));
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch {
    throw usageError(`--out ${out}: no such directory ${dir}`);
  }
  if (!st.isDirectory()) throw usageError(`--out ${out}: ${dir} is not a directory`);
  const existing = fs.statSync(out, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw usageError(`--out ${out}: is a directory`);
  if (existing && !force) throw usageError(`--out ${out}: file exists (add --force to replace it)`);
}

function writeOut(out: string, archive: Buffer, force: boolean): void {
  writeOutFile(out, archive, { force });
}

function writeStdout(archive: Buffer): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(archive, (err) => (err ? reject(err) : resolve())));
}

function size(bytes: number): string {
  return bytes < 1024 ? `${bytes} bytes` : `${Math.round(bytes / 1024)} KB`;
}

export function renderSnapshot(d: SnapshotData, s: Style): string {
  if (d.out === '-') return '';
  const out = [`${s.bold(`wrote ${d.out}`)} (${size(d.bytes)}): ${d.files} files, ${d.links} links`];
  if (d.skipped) out.push(`  ${d.skipped} device memory, ROM and VPD files stored empty, never read`);
  if (d.unreadable.length) {
    out.push(`  ${d.unreadable.length} could not be read and are left out:`);
    for (const u of d.unreadable.slice(0, 5)) out.push(`    ${u.path} (${u.errno})`);
    if (d.unreadable.length > 5) out.push(`    and ${d.unreadable.length - 5} more, listed in manifest.json`);
  }
  out.push(`Unpacked (mkdir snap && tar -xzf ${d.out} -C snap), \`gpuvirt doctor --root snap\` shows what gpuvirt saw here.`);
  return `${out.join('\n')}\n`;
}

export const snapshot: CommandDef<SnapshotOptions, SnapshotData> = {
  name: 'snapshot',
  summary: 'write a .tar.gz of what gpuvirt reads from this host, to attach to a bug report',
  help:
    'Captures the PCI, IOMMU, module, firmware-table, command-line and bootloader files gpuvirt ' +
    'reads, with symlinks kept and a manifest.json, and nothing personal: no device memory, ROMs, ' +
    'processes, mounts or network. `gpuvirt doctor --root DIR` on the unpacked archive shows what ' +
    'doctor showed here.',
  linuxOnly: true,
  options: [
    { flags: '-o, --out <file>', help: 'where to write it, - for stdout (default: gpuvirt-snapshot-<kernel>-<date>.tar.gz here)' },
    { flags: '--force', help: 'replace FILE if it exists' },
  ],
  parse(_args, opts) {
    const out = typeof opts.out === 'string' ? opts.out : null;
    if (out === '') throw usageError('--out needs a file name');
    if (out === '-' && opts.json) throw usageError('--out - and --json both want stdout: write the archive to a file');
    return { out, force: Boolean(opts.force) };
  },
  async run(opts, ctx) {
    const now = new Date();
    const out = opts.out ?? defaultOut(readAttr(ctx.host, paths.osrelease), now);
    if (out === '-' && ctx.io.isTTY) throw usageError('--out -: stdout is a terminal; redirect it to a file or pipe');
    if (out !== '-') checkOut(out, opts.force);
    const snap = captureSnapshot(ctx.host, { gpuvirtVersion: pkg.version, createdAt: now });
    const { packTarGz } = await import('../snapshot/tar.js');
    const archive = await packTarGz(snap.entries, snap.manifest);
    if (out === '-') await writeStdout(archive);
    else writeOut(out, archive, opts.force);
    const m = snap.manifest;
    const data = { out, files: m.files, links: m.links, bytes: archive.length, skipped: m.skipped.length, unreadable: m.unreadable };
    return { ok: true, data, warnings: [] };
  },
  render: (d, s) => renderSnapshot(d, s),
};
