// Running `gpuvirt generate` in-process on a fixture tree (read-only) or offline.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli.js';
import { captureIO } from '../helpers/io.js';
import { FIXTURES } from '../helpers/sim.js';

export const PROFILES = new URL('../../profiles/', import.meta.url).pathname;

export async function gpuvirt(argv: string[]): Promise<{ code: number; stdout: string; stderr: string; doc: any }> {
  const io = captureIO();
  const code = await main(argv, { io, env: {}, platform: 'linux' });
  return { code, stdout: io.stdout, stderr: io.stderr, doc: argv.includes('--json') && io.stdout ? JSON.parse(io.stdout) : null };
}

export function hostArgs(root: string | null): string[] {
  return root ? ['--root', FIXTURES + root] : ['--offline'];
}

/** What a generated QEMU script runs before QEMU: stubbed here, so a test never writes to the host. */
const SETUP_TOOLS = ['install', 'mkdir', 'qemu-img', 'swtpm'];

/**
 * Runs a generated QEMU script with a stand-in QEMU that prints its argv, one NUL-ended word
 * each, and no-op stand-ins for its setup tools; nothing else is on PATH.
 */
export function runScript(script: string, binary = 'qemu-system-x86_64'): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-qemu-'));
  const stub = join(dir, binary);
  writeFileSync(stub, '#!/bin/sh\nfor a in "$0" "$@"; do printf \'%s\\0\' "$a"; done\n');
  chmodSync(stub, 0o755);
  for (const t of SETUP_TOOLS) {
    writeFileSync(join(dir, t), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, t), 0o755);
  }
  const file = join(dir, 'vm.sh');
  writeFileSync(file, script);
  const r = spawnSync('/bin/sh', [file], { encoding: 'utf8', env: { PATH: dir } });
  if (r.status !== 0) throw new Error(`script failed: ${r.stderr}`);
  const words = r.stdout.split('\0').slice(0, -1);
  words[0] = words[0]!.slice(words[0]!.lastIndexOf('/') + 1);
  return words;
}
