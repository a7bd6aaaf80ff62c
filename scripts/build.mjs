// Bundles the CLI so `bin/gpuvirt` starts fast: one small entry chunk (src/cli.ts: the
// registry and the parser), with each command, commander (help and usage errors only) and the
// heavy libraries only some commands use split into chunks loaded on demand.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { lazyChildProcess } from './esbuild-plugins.mjs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { cli: 'src/cli.ts' },
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
