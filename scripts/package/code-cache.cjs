// Makes the V8 code cache of the CLI's bundle, for the single executable (scripts/package/sea.mjs)
// and for dist/ (scripts/build.mjs): runs under the very Node binary that will load it (V8
// rejects a cache from another version or other flags), loads the bundle with that loader
// (src/sea.ts bundled, or bin/gpuvirt), runs each read-only command once on
// the example hosts in test/fixtures, in-process and with output captured, then saves what
// V8 compiled by then: loading, commander, and every function those runs called.
//
//   <node> scripts/package/code-cache.cjs <loader.cjs> <bundle.js> <out.cache> [word]
//
// With a command's name (doctor, "sriov status", ...), only the runs of that command: the cache
// of its own bundle (bin/gpuvirt, SPLIT).
'use strict';
const fs = require('fs');
const path = require('path');

const REPO = path.join(__dirname, '..', '..');
const sysfs = (name) => path.join(REPO, 'test', 'fixtures', 'sysfs', name);
const profile = (name) => path.join(REPO, 'profiles', `${name}.yaml`);

const DESKTOP = sysfs('intel-desktop-nvidia');
const SERVER = sysfs('server-mxgpu-sriov');
const VGPU = sysfs('nvidia-vgpu-host');
const COMPUTE = profile('headless-compute');

/** Each argv twice, as JSON and as coloured text on a terminal: the two renderings run different code. */
const RUNS = [
  ['doctor', '--root', DESKTOP],
  ['list', '--root', DESKTOP],
  ['status', '--root', DESKTOP],
  ['sriov', 'status', '--root', SERVER],
  ['mdev', 'types', '--root', VGPU],
  ['vgpu', 'types', '--root', VGPU],
  ['vgpu', 'status', '--root', VGPU],
  ['cmdline', '--root', DESKTOP],
  ['profile', 'validate', COMPUTE],
  ['profile', 'check', COMPUTE, '--root', SERVER],
  ['generate', COMPUTE, '--target', 'qemu', '--root', SERVER],
  ['generate', COMPUTE, '--target', 'libvirt', '--root', SERVER],
  ['generate', COMPUTE, '--target', 'proxmox', '--offline'],
];

async function main() {
  const [loader, bundleFile, out, name] = process.argv.slice(2);
  const runs = name ? RUNS.filter((a) => a.slice(0, name.split(' ').length).join(' ') === name) : [...RUNS, ['--help']];
  if (runs.length === 0) throw new Error(`no runs of ${name}`);
  const { runBundle } = require(path.resolve(loader));
  const bundle = runBundle(fs.readFileSync(bundleFile, 'latin1'), undefined, require);
  const failed = [];
  for (const argv of runs.flatMap((a) => (a[0] === '--help' ? [a] : [[...a, '--json'], a]))) {
    let text = '';
    const io = { out: (t) => void (text += t), err: (t) => void (text += t), isTTY: !argv.includes('--json'), color: true, columns: 100 };
    const code = await bundle.exports.main(argv, { io, env: {}, platform: 'linux' });
    // 1: a check failed (doctor on an unready host), a fine run for this purpose; 3 is a bug.
    if (code !== 0 && code !== 1) failed.push(`gpuvirt ${argv.join(' ')}: exit ${code}\n${text}`);
  }
  if (failed.length > 0) throw new Error(`commands failed while making the code cache:\n${failed.join('\n')}`);
  fs.writeFileSync(out, bundle.script.createCachedData());
}

main().catch((err) => {
  process.stderr.write(`code-cache: ${err.message}\n`);
  process.exitCode = 1;
});
