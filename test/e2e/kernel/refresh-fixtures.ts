// Refreshes the kernel-made fixture trees test/fixtures/sysfs/qemu-<machine>/: boots each
// machine of the kernel e2e suite in fixtures mode (no scenarios; the guest runs
// `gpuvirt snapshot` at boot and sends the archive back over the results port), and unpacks
// each archive in place of the old tree. Run it by hand when the topology, the kernel or the
// snapshot format changes, and review the diff; the test suites only read the trees.
//
//   npm run fixtures:kernel                           all machines (intel, amd, none)
//   GPUVIRT_E2E_MACHINES=intel npm run fixtures:kernel
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImages, cacheDir, REPO } from './harness/images.js';
import { findTools, PACKAGES } from './harness/prerequisites.js';
import { bootMachine, type BootResult } from './harness/qemu.js';
import { MACHINES, type MachineName } from './topology.js';

export const FIXTURE_PREFIX = 'qemu-';
const SYSFS = path.join(REPO, 'test', 'fixtures', 'sysfs');
const TIMEOUT_MS = 240_000;

function fail(message: string): never {
  process.stderr.write(`fixtures:kernel: ${message}\n`);
  process.exit(1);
}

function tail(b: BootResult): string {
  return b.console.trimEnd().split('\n').slice(-30).join('\n');
}

async function main(): Promise<void> {
  const selected = (process.env.GPUVIRT_E2E_MACHINES?.split(',').map((s) => s.trim()) ?? MACHINES).filter((m): m is MachineName =>
    (MACHINES as readonly string[]).includes(m));
  if (!selected.length) fail(`no machine selected (have: ${MACHINES.join(', ')})`);
  const found = findTools();
  if ('missing' in found) fail(`missing ${found.missing}; install them with: apt-get install --no-install-recommends ${PACKAGES}`);
  const { tools } = found;
  const images = await buildImages(tools, selected);
  const logDir = path.join(cacheDir(), 'logs');
  // One vCPU per guest under TCG: two at a time on a 2-core machine.
  const jobs = Math.max(1, Math.min(2, os.cpus().length));
  const queue = [...selected];
  const boots = new Map<MachineName, BootResult>();
  await Promise.all(Array.from({ length: jobs }, async () => {
    for (let m = queue.shift(); m; m = queue.shift()) {
      boots.set(m, await bootMachine(m, images, tools, { timeoutMs: TIMEOUT_MS, logDir, cmdline: ['gpuvirt_e2e.mode=fixtures'], logName: 'fixtures' }));
    }
  }));
  for (const m of selected) {
    const b = boots.get(m)!;
    const archive = b.artifacts['snapshot.tar.gz'];
    if (!archive) fail(`${m}: no snapshot came back (${b.info.error ?? `exit ${b.exitCode}${b.timedOut ? ', timed out' : ''}`})\n${tail(b)}`);
    const kept = path.join(logDir, `${m}.snapshot.tar.gz`);
    fs.writeFileSync(kept, archive);
    const target = path.join(SYSFS, `${FIXTURE_PREFIX}${m}`);
    const staging = `${target}.tmp-${process.pid}`;
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    execFileSync('tar', ['-xzf', kept, '-C', staging, '--no-same-owner']);
    fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(staging, target);
    const manifest = JSON.parse(fs.readFileSync(path.join(target, 'manifest.json'), 'utf8')) as { files: number; links: number; kernel: string };
    process.stdout.write(`${path.relative(REPO, target)}: ${manifest.files} files, ${manifest.links} links, kernel ${manifest.kernel} (${archive.length} bytes, booted in ${b.seconds.toFixed(1)} s)\n`);
  }
}

await main();
