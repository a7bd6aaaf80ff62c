// Loads dist/fast.cjs (plain `doctor`, see src/fast.ts) as require() would, but compiled with
// the V8 code cache the build made for it (dist/fast.cache): compiling the bundle, and then
// each function as it first runs, is a large part of a short doctor run, and the cache skips
// most of that. A cache is used only with the build it was made from (the build id on the last
// line of fast.cjs); V8 itself rejects one made by another Node or V8 version or other flags,
// and then compiles as usual. Without a usable cache this is exactly a require().
'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');

const DIST = path.join(__dirname, '..', 'dist');
const FILE = path.join(DIST, 'fast.cjs');
const CACHE = path.join(DIST, 'fast.cache');
const BUILD_ID = /\n\/\/# gpuvirt-build ([0-9a-f]{64})\n?$/;

/** The build's id in the source's last line, or null. */
function buildId(source) {
  const m = BUILD_ID.exec(source.slice(-100));
  return m ? m[1] : null;
}

/** The cache for this build, without its id header; undefined when there is none. */
function readCache(id) {
  let data;
  try {
    data = fs.readFileSync(CACHE);
  } catch {
    return undefined;
  }
  return id !== null && data.toString('latin1', 0, id.length) === id ? data.subarray(id.length) : undefined;
}

/**
 * dist/fast.cjs loaded, or undefined when it is not built. `script` (absent where Node cannot
 * load a module this way: before 20.12, dynamic import() from a vm.Script had no loader)
 * can make a new cache once the code has run.
 */
function load({ useCache = true } = {}) {
  let source;
  try {
    source = fs.readFileSync(FILE, 'utf8');
  } catch (err) {
    if (err && err.code === 'ENOENT') return undefined;
    throw err;
  }
  const importModuleDynamically = vm.constants && vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  if (importModuleDynamically === undefined) return { exports: require(FILE) };
  const id = buildId(source);
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: FILE,
    cachedData: useCache ? readCache(id) : undefined,
    importModuleDynamically,
  });
  const mod = { exports: {} };
  // The bundle requires only Node's built-in modules, so this file's require serves it.
  script.runInThisContext()(mod.exports, require, mod, FILE, DIST);
  return { exports: mod.exports, script, id, cacheRejected: script.cachedDataRejected };
}

/** Writes dist/fast.cache from a loaded script (after running it, so it holds what ran). */
function writeCache(loaded) {
  if (!loaded.script || loaded.id === null) return false;
  fs.writeFileSync(CACHE, Buffer.concat([Buffer.from(loaded.id, 'latin1'), loaded.script.createCachedData()]));
  return true;
}

module.exports = { load, writeCache };
