// npm run build: dist/gpuvirt.cjs, the CLI as one CommonJS file (scripts/esbuild-plugins.mjs),
// and dist/gpuvirt.cache, the V8 code cache bin/gpuvirt compiles it with: made by running the
// read-only commands once (scripts/package/code-cache.cjs) in a child with Node's default
// flags (V8 rejects a cache made under other flags, NODE_OPTIONS), and stamped with the
// bundle's size and modification time; and one cache per read-only command, made by running only
// it (bin/gpuvirt picks it by the command's word). Without a cache every command works, only slower to start.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleCli } from './esbuild-plugins.mjs';

const path = (rel) => fileURLToPath(new URL(rel, import.meta.url));
const { BUNDLE, CACHE, SPLIT, filesOf, stampOf } = createRequire(import.meta.url)('../bin/gpuvirt');

rmSync(path('../dist'), { recursive: true, force: true });
await bundleCli(BUNDLE);
for (const name of SPLIT) await bundleCli(filesOf(name).bundle, name);
const env = { ...process.env };
for (const k of ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'GPUVIRT_ROOT', 'GPUVIRT_SIMULATE', 'GPUVIRT_DEBUG', 'NO_COLOR', 'FORCE_COLOR']) delete env[k];
/** One cache: the whole program's (name undefined), or a read-only command's for its own bundle. */
function makeCache(bundle, file, name) {
  const raw = `${file}.tmp`;
  const r = spawnSync(process.execPath, [path('./package/code-cache.cjs'), path('../bin/gpuvirt'), bundle, raw, ...(name ? [name] : [])], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) return false;
  writeFileSync(file, Buffer.concat([Buffer.from(stampOf(statSync(bundle)), 'latin1'), readFileSync(raw)]));
  rmSync(raw);
  return true;
}
if (!makeCache(BUNDLE, CACHE)) console.warn('build: no dist/gpuvirt.cache (see above): every command works, and starts slower');
for (const name of SPLIT) {
  const own = filesOf(name);
  if (!makeCache(own.bundle, own.cache, name)) console.warn(`build: no cache for ${name}'s bundle (see above): it works, and starts slower`);
}
