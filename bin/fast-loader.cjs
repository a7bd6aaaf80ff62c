// Loads dist/fast.cjs (plain `doctor`, see src/fast.ts) as require() would, but compiled with
// the V8 code cache the build made for it (dist/fast.cache): compiling the bundle, and then
// each function as it first runs, is a large part of a short doctor run, and the cache skips
// most of that. A cache is used only with the very file it was made from: the same build id
// (on fast.cjs's last line), size and modification time (to the second). V8 checks little more
// than the source's length, so without this an edit of the same length would run the old code. V8
// rejects a cache made by another Node or V8 version or under other flags, and then compiles
// as usual. Without a usable cache this is exactly a require().
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

/** What a cache must have been made from: the build id, size and modification time of fast.cjs. */
function stampOf(source, stat) {
  const id = buildId(source);
  // Whole seconds: a copy that keeps modification times (cp -p) may not keep the fractions.
  return id === null ? null : `${id} ${stat.size} ${Math.floor(stat.mtimeMs / 1000)}\n`;
}

/** The cache made from the file with this stamp, without its stamp line; undefined when there is none. */
function readCache(stamp) {
  let data;
  try {
    data = fs.readFileSync(CACHE);
  } catch {
    return undefined;
  }
  return stamp !== null && data.toString('latin1', 0, stamp.length) === stamp ? data.subarray(stamp.length) : undefined;
}

/** fast.cjs's text and stat, from one open file. */
function readSource() {
  const fd = fs.openSync(FILE, 'r');
  try {
    return { stat: fs.fstatSync(fd), source: fs.readFileSync(fd, 'utf8') };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * dist/fast.cjs loaded, or undefined when it is not built. `script` (absent where Node cannot
 * load a module this way: before 20.12, dynamic import() from a vm.Script had no loader)
 * can make a new cache once the code has run.
 */
function load({ useCache = true } = {}) {
  let file;
  try {
    file = readSource();
  } catch (err) {
    if (err && err.code === 'ENOENT') return undefined;
    throw err;
  }
  const importModuleDynamically = vm.constants && vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  if (importModuleDynamically === undefined) return { exports: require(FILE) };
  const stamp = stampOf(file.source, file.stat);
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${file.source}\n})`, {
    filename: FILE,
    cachedData: useCache ? readCache(stamp) : undefined,
    importModuleDynamically,
  });
  const mod = { exports: {} };
  // The bundle requires only Node's built-in modules, so this file's require serves it.
  script.runInThisContext()(mod.exports, require, mod, FILE, DIST);
  return { exports: mod.exports, script, stamp, cacheRejected: script.cachedDataRejected };
}

/** Writes dist/fast.cache from a loaded script (after running it, so it holds what ran). */
function writeCache(loaded) {
  if (!loaded.script || loaded.stamp === null) return false;
  fs.writeFileSync(CACHE, Buffer.concat([Buffer.from(loaded.stamp, 'latin1'), loaded.script.createCachedData()]));
  return true;
}

module.exports = { load, writeCache };
