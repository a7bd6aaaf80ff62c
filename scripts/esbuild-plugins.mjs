// esbuild plugins shared by the bundles: dist/ (scripts/build.mjs) and the single executable
// (scripts/package/sea.mjs).

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
