// npm run bench: the startup and sysfs-walk targets of issues 2 and 16, each a ratio of two
// commands timed side by side in one run: from the npm install, --version and every read-only
// command against `node -e 0`; doctor, list and sriov status on the large host against
// `lspci -nnk`; and with the single executable built (npm run sea, which npm run bench does),
// each read-only command against the executable's own --version. It ends with how many of
// these targets were met. Rows without a target give the floor: what list prints, by a bare
// Node script (scripts/bench-floor.cjs), against node -e 0 and the executable's --version.
// Rounds interleave every command (in a rotating order), so load from other work on the
// machine falls on both sides of a ratio alike; each ratio is median / median. A measurement, not a test: a MISS still exits 0, a failing command does not.
//
//   node scripts/bench.mjs [--runs N (default 41)] [--keep]
//
// The two generated hosts (~100 and ~4000 PCI functions, the large one ~500 MB) go to a temp
// directory on tmpfs and are deleted afterwards; --keep caches them, keyed by a hash of the
// generator, and a cached copy is reused whenever it exists.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(REPO, 'bin', 'gpuvirt');
const EXE = path.join(REPO, 'build', `gpuvirt-linux-${process.arch}`);
const SMALL_FUNCTIONS = 100;

function parseArgs(argv) {
  const opts = { runs: 41, keep: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--keep') opts.keep = true;
    else if (argv[i] === '--runs' && /^\d+$/.test(argv[i + 1] ?? '') && Number(argv[i + 1]) > 0) opts.runs = Number(argv[++i]);
    else throw fail(`usage: node scripts/bench.mjs [--runs N] [--keep] (unexpected ${argv[i]})`);
  }
  return opts;
}

/**
 * Children run without NODE_OPTIONS and NODE_EXTRA_CA_CERTS: the latter alone makes every node
 * start parse a CA bundle (~100 ms on some machines), which would hide startup costs in the ratios.
 */
function childEnv() {
  const env = { ...process.env };
  for (const k of ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'GPUVIRT_ROOT', 'GPUVIRT_SIMULATE', 'GPUVIRT_DEBUG']) delete env[k];
  return env;
}

function tmpBase() {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

function generatorHash() {
  const hash = createHash('sha256');
  const dir = path.join(REPO, 'scripts', 'fixtures');
  const files = [...readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => path.join(dir, f)), path.join(REPO, 'scripts', 'make-fixtures.ts')];
  for (const f of files.sort()) hash.update(`${path.relative(REPO, f)}\0`).update(readFileSync(f)).update('\0');
  return hash.digest('hex').slice(0, 12);
}

function fail(message) {
  const err = new Error(message);
  err.benchFailure = true;
  return err;
}

function generate(dir, functions) {
  const tsx = path.join(REPO, 'node_modules', '.bin', 'tsx');
  const args = [path.join(REPO, 'scripts', 'make-fixtures.ts'), '--large', dir, ...(functions ? ['--functions', String(functions)] : [])];
  const r = spawnSync(tsx, args, { cwd: REPO, encoding: 'utf8', env: childEnv() });
  if (r.status !== 0) throw fail(`generating ${dir} failed:\n${r.error?.message ?? ''}${r.stdout}${r.stderr}`);
}

/** The two hosts: from the cache when there is one, else generated (into the cache with --keep). */
function prepareTrees(keep) {
  const base = tmpBase();
  const cache = path.join(base, `gpuvirt-bench-${generatorHash()}`);
  const cached = existsSync(path.join(cache, 'complete'));
  const dir = cached || keep ? cache : mkdtempSync(path.join(base, 'gpuvirt-bench-tmp-'));
  const small = path.join(dir, 'small');
  const large = path.join(dir, 'large');
  const cleanup = () => (cached || keep ? undefined : rmSync(dir, { recursive: true, force: true }));
  if (!cached) {
    // A cache of an older generator is ~500 MB of tmpfs, that is of memory: drop it.
    if (keep) for (const old of readdirSync(base).filter((n) => /^gpuvirt-bench-[0-9a-f]{12}$/.test(n))) rmSync(path.join(base, old), { recursive: true, force: true });
    try {
      mkdirSync(dir, { recursive: true });
      const t0 = performance.now();
      generate(small, SMALL_FUNCTIONS);
      generate(large, null);
      if (keep) writeFileSync(path.join(cache, 'complete'), '');
      console.log(`generated the hosts in ${((performance.now() - t0) / 1000).toFixed(1)} s under ${dir}`);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  } else console.log(`using the cached hosts in ${dir}`);
  return { small, large, cleanup, note: cached || keep ? `hosts kept in ${dir} (delete it when done)` : null };
}

const functionCount = (root) => readdirSync(path.join(root, 'sys', 'bus', 'pci', 'devices')).length;

/** One untimed run with output captured, checked for what the command should print. */
function verify(cmd, env) {
  const r = spawnSync(cmd.argv[0], cmd.argv.slice(1), { encoding: 'utf8', env, maxBuffer: 256 << 20 });
  if (r.error) throw fail(`${cmd.label}: ${r.error.message}${r.error.code === 'ENOENT' ? ' (is it installed? lspci is in pciutils)' : ''}`);
  const problem = cmd.check(r);
  if (problem) throw fail(`${cmd.label}: ${problem} (exit ${r.status})\n${r.stderr.slice(0, 2000)}`);
}

function timeOnce(cmd, env) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd.argv[0], cmd.argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error || !cmd.okStatus.includes(r.status)) throw fail(`${cmd.label}: exit ${r.status ?? r.signal} ${r.error?.message ?? ''}\n${r.stderr}`);
  return ms;
}

function doctorCheck(expectGpus) {
  return (r) => {
    if (r.status !== 0 && r.status !== 1) return 'doctor did not finish';
    let doc;
    try {
      doc = JSON.parse(r.stdout);
    } catch {
      return 'stdout is not one JSON document';
    }
    if (doc.command !== 'doctor' || !doc.data) return `unexpected document: ${r.stdout.slice(0, 200)}`;
    if (doc.data.gpus.length !== expectGpus) return `${doc.data.gpus.length} GPUs, expected ${expectGpus}`;
    return null;
  };
}

function commands(trees) {
  const node = process.execPath;
  const version = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')).version;
  const gpusOf = (root) => readdirSync(path.join(root, 'sys', 'bus', 'pci', 'devices'))
    .filter((a) => /^(03|12)/.test(readFileSync(path.join(root, 'sys', 'bus', 'pci', 'devices', a, 'class'), 'utf8').slice(2))).length;
  const lspciFunctions = functionCount(trees.large);
  const profile = (name) => path.join(REPO, 'profiles', `${name}.yaml`);
  /** The read-only commands, run on the small host: [key, argv, exit statuses that count as a run]. */
  const readOnly = [
    ['doctor', ['doctor', '--json'], [0, 1]],
    ['list', ['list', '--json'], [0]],
    ['status', ['status', '--json'], [0]],
    ['sriov status', ['sriov', 'status', '--json'], [0]],
    ['mdev types', ['mdev', 'types', '--json'], [0]],
    ['vgpu types', ['vgpu', 'types', '--json'], [0]],
    ['cmdline', ['cmdline', '--json'], [0]],
    ['profile validate', ['profile', 'validate', profile('intel-gvtg'), '--json'], [0]],
    // The example profile names devices the generated host lacks: exit 1, after the whole check ran.
    ['profile check', ['profile', 'check', profile('headless-compute'), '--json'], [1]],
    ['generate', ['generate', profile('intel-gvtg'), '--offline', '--target', 'qemu'], [0]],
  ];
  const runs = (prefix, label, argv0) => Object.fromEntries(readOnly.map(([name, args, ok]) => [`${prefix} ${name}`, {
    label: `${label} ${name}`, argv: [...argv0, ...args, '--root', trees.small], okStatus: ok,
    check: name === 'doctor' ? doctorCheck(gpusOf(trees.small)) : (r) => (ok.includes(r.status) ? null : `exit ${r.status}`),
  }]));
  const listed = (d) => d.groups.reduce((n, g) => n + g.devices.length, 0) + d.ungrouped.length;
  /** doctor, list and sriov status on the large host, each checked for the whole host. */
  const large = {
    doctor: doctorCheck(gpusOf(trees.large)),
    list: (r) => (r.status === 0 && listed(JSON.parse(r.stdout).data) === lspciFunctions ? null : 'not every function listed'),
    'sriov status': (r) => (r.status === 0 && JSON.parse(r.stdout).command === 'sriov status' ? null : `exit ${r.status}`),
  };
  const exe = !existsSync(EXE) ? {} : {
    exeVersion: {
      label: 'executable --version', argv: [EXE, '--version'], okStatus: [0],
      check: (r) => (r.status === 0 && r.stdout.trim() === version ? null : `printed ${JSON.stringify(r.stdout)}`),
    },
    ...runs('exe', 'executable', [EXE]),
  };
  return {
    ...exe,
    node0: { label: 'node -e 0', argv: [node, '-e', '0'], okStatus: [0], check: (r) => (r.status === 0 ? null : 'failed') },
    version: {
      label: 'gpuvirt --version', argv: [node, BIN, '--version'], okStatus: [0],
      check: (r) => (r.status === 0 && r.stdout.trim() === version ? null : `printed ${JSON.stringify(r.stdout)}`),
    },
    ...runs('npm', 'gpuvirt', [node, BIN]),
    ...Object.fromEntries(Object.entries(large).map(([name, check]) => [`large ${name}`, {
      label: `gpuvirt ${name} (large)`, argv: [node, BIN, ...name.split(' '), '--json', '--root', trees.large], okStatus: name === 'doctor' ? [0, 1] : [0], check,
    }])),
    // What list prints, by a bare Node script (no confinement, no program to load): the floor
    // the sysfs commands' ratios stand on.
    floor: {
      label: 'bench-floor.cjs (list\'s facts, bare)', argv: [node, path.join(REPO, 'scripts', 'bench-floor.cjs'), trees.small], okStatus: [0],
      check: (r) => (r.status === 0 && JSON.parse(r.stdout).devices.length === functionCount(trees.small) ? null : 'not every function listed'),
    },
    lspci: {
      label: 'lspci -nnk (large)', argv: ['lspci', '-nnk', '-A', 'linux-sysfs', '-O', `sysfs.path=${path.join(trees.large, 'sys', 'bus', 'pci')}`], okStatus: [0],
      check: (r) => {
        const shown = r.stdout.split('\n').filter((l) => /^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] /.test(l)).length;
        return r.status === 0 && shown === lspciFunctions ? null : `listed ${shown} of ${lspciFunctions} functions`;
      },
    },
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function measure(cmds, runs, env) {
  const keys = Object.keys(cmds);
  const times = Object.fromEntries(keys.map((k) => [k, []]));
  for (const k of keys) verify(cmds[k], env); // also warms the page cache
  for (let round = 0; round < runs; round++) {
    for (let i = 0; i < keys.length; i++) {
      const k = keys[(round + i) % keys.length];
      times[k].push(timeOnce(cmds[k], env));
    }
  }
  return times;
}

function report(times, trees) {
  const small = functionCount(trees.small);
  const big = functionCount(trees.large);
  const keys = (prefix) => Object.keys(times).filter((k) => k.startsWith(`${prefix} `)).map((k) => [k, k.slice(prefix.length + 1)]);
  const targets = [
    { name: '--version ≤ 1.15× node -e 0', a: 'version', b: 'node0', limit: 1.15 },
    ...keys('npm').map(([k, name]) => ({ name: `${name}, ${small} fns ≤ 1.5× node -e 0`, a: k, b: 'node0', limit: 1.5 })),
    ...keys('large').map(([k, name]) => ({ name: `${name}, ${big} fns ≤ 1.0× lspci -nnk`, a: k, b: 'lspci', limit: 1.0 })),
  ];
  targets.push({ name: `list's facts by a bare script, ${small} fns vs node -e 0 (no target)`, a: 'floor', b: 'node0', limit: null });
  if (times.exeVersion) {
    targets.push({ name: 'executable --version vs node -e 0 (no target)', a: 'exeVersion', b: 'node0', limit: null });
    targets.push({ name: `list's facts by a bare script vs the executable's --version (no target)`, a: 'floor', b: 'exeVersion', limit: null });
    for (const [k, name] of keys('exe')) targets.push({ name: `executable ${name} ≤ 1.2× its --version`, a: k, b: 'exeVersion', limit: 1.2 });
  }
  const ms = (xs) => `${median(xs).toFixed(1)} (min ${Math.min(...xs).toFixed(1)})`;
  const rows = targets.map((t) => {
    const ratio = median(times[t.a]) / median(times[t.b]);
    return [t.name, `${ratio.toFixed(2)}×`, ms(times[t.a]), ms(times[t.b]), t.limit === null ? '' : ratio <= t.limit ? 'PASS' : 'MISS'];
  });
  const head = ['target', 'ratio', 'gpuvirt ms median (min)', 'baseline ms median (min)', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  const met = rows.filter((r) => r[4] === 'PASS').length;
  const counted = rows.filter((r) => r[4] !== '').length;
  console.log(`\n${met} of ${counted} targets met${met === counted ? '' : `; missed: ${rows.filter((r) => r[4] === 'MISS').map((r) => r[0].split(' ≤')[0]).join('; ')}`}`);
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(path.join(REPO, 'dist', 'gpuvirt.cjs'))) throw fail('dist/gpuvirt.cjs is missing: run `node scripts/build.mjs` first (npm run bench does)');
  if (!existsSync(EXE)) console.log(`no ${path.relative(REPO, EXE)} (npm run sea): the executable is not measured`);
  const trees = prepareTrees(opts.keep);
  try {
    const env = childEnv();
    const load0 = os.loadavg()[0];
    const t0 = performance.now();
    const times = measure(commands(trees), opts.runs, env);
    console.log(
      `${opts.runs} interleaved rounds in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${os.cpus().length} CPUs, ` +
        `load average ${load0.toFixed(2)} before, ${os.loadavg()[0].toFixed(2)} after; node ${process.version}\n`,
    );
    report(times, trees);
    if (trees.note) console.log(`\n${trees.note}`);
  } finally {
    trees.cleanup();
  }
}

// Ctrl-C reaches the running child too; the bench then fails that command and still deletes the hosts.
process.on('SIGINT', () => {
  process.exitCode = 130;
});
try {
  main();
} catch (err) {
  console.error(`bench: ${err.benchFailure ? err.message : err.stack}`);
  process.exitCode = 1;
}
