// npm run build: dist/gpuvirt.cjs, the CLI as one CommonJS file (scripts/esbuild-plugins.mjs),
// and dist/gpuvirt.cache, the V8 code cache bin/gpuvirt compiles it with: made by running the
// read-only commands once (scripts/package/code-cache.cjs) in a child with Node's default
// flags (V8 rejects a cache made under other flags, NODE_OPTIONS), and stamped with the
// bundle's size and modification time. Without a cache every command works, only slower to start.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleCli } from './esbuild-plugins.mjs';

const path = (rel) => fileURLToPath(new URL(rel, import.meta.url));
const { BUNDLE, CACHE, stampOf } = createRequire(import.meta.url)('../bin/gpuvirt');

rmSync(path('../dist'), { recursive: true, force: true });
await bundleCli(BUNDLE);
const env = { ...process.env };
for (const k of ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'GPUVIRT_ROOT', 'GPUVIRT_SIMULATE', 'GPUVIRT_DEBUG', 'NO_COLOR', 'FORCE_COLOR']) delete env[k];
const raw = `${CACHE}.tmp`;
const r = spawnSync(process.execPath, [path('./package/code-cache.cjs'), path('../bin/gpuvirt'), BUNDLE, raw], { env, stdio: ['ignore', 'inherit', 'inherit'] });
if (r.status === 0) {
  writeFileSync(CACHE, Buffer.concat([Buffer.from(stampOf(statSync(BUNDLE)), 'latin1'), readFileSync(raw)]));
  rmSync(raw);
} else console.warn('build: no dist/gpuvirt.cache (see above): every command works, and starts slower');
