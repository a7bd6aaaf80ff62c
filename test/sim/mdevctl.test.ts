// The simulated mdevctl (src/sim/mdevctl.ts) against the real one: the same commands, in the
// same order, give the same exit status, the same error and the same file in /etc/mdevctl.d.
// The real mdevctl has no other root than / (1.2 reads no variable for it), so its side runs
// only as root, on a parent address no machine has (ff:1f.7) and a UUID of this test's own, and
// removes what it made. In CI (which installs mdevctl) a missing mdevctl fails the test; without
// root it is skipped.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { makeSimHost } from '../../src/sim/host.js';
import { FIXTURES } from '../helpers/sim.js';
import { inCI } from '../generate/tools.js';

const PARENT = '0000:ff:1f.7';
const UUID = '0d1e2f30-4a5b-4c6d-8e7f-90a1b2c3d4e5';
const FILE = `/etc/mdevctl.d/${PARENT}/${UUID}`;
const STEPS: string[][] = [
  ['define', '--auto', '--uuid', UUID, '--parent', PARENT, '--type', 'i915-GVTg_V5_4'],
  ['define', '--uuid', UUID, '--parent', PARENT, '--type', 'i915-GVTg_V5_8'],
  ['undefine', '--uuid', UUID, '--parent', PARENT],
  ['undefine', '--uuid', UUID, '--parent', PARENT],
  ['define', '--uuid', UUID, '--parent', PARENT, '--type', 'nvidia-222'],
  ['undefine', '--uuid', UUID],
];

interface Outcome {
  argv: string;
  status: number;
  stderr: string;
  file: string | null;
}

const installed = spawnSync('sh', ['-c', 'command -v mdevctl']).status === 0;
const real = process.getuid?.() === 0 && installed;
const parentDirExisted = existsSync(`/etc/mdevctl.d/${PARENT}`);

afterAll(() => {
  if (!real) return;
  spawnSync('mdevctl', ['undefine', '--uuid', UUID, '--parent', PARENT]);
  const dir = `/etc/mdevctl.d/${PARENT}`;
  if (!parentDirExisted && existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
});

describe.skipIf(!real && !(inCI && !installed))('mdevctl: the simulation answers as the real one', () => {
  it('define, define again, undefine, undefine again, undefine without a parent', async () => {
    if (!installed) throw new Error('mdevctl is not installed: apt-get install mdevctl (CI installs it in .ci/run)');
    const sim = makeSimHost(`${FIXTURES}intel-gvtg-desktop`);
    try {
      const simulated: Outcome[] = [];
      const actual: Outcome[] = [];
      for (const args of STEPS) {
        const s = await sim.exec.run(['mdevctl', ...args]);
        simulated.push({ argv: args.join(' '), status: s.exitCode, stderr: s.stderr.trim(), file: sim.host.readText(FILE) });
        const r = spawnSync('mdevctl', args, { encoding: 'utf8' });
        actual.push({ argv: args.join(' '), status: r.status ?? -1, stderr: r.stderr.trim(), file: existsSync(FILE) ? readFileSync(FILE, 'utf8') : null });
      }
      expect(simulated).toEqual(actual);
      expect(actual.map((o) => o.status)).toEqual([0, 1, 0, 1, 0, 0]);
    } finally {
      sim.cleanup();
    }
  });
});
