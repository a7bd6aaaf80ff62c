// Bundles the CLI so `bin/gpuvirt` starts fast: one small entry chunk, with each command
// (and the heavy libraries only some commands use) split into chunks loaded on demand; and
// dist/fast.cjs, plain `doctor` alone as one CommonJS file, which bin/gpuvirt requires
// without starting Node's ES module loader (see src/fast.ts).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { lazyChildProcess } from './esbuild-plugins.mjs';

// The libraries commands import on demand that are too big to copy into dist/fast.cjs: the ES
// module build makes each an entry of its own (dist/vendor-*.js), and fast.cjs imports that
// file instead, so the same code is loaded either way, only when it is used.
const VENDOR = { execa: 'vendor-execa', '@inquirer/prompts': 'vendor-inquirer' };
const vendorEntries = {
  name: 'vendor-entries',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.kind === 'dynamic-import' && VENDOR[args.path] ? { path: `./${VENDOR[args.path]}.js`, external: true } : undefined);
  },
};

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { cli: 'src/cli.ts', ...Object.fromEntries(Object.entries(VENDOR).map(([pkg, name]) => [name, pkg])) },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: false,
  sourcemap: false,
  legalComments: 'none',
  // createRequire lets bundled CommonJS dependencies call require() on node built-ins.
  banner: { js: "import { createRequire as __gvCreateRequire } from 'node:module'; const require = __gvCreateRequire(import.meta.url);" },
  plugins: [lazyChildProcess],
  logLevel: 'warning',
});
await build({
  entryPoints: { fast: 'src/fast.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  plugins: [vendorEntries],
  platform: 'node',
  target: 'node20',
  minify: false,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});

// fast.cjs ends with its build id (the hash of its text), and dist/fast.cache is the V8 code
// cache made from this very build (scripts/code-cache.cjs): bin/fast-loader.cjs uses a cache
// only with the id it was made for. Without a cache doctor still runs, only slower to start.
const fastFile = new URL('../dist/fast.cjs', import.meta.url);
const fastText = readFileSync(fastFile, 'utf8').replace(/\n?$/, '\n');
writeFileSync(fastFile, `${fastText}//# gpuvirt-build ${createHash('sha256').update(fastText).digest('hex')}\n`);
const env = { ...process.env };
for (const k of ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'GPUVIRT_ROOT', 'GPUVIRT_SIMULATE', 'NO_COLOR', 'FORCE_COLOR']) delete env[k];
const cache = spawnSync(process.execPath, [fileURLToPath(new URL('./code-cache.cjs', import.meta.url))], { env, stdio: ['ignore', 'inherit', 'inherit'] });
if (cache.status !== 0) console.warn('build: no dist/fast.cache (see above): doctor works, and starts slower');
