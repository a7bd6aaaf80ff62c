// The generated libvirt hook run by dash and bash against a fake root (fake-host.ts): the
// hand-over and the give-back in order, and a failure injected at each step of either
// direction: a hand-over failure stops the VM start and gives the whole screen back; a
// give-back failure still brings back everything else, and the hook says so (exit 1, a log line).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hookScript } from '../../src/singlegpu/script.js';
import {
  cleanUp, fakeHost, GIVEBACK_FAULTS, HANDOVER_FAULTS, handedOver, runScript, screenBack, SPEC, type Fake, type GivebackFault, type HandoverFault,
} from './fake-host.js';

afterEach(cleanUp);

function run(shell: string, f: Fake, args: string[], tenths?: number) {
  const script = path.join(f.root, 'hook');
  fs.writeFileSync(script, hookScript(SPEC), { mode: 0o755 });
  return runScript(shell, f, script, args, { tenths });
}

describe.each(['dash', 'bash'])('the single-GPU hook under %s', { timeout: 60_000 }, (shell) => {
  it('is valid syntax', () => {
    const file = path.join(os.tmpdir(), `gpuvirt-hook-syntax-${process.pid}.sh`);
    fs.writeFileSync(file, hookScript(SPEC));
    try {
      expect(() => execFileSync(shell, ['-n', file])).not.toThrow();
    } finally {
      fs.rmSync(file);
    }
  });

  it('prepare/begin hands the GPU over in order; release/end gives the screen back in the reverse order', async () => {
    const f = fakeHost();
    const begin = await run(shell, f, ['win11', 'prepare', 'begin', '-']);
    expect(begin.code, begin.stderr).toBe(0);
    handedOver(f);
    const calls = f.calls();
    expect(calls.indexOf('systemctl stop gdm.service')).toBeGreaterThan(-1);
    expect(calls.indexOf('systemctl stop gdm.service')).toBeLessThan(calls.indexOf('modprobe vfio-pci'));
    expect(calls.filter((c) => c.startsWith('logger')).length).toBeGreaterThan(0);

    const end = await run(shell, f, ['win11', 'release', 'end', '-']);
    expect(end.code, end.stderr).toBe(0);
    screenBack(f);
    const after = f.calls().slice(calls.length);
    expect(after.indexOf('modprobe amdgpu')).toBeLessThan(after.indexOf('systemctl start gdm.service'));
  });

  it('another VM, or another operation, is left alone', async () => {
    const f = fakeHost();
    expect((await run(shell, f, ['other-vm', 'prepare', 'begin', '-'])).code).toBe(0);
    expect((await run(shell, f, ['win11', 'started', 'begin', '-'])).code).toBe(0);
    expect(f.calls()).toEqual([]);
    screenBack(f);
  });

  for (const [fault, { waits }] of Object.entries(HANDOVER_FAULTS) as [HandoverFault, { waits: boolean }][]) {
    it(`hand-over: when ${fault}, prepare/begin fails (the VM does not start) and the screen comes back`, async () => {
      const f = fakeHost(fault);
      const r = await run(shell, f, ['win11', 'prepare', 'begin', '-'], waits ? 3 : undefined);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('hand-over failed: giving the GPU back');
      expect(r.stderr).toContain('given back (status 0)');
      screenBack(f);
    });
  }

  for (const [fault, { log, left }] of Object.entries(GIVEBACK_FAULTS) as [GivebackFault, (typeof GIVEBACK_FAULTS)[GivebackFault]][]) {
    it(`give-back: when ${fault}, release/end still brings back the rest and fails saying so`, async () => {
      const f = fakeHost();
      expect((await run(shell, f, ['win11', 'prepare', 'begin', '-'])).code).toBe(0);
      handedOver(f);
      f.inject(fault);
      const r = await run(shell, f, ['win11', 'release', 'end', '-'], 10);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(log);
      expect(r.stderr).toContain('given back (status 1)');
      screenBack(f, left);
    });
  }
});
