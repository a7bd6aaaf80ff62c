// The main script of the single executable (scripts/package/sea.mjs builds it). The program is
// not this file: it is the whole CLI as one CommonJS bundle, an asset of the executable, and
// each read-only command's own bundle (bin/commands.js), each with a V8 code cache made at build
// time by running its commands once, so a command starts without compiling what it runs.
// `--version` answers before any bundle is read.
// Nothing is decided at build time: colour, terminal and root are read when a command runs.
import { writeSync } from 'node:fs';
import * as sea from 'node:sea';
import * as vm from 'node:vm';
import pkg from '../package.json' with { type: 'json' };
import { ELSEWHERE, splitOf, stemOf } from '../bin/commands.js';

/** The whole program's stem; a read-only command's own bundle is stemOf(name) (bin/commands.js). */
export const WHOLE = 'gpuvirt';
/** The assets of a bundle: its text and its code cache (empty when none could be made). */
export const assetsOf = (stem: string) => ({ bundle: `${stem}.js`, cache: `${stem}.cache` });
/**
 * The V8 flag the code cache is made under: with the default random hash seed, V8 writes a
 * different cache each time, and the executable would never be the same twice. The build then
 * marks the cache as made under no flags (scripts/package/sea.mjs, withFlagHash), which is how
 * the executable runs: V8 compares only that mark, and reads the seed once, as the heap is made,
 * so a process keeps its own either way.
 */
export const CACHE_FLAGS = ['--hash-seed=1'];

export interface Bundle {
  exports: { main(argv: string[], deps?: unknown): Promise<number> };
  script: vm.Script;
}

/**
 * Runs the bundle's text as require() would run a CommonJS file, compiled with `cachedData`
 * when given. The bundle needs only Node's built-in modules, which `req` serves. The code
 * cache is made by this same function (scripts/package/code-cache.cjs): V8 takes a cache
 * only for the very source it was made from.
 */
export function runBundle(source: string, cachedData: Buffer | undefined, req: NodeJS.Require): Bundle {
  const script = new vm.Script(`(function (exports, require, module) {${source}\n})`, { filename: 'gpuvirt.js', cachedData });
  const mod = { exports: {} as Bundle['exports'] };
  script.runInThisContext()(mod.exports, req, mod);
  return { exports: mod.exports, script };
}

/** One write(2) to stdout; a reader gone (EPIPE) ends it quietly, any other failure is one line and exit 1 (as in src/run.ts). */
function writeOut(text: string): void {
  try {
    writeSync(1, text);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN') process.stdout.write(text);
    else if (code !== 'EPIPE') {
      process.stderr.write(`gpuvirt: cannot write to standard output: ${code ?? String(err)}\n`);
      process.exitCode = 1;
    }
  }
}

/** With GPUVIRT_DEBUG: says so when a bundle was compiled without its code cache. */
function reportCache(bundle: Bundle): void {
  if (process.env.GPUVIRT_DEBUG && bundle.script.cachedDataRejected !== false) {
    process.stderr.write('gpuvirt: the code cache was not used; every command starts slower\n');
  }
}

/** A bundle from the executable's assets, compiled with its cache; undefined when there is no such asset. */
function load(stem: string): (Bundle & { whole: boolean }) | undefined {
  const names = assetsOf(stem);
  let raw: ArrayBuffer;
  try {
    raw = sea.getRawAsset(names.bundle) as ArrayBuffer;
  } catch {
    return undefined;
  }
  // The bundle is ASCII (the build checks), so latin1 decodes it exactly, and fastest.
  const source = Buffer.from(raw).toString('latin1');
  const cache = Buffer.from(sea.getRawAsset(names.cache) as ArrayBuffer);
  const bundle = runBundle(source, cache.length > 0 ? cache : undefined, require);
  return { ...bundle, whole: stem === WHOLE };
}

/**
 * Runs main() of a bundle; ELSEWHERE from a command's own bundle runs the whole program instead.
 * A command's own bundle writes nothing before that: what it says of its cache waits until it
 * has run its command.
 */
function run(bundle: Bundle & { whole: boolean }, args: string[]): void {
  if (bundle.whole) reportCache(bundle);
  bundle.exports.main(args).then((code) => {
    if (code !== ELSEWHERE) {
      if (!bundle.whole) reportCache(bundle);
      process.exitCode = code;
    }
    else if (bundle.whole) throw new Error('the whole program declined to run');
    else run(load(WHOLE)!, args);
  }).catch((err: unknown) => {
    // main() reports every error itself; should one still escape, one line and exit 3, as for a bug.
    process.exitCode = 3;
    process.stderr.write(`gpuvirt: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
  });
}

function start(args: string[]): void {
  const split = splitOf(args);
  run((split ? load(stemOf(split)) : undefined) ?? load(WHOLE)!, args);
}

if (sea.isSea()) {
  const args = process.argv.slice(2);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) writeOut(`${pkg.version}\n`);
  else start(args);
}
