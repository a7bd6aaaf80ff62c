// The main script of the single executable (scripts/package/sea.mjs builds it). The program is
// not this file: it is the whole CLI as one CommonJS bundle, an asset of the executable, with
// a V8 code cache made at build time by running the read-only commands once, so a command
// starts without compiling what it runs. `--version` answers before the bundle is even read.
// Nothing is decided at build time: colour, terminal and root are read when a command runs.
import { writeSync } from 'node:fs';
import * as sea from 'node:sea';
import { setFlagsFromString } from 'node:v8';
import * as vm from 'node:vm';
import pkg from '../package.json' with { type: 'json' };

export const BUNDLE_ASSET = 'gpuvirt.js';
export const CACHE_ASSET = 'gpuvirt.cache';
/**
 * The V8 flag the code cache is made under: with the default random hash seed, V8 writes a
 * different cache each time, and the executable would never be the same twice. V8 takes a
 * cache only under the flags it was made with, so the executable sets this flag too before
 * compiling; the seed is read once, when the heap is created, so this process keeps its own.
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

function writeOut(text: string): void {
  try {
    writeSync(1, text);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
  }
}

function start(args: string[]): void {
  // The bundle is ASCII (the build checks), so latin1 decodes it exactly, and fastest.
  const source = Buffer.from(sea.getRawAsset(BUNDLE_ASSET)).toString('latin1');
  const cache = Buffer.from(sea.getRawAsset(CACHE_ASSET));
  for (const flag of CACHE_FLAGS) setFlagsFromString(flag);
  const bundle = runBundle(source, cache.length > 0 ? cache : undefined, require);
  if (process.env.GPUVIRT_DEBUG && bundle.script.cachedDataRejected !== false) {
    process.stderr.write('gpuvirt: the code cache was not used; every command starts slower\n');
  }
  bundle.exports.main(args).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      // main() reports every error itself; should one still escape, one line and exit 3, as for a bug.
      process.exitCode = 3;
      process.stderr.write(`gpuvirt: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
    },
  );
}

if (sea.isSea()) {
  const args = process.argv.slice(2);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) writeOut(`${pkg.version}\n`);
  else start(args);
}
