// npm run sea: gpuvirt as one executable that needs no Node on the host (Node's single
// executable applications): the official Node binary with the program injected.
//
//   node scripts/package/sea.mjs [--arch x64|arm64]      → build/gpuvirt-linux-<arch>
//
// - The program: src/cli.ts as one CommonJS file (build/sea/<arch>/gpuvirt.js), the same
//   bundle as dist/gpuvirt.cjs (scripts/esbuild-plugins.mjs), and each read-only command's own
//   bundle (bin/commands.js), as assets. src/sea.ts is the executable's main script.
// - The Node: the official build of the pinned version for the target, from the npm registry
//   (package node-linux-<arch>), checked against the integrity below. It needs glibc 2.28+.
// - The code cache: made by running the commands under that same binary
//   (scripts/package/code-cache.cjs); only where the target runs here (not for a foreign arch).
// Same sources and same Node give the same executable, byte for byte (see CACHE_FLAGS in src/sea.ts).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleCli, bundleNode } from '../esbuild-plugins.mjs';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BUILD = path.join(REPO, 'build');
const CACHE = path.join(BUILD, 'cache');

export const NODE_VERSION = '20.20.2';
const NODE_INTEGRITY = {
  x64: 'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==',
  arm64: 'sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==',
};
/** glibc 2.28 (Debian 10, RHEL 8): what the executable must run with. */
const GLIBC_MINOR = 28;
// The sentinel Node's binary carries for postject (Node's documentation, "single executable applications").
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: cleanEnv(), ...opts });
  if (r.error || r.status !== 0) throw new Error(`${[cmd, ...args].join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  return r;
}

/**
 * V8's code cache starts with a header of 32-bit words: magic number, V8 version hash, source
 * hash, the hash of the V8 flags it was made under, payload length, checksum. A cache is taken
 * only under flags with the same hash, and nothing else in it depends on them.
 */
const FLAG_HASH = [12, 16];

/** The flag hash of `node` with no flags: what the executable runs under. */
function defaultFlagHash(node) {
  const probe = "process.stdout.write(new (require('vm').Script)('0').createCachedData().toString('hex'))";
  return Buffer.from(run(node, ['-e', probe]).stdout, 'hex');
}

/**
 * The cache made under CACHE_FLAGS (for the same bytes at every build), marked as made under
 * no flags, which the executable runs under: the same as setting those flags in the executable
 * before compiling, which cost every start ~1 ms to load node:v8 (the random hash seed of the
 * running process is its own either way: V8 reads it once, as the heap is made).
 */
function withFlagHash(cache, probe) {
  if (cache.length < 24 || !cache.subarray(0, 8).equals(probe.subarray(0, 8))) throw new Error('the code cache is not of this Node\'s V8 (its header differs)');
  const out = Buffer.from(cache);
  probe.copy(out, FLAG_HASH[0], FLAG_HASH[0], FLAG_HASH[1]);
  return out;
}

/** A child's environment without what would change Node's flags (a code cache made under other flags is rejected) or gpuvirt's input. */
function cleanEnv() {
  const env = { ...process.env };
  for (const k of ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'GPUVIRT_ROOT', 'GPUVIRT_SIMULATE', 'GPUVIRT_DEBUG', 'NO_COLOR', 'FORCE_COLOR']) delete env[k];
  return env;
}

/**
 * The official Node for arch, from the npm registry, checked: build/cache/node-linux-<arch>-<version>/
 * with bin/node and LICENSE. Made in a directory of its own and renamed into place, so two
 * builds at once (the package tests run in parallel) never see half of it.
 */
export function baseNode(arch) {
  const dir = path.join(CACHE, `node-linux-${arch}-${NODE_VERSION}`);
  const bin = path.join(dir, 'bin', 'node');
  if (existsSync(bin)) return bin;
  mkdirSync(CACHE, { recursive: true });
  const tmp = mkdtempSync(`${dir}.tmp-`);
  try {
    run('npm', ['pack', '--silent', `node-linux-${arch}@${NODE_VERSION}`, '--pack-destination', tmp]);
    const tgz = path.join(tmp, `node-linux-${arch}-${NODE_VERSION}.tgz`);
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`;
    if (integrity !== NODE_INTEGRITY[arch]) throw new Error(`node-linux-${arch}@${NODE_VERSION}: integrity ${integrity}, expected ${NODE_INTEGRITY[arch]}`);
    mkdirSync(path.join(tmp, 'node'));
    run('tar', ['-xzf', tgz, '-C', path.join(tmp, 'node'), '--strip-components=1', 'package/bin/node', 'package/LICENSE']);
    try {
      renameSync(path.join(tmp, 'node'), dir);
    } catch (err) {
      if (!existsSync(bin)) throw err; // another build put it there first
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return bin;
}


export async function buildSea({ arch = process.arch } = {}) {
  if (!NODE_INTEGRITY[arch]) throw new Error(`no Node for linux-${arch}: x64 or arm64`);
  const native = arch === process.arch && process.platform === 'linux';
  const WORK = path.join(BUILD, 'sea', arch);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const main = path.join(WORK, 'main.cjs');
  await bundleNode(path.join(REPO, 'src', 'sea.ts'), main);
  const require = createRequire(import.meta.url);
  const { CACHE_FLAGS, WHOLE, assetsOf } = require(main);
  const { SPLIT, stemOf } = require('../../bin/commands.js');
  const node = baseNode(arch);
  const flagHash = native ? defaultFlagHash(node) : null;
  // The whole program and each read-only command's own bundle, each with its code cache.
  const assets = {};
  for (const name of [null, ...SPLIT]) {
    const names = assetsOf(name ? stemOf(name) : WHOLE);
    const program = path.join(WORK, names.bundle);
    const cache = path.join(WORK, names.cache);
    await bundleCli(program, name ?? '');
    const cacheArgs = [...CACHE_FLAGS, path.join(REPO, 'scripts', 'package', 'code-cache.cjs'), main, program, cache, ...(name ? [name] : [])];
    if (native) {
      run(node, cacheArgs, { stdio: ['ignore', 'inherit', 'inherit'] });
      writeFileSync(cache, withFlagHash(readFileSync(cache), flagHash));
    } else writeFileSync(cache, '');
    assets[names.bundle] = path.relative(WORK, program);
    assets[names.cache] = path.relative(WORK, cache);
  }

  // The blob holds only text (no code cache of the main script, which is V8's own and would tie
  // it to one arch), so the same Node version built for this machine can write it.
  const blobMaker = native ? node : baseNode(process.arch);
  const config = path.join(WORK, 'sea-config.json');
  const blob = path.join(WORK, 'sea.blob');
  // Paths relative to WORK: the blob keeps the main script's path as given, and the executable
  // must not depend on (or tell) where it was built.
  const rel = (f) => path.relative(WORK, f);
  writeFileSync(config, JSON.stringify({
    main: rel(main), output: rel(blob), disableExperimentalSEAWarning: true, useCodeCache: false, useSnapshot: false,
    assets,
  }, null, 2));
  run(blobMaker, ['--experimental-sea-config', config], { cwd: WORK });

  const out = path.join(BUILD, `gpuvirt-linux-${arch}`);
  rmSync(out, { force: true });
  copyFileSync(node, out);
  chmodSync(out, 0o755);
  run(process.execPath, [path.join(REPO, 'node_modules', 'postject', 'dist', 'cli.js'), out, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE]);
  checkGlibc(out);
  if (native) check(out);
  return { out, native };
}

/**
 * The README promises glibc 2.28: the newest GLIBC_2.x symbol version the binary asks for
 * (their names are in its dynamic string table) must not be newer.
 */
function checkGlibc(exe) {
  const versions = [...readFileSync(exe).toString('latin1').matchAll(/GLIBC_2\.(\d+)(?:\.\d+)?\0/g)].map((m) => Number(m[1]));
  const newest = Math.max(...versions);
  if (versions.length === 0 || newest > GLIBC_MINOR) throw new Error(`${exe} needs GLIBC_2.${newest}; the promise is 2.${GLIBC_MINOR}`);
}

/** The executable answers --version, and runs doctor with its code cache accepted. */
function check(exe) {
  const { version } = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  const v = run(exe, ['--version']).stdout;
  if (v !== `${version}\n`) throw new Error(`${exe} --version printed ${JSON.stringify(v)}`);
  const r = spawnSync(exe, ['doctor', '--json', '--root', path.join(REPO, 'test', 'fixtures', 'sysfs', 'intel-desktop-nvidia')], {
    encoding: 'utf8', env: { ...cleanEnv(), GPUVIRT_DEBUG: '1' },
  });
  if (r.status !== 0 || JSON.parse(r.stdout).command !== 'doctor') throw new Error(`${exe} doctor failed (exit ${r.status})\n${r.stderr}`);
  if (r.stderr.includes('code cache')) throw new Error(`${exe}: ${r.stderr.trim()}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const arch = args[0] === '--arch' ? args[1] : undefined;
  if (args.length !== (arch ? 2 : 0)) {
    console.error('usage: node scripts/package/sea.mjs [--arch x64|arm64]');
    process.exit(2);
  }
  try {
    const { out, native } = await buildSea({ arch });
    console.log(`${path.relative(REPO, out)}${native ? '' : ' (not run: no code cache; test/e2e/package/arm64.test.ts runs it under qemu-user)'}`);
  } catch (err) {
    console.error(`sea: ${err.message}`);
    process.exitCode = 1;
  }
}
