// `gpuvirt snapshot` of the real kernel's sysfs, taken at boot (first scenario): the archive
// must unpack into a tree on which doctor and list print what they print on the live kernel
// (the doctor and list scenarios compare, so that each live command runs once). The same
// capture, sent to the host, refreshes the qemu-* fixture trees (../../refresh-fixtures.ts).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MACHINES } from '../../topology.js';
import { gpuvirt, type Run } from '../commands.js';
import type { SnapshotData } from '../contract.js';
import type { Scenario, Test } from '../framework.js';
import { sh } from '../sysfs.js';

export const SNAPSHOT_FILE = '/tmp/gpuvirt-e2e-snapshot.tar.gz';
/** The boot snapshot, unpacked; the doctor and list scenarios replay it. */
export const UNPACKED = '/tmp/gpuvirt-e2e-snapshot';

/** `gpuvirt ARGS --root <boot snapshot>` for a replay check, or null when there is no snapshot. */
export function replayOnSnapshot<D>(t: Test, ...args: string[]): Run<D> | null {
  return fs.existsSync(path.join(UNPACKED, 'manifest.json')) ? t.gpuvirt<D>(...args, '--root', UNPACKED) : null;
}

/** Throws unless the replay printed the same document as the live run. */
export function assertSameReplay(replay: Run<unknown> | null, live: Run<unknown>): void {
  assert.ok(replay, 'no unpacked boot snapshot (see the "snapshot at boot" scenario)');
  assert.deepEqual(comparable(replay), comparable(live));
}

/** `gpuvirt snapshot --out FILE --json` (never --out -: that and --json both want stdout). */
export function captureSnapshot(file = SNAPSHOT_FILE, run: (...args: string[]) => Run<SnapshotData> = gpuvirt): Run<SnapshotData> {
  fs.rmSync(file, { force: true });
  return run('snapshot', '--out', file);
}

/** Files, links and directories under `dir`, as the manifest counts them (manifest.json aside). */
function countTree(dir: string): { files: number; links: number; dirs: number } {
  const n = { files: 0, links: 0, dirs: 0 };
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isSymbolicLink()) n.links++;
      else if (e.isDirectory()) {
        n.dirs++;
        walk(path.join(d, e.name));
      } else if (!(d === dir && e.name === 'manifest.json')) n.files++;
    }
  };
  walk(dir);
  return n;
}

/** Same document apart from what legitimately differs between two runs. */
function comparable(r: Run<unknown>): unknown {
  assert.ok(r.doc, `${r.argv.join(' ')}: stdout is not one JSON document (exit ${r.status})`);
  return { status: r.status, ok: r.doc.ok, data: r.doc.data, error: r.doc.error ?? null, warnings: r.doc.warnings };
}

export const bootSnapshot: Scenario = {
  id: 'snapshot at boot',
  machines: MACHINES,
  checks: [
    'snapshot --out FILE exits 0 and writes a gzip archive',
    'the archive unpacks, and its manifest counts what it holds',
  ],
  run(t) {
    const snap = captureSnapshot(SNAPSHOT_FILE, (...a) => t.gpuvirt<SnapshotData>(...a));
    t.check('snapshot --out FILE exits 0 and writes a gzip archive', () => {
      assert.equal(snap.status, 0, 'exit status');
      const bytes = fs.readFileSync(SNAPSHOT_FILE);
      assert.deepEqual([...bytes.subarray(0, 2)], [0x1f, 0x8b], 'gzip magic');
      assert.equal(snap.doc?.data?.bytes, bytes.length, 'data.bytes');
      const d = snap.doc?.data;
      return `${snap.ms} ms: ${bytes.length} bytes, ${d?.files} files, ${d?.links} links, ${d?.skipped} skipped, unreadable: ${JSON.stringify(d?.unreadable)}`;
    });
    fs.rmSync(UNPACKED, { recursive: true, force: true });
    fs.mkdirSync(UNPACKED, { recursive: true });
    const untar = sh(['tar', '-xzf', SNAPSHOT_FILE, '-C', UNPACKED]);
    t.check('the archive unpacks, and its manifest counts what it holds', () => {
      assert.equal(untar.status, 0, `tar: ${untar.out}`);
      const manifest = JSON.parse(fs.readFileSync(path.join(UNPACKED, 'manifest.json'), 'utf8')) as { files: number; links: number; dirs: number; kernel: string };
      const counted = countTree(UNPACKED);
      assert.deepEqual({ files: manifest.files, links: manifest.links, dirs: manifest.dirs }, counted);
      assert.equal(manifest.files, snap.doc?.data?.files);
      return `${JSON.stringify(counted)}, kernel ${manifest.kernel}`;
    });
  },
};
