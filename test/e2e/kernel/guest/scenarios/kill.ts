// Runs killed with SIGKILL at every step of their plan on the real kernel, then `gpuvirt
// recover`: whatever the kill interrupted, every device must end as it was before the run.
// The kill is sent from outside once the journal's progress file names the step, as a user's
// `kill -9` or a power cut would land: at that step or a little after it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { DEV } from '../../topology.js';
import { GPUVIRT } from '../commands.js';
import type { ChangeData } from '../contract.js';
import type { Scenario, Test } from '../framework.js';
import { snapshot, sriovOf, virtfns } from '../sysfs.js';

const PROGRESS = '/var/lib/gpuvirt/journal.progress';
const JOURNAL = '/var/lib/gpuvirt/journal.json';

/** Starts gpuvirt and kills it once step `k` has started; resolves with how it ended. */
function killAt(argv: string[], k: number): Promise<{ killed: boolean; status: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GPUVIRT, ...argv, '--json'], { stdio: 'ignore', env: { ...process.env, NO_COLOR: '1' } });
    let killed = false;
    const poll = setInterval(() => {
      let p = -2;
      try {
        p = Number(fs.readFileSync(PROGRESS, 'utf8').trim());
      } catch {
        // not journalled yet
      }
      if (p >= k && !killed) {
        killed = child.kill('SIGKILL');
        clearInterval(poll);
      }
    }, 1);
    child.on('exit', (status) => {
      clearInterval(poll);
      resolve({ killed: killed && status === null, status });
    });
  });
}

/** The indexes of the steps of a plan that change the host. */
function mutatingSteps(t: Test, argv: string[]): number[] {
  const plan = t.gpuvirt<ChangeData>(...argv, '--dry-run');
  assert.equal(plan.status, 0, 'the dry run exits 0');
  return (plan.doc?.data?.steps ?? []).flatMap((s, i) => (['write', 'exec', 'file', 'remove-file'].includes(s.kind) ? [i] : []));
}

/**
 * For each mutating step: `prepare`, kill the run there, `recover`, and compare the devices with
 * how they were after `prepare`. Returns a line per step for the check's detail.
 */
async function sweep(t: Test, argv: string[], addrs: () => string[], prepare: () => void, undo: () => void, sample = false): Promise<string> {
  prepare();
  const all = mutatingSteps(t, argv);
  // A sampled sweep (first, middle, last) for a run whose every iteration costs two more runs.
  const steps = sample ? [...new Set([all[0]!, all[Math.floor(all.length / 2)]!, all[all.length - 1]!])] : all;
  undo();
  assert.ok(steps.length > 0, 'the plan changes something');
  const lines: string[] = [];
  for (const k of steps) {
    prepare();
    const before = snapshot(addrs());
    const run = await killAt([...argv, '--yes'], k);
    if (!run.killed) {
      // It finished before the kill landed: put things back the ordinary way and go on.
      assert.equal(run.status, 0, `the run that was not killed at step ${k} exits 0`);
      undo();
      lines.push(`step ${k}: finished before the kill`);
      continue;
    }
    assert.ok(fs.existsSync(JOURNAL), `a run killed at step ${k} leaves its journal`);
    const next = t.gpuvirt<ChangeData>(...argv, '--yes');
    assert.equal(next.status, 1, `the next run after a kill at step ${k} refuses (exit 1)`);
    assert.match(next.doc?.error?.hint ?? '', /gpuvirt recover/);
    const r = t.gpuvirt<{ applied: { ok: boolean } | null }>('recover', '--yes');
    assert.equal(r.status, 0, `recover after a kill at step ${k} exits 0`);
    assert.equal(r.doc?.data?.applied?.ok, true, `recover after a kill at step ${k} reports ok`);
    assert.deepEqual(snapshot(addrs()), before, `the devices after a kill at step ${k} and recover`);
    assert.equal(fs.existsSync(JOURNAL), false, 'recover removes the journal');
    undo();
    lines.push(`step ${k}: killed, recovered`);
  }
  return lines.join('; ');
}

const SLOT = [DEV.gpu, DEV.gpuAudio];

export const killSweep: Scenario = {
  id: 'kill -9 at every step, then recover',
  machines: ['intel'],
  checks: [
    'passthrough killed at every step: recover puts both functions back',
    'release killed at its first, middle and last step: recover leaves the slot on vfio-pci as before',
    'sriov enable --bind vfio-pci killed at every step: recover leaves the PF with no VFs',
  ],
  async run(t) {
    const noop = () => undefined;
    const release = () => void t.gpuvirt('release', DEV.gpu, '--yes');
    const bind = () => void t.gpuvirt('passthrough', DEV.gpu, '--yes');
    await t.checkAsync('passthrough killed at every step: recover puts both functions back', () =>
      sweep(t, ['passthrough', DEV.gpu], () => SLOT, noop, release));
    await t.checkAsync('release killed at its first, middle and last step: recover leaves the slot on vfio-pci as before', () =>
      sweep(t, ['release', DEV.gpu], () => SLOT, bind, noop, true).finally(release));
    const boot = sriovOf(DEV.nvme);
    await t.checkAsync('sriov enable --bind vfio-pci killed at every step: recover leaves the PF with no VFs', async () => {
      const detail = await sweep(t, ['sriov', 'enable', DEV.nvme, '--vfs', '2', '--bind', 'vfio-pci'], () => [DEV.nvme], noop,
        () => void t.gpuvirt('sriov', 'disable', DEV.nvme, '--yes'));
      assert.deepEqual(sriovOf(DEV.nvme), boot);
      assert.deepEqual(virtfns(DEV.nvme), []);
      return detail;
    });
  },
};
