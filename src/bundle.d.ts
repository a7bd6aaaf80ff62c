// GPUVIRT_ONLY: in a per-command bundle (scripts/build.mjs), the one command it holds, set by
// esbuild's define; undefined in the whole program's bundle and when run from source. Code that
// tests it must test it in place, `typeof GPUVIRT_ONLY === 'string'`: esbuild folds that
// expression and leaves out of the per-command bundles what it makes unreachable.
declare const GPUVIRT_ONLY: string | undefined;
