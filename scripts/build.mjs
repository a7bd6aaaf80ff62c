// Bundles the CLI so `bin/gpuvirt` starts fast: one small entry chunk, with each command
// (and the heavy libraries only some commands use) split into chunks loaded on demand; and
// dist/fast.cjs, plain `doctor` alone as one CommonJS file, which bin/gpuvirt requires
// without starting Node's ES module loader (see src/fast.ts).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

// commander requires node:child_process as it loads, only to spawn executable subcommands,
// which gpuvirt has none of; that require costs every start a few ms, so commander gets a
// stand-in that loads the real module on first use.
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^node:child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'lazy' } : undefined);
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      contents: "let real; module.exports = new Proxy({}, { get: (_, key) => (real ??= require('node:child_process'))[key] });",
      loader: 'js',
    }));
  },
};

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
