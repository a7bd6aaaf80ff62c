// The CLI's bundle, the same for the npm install (scripts/build.mjs: dist/gpuvirt.cjs) and the
// single executable (scripts/package/sea.mjs): src/cli.ts and all it loads as one CommonJS
// file, needing only Node's built-in modules; each command's import() becomes a lazy
// initialisation inside it, so a command runs only its own modules' code.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';

// commander requires node:child_process as it loads, only to spawn executable subcommands,
// which gpuvirt has none of; that require costs every start a few ms, so commander gets a
// stand-in that loads the real module on first use.
export const lazyChildProcess = {
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

// xmlbuilder2 loads js-yaml as it loads, for its YAML reader and writer, which gpuvirt never
// uses (it builds XML and parses XML fragments): a stand-in that says so if ever called keeps
// 43 KB and its start-up out of every bundle with the libvirt generator.
export const noJsYaml = {
  name: 'no-js-yaml',
  setup(b) {
    b.onResolve({ filter: /^js-yaml$/ }, (args) =>
      /[\\/]node_modules[\\/]xmlbuilder2[\\/]/.test(args.importer) ? { path: 'js-yaml', namespace: 'no-js-yaml' } : undefined);
    b.onLoad({ filter: /.*/, namespace: 'no-js-yaml' }, () => ({
      contents: "module.exports = new Proxy({}, { get: (_, key) => { throw new Error('js-yaml is not part of gpuvirt (xmlbuilder2 YAML, ' + String(key) + ')'); } });",
      loader: 'js',
    }));
  },
};

/**
 * Each npm package as one CommonJS module of the bundle: esbuild lifts an ES module's functions
 * to the top of the bundle, where V8 must create (and a code cache hold) every one of them at
 * each start, used or not; a CommonJS module stays one closure until it is first required.
 */
/** Each package's bundle, made once per build process (the per-command bundles share them). */
const packageBundles = new Map();
const packagesAsCommonJs = {
  name: 'packages-as-commonjs',
  setup(b) {
    const done = packageBundles;
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.namespace === 'cjs-package' || args.path.startsWith('node:') || builtinModules.includes(args.path)) return undefined;
      if (!/[\\/]src[\\/]/.test(args.importer)) return undefined;
      return { path: args.path, namespace: 'cjs-package' };
    });
    b.onLoad({ filter: /.*/, namespace: 'cjs-package' }, async (args) => {
      if (!done.has(args.path)) {
        const r = await build({
          stdin: { contents: `module.exports = require(${JSON.stringify(args.path)});`, resolveDir: process.cwd(), loader: 'js' },
          bundle: true, format: 'cjs', platform: 'node', target: 'node20', write: false, logLevel: 'warning', plugins: [lazyChildProcess, noJsYaml],
        });
        done.set(args.path, r.outputFiles[0].text);
      }
      return { contents: done.get(args.path), loader: 'js' };
    });
  },
};

/** One CommonJS file for Node 20, minified, ASCII only: the CLI (bundleCli) or the executable's loader. */
export async function bundleNode(entry, outfile, plugins = [], define = {}) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    minify: true,
    // Error messages and help print no function names, but a library may read them.
    keepNames: true,
    charset: 'ascii',
    legalComments: 'none',
    plugins,
    define,
    // import() of a built-in (node:child_process, loaded only when a program runs) becomes
    // require(): the loaders run a bundle through vm.Script, which has no import() to offer.
    supported: { 'dynamic-import': false },
    logLevel: 'warning',
  });
}

/**
 * The whole CLI, or with `only` (a command's name) the bundle of that one command: the same
 * program with every other command's code left out (src/commands/index.ts, ONLY).
 */
export async function bundleCli(outfile, only = '') {
  await bundleNode('src/cli.ts', outfile, [packagesAsCommonJs], only ? { GPUVIRT_ONLY: JSON.stringify(only) } : {});
  // The loaders decode it as latin1, exactly right for ASCII and the fastest.
  if (/[^\x00-\x7f]/.test(readFileSync(outfile, 'latin1'))) throw new Error(`${outfile} is not ASCII`);
}
