// Packs snapshot entries into a gzip-compressed tar, in memory (a snapshot is tens of KB).
// tar-stream writes ustar headers, and pax headers for names and link targets past 100
// bytes, which sysfs paths often are. Loaded only by `gpuvirt snapshot`.
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import type { Manifest, SnapshotEntry } from './capture.js';

export const MANIFEST_NAME = 'manifest.json';

/** The archive: manifest.json first, then every entry under its real path, owned by 0:0. */
export async function packTarGz(entries: readonly SnapshotEntry[], manifest: Manifest): Promise<Buffer> {
  const mtime = new Date(manifest.createdAt);
  const tar = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    tar.on('data', (chunk: unknown) => void chunks.push(chunk as Buffer));
    tar.on('end', resolve);
    tar.on('error', reject);
  });
  tar.entry({ name: MANIFEST_NAME, type: 'file', mode: 0o644, mtime }, `${JSON.stringify(manifest, null, 2)}\n`);
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    if (e.kind === 'dir') tar.entry({ name, type: 'directory', mode: e.mode, mtime });
    else if (e.kind === 'link') tar.entry({ name, type: 'symlink', linkname: e.target, mode: 0o777, mtime });
    else tar.entry({ name, type: 'file', mode: e.mode, mtime }, Buffer.from(e.data));
  }
  tar.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks), { level: 9 });
}
