// The QEMU script's single-GPU wrapper (`generate --target qemu --single-gpu`) run by dash and
// bash against the fake root of the hook's tests, with a stand-in QEMU: the GPU is on vfio-pci
// while QEMU runs, and the screen comes back whatever ends the run (QEMU exits, fails, is
// killed; the script gets a signal), and after a failure at each step of either direction.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { qemuHandover } from '../../src/singlegpu/script.js';
import {
  cleanUp, fakeHost, GIVEBACK_FAULTS, HANDOVER_FAULTS, handedOver, runScript, screenBack, SPEC, type Fake, type GivebackFault, type HandoverFault,
} from './fake-host.js';

afterEach(cleanUp);

/**
 * The stand-in QEMU: records its argv, its stdin and the drivers it found, says it runs, then
 * waits for `go` and exits with the status in `exit-code` (TERM: exits 143, as QEMU does).
 */
function standIn(f: Fake): string {
  const q = path.join(f.root, 'bin/qemu-system-x86_64');
  const pci = `${f.root}/sys/bus/pci/devices`;
  fs.writeFileSync(q, `#!/bin/sh
trap 'echo TERM >> "${f.root}/qemu-signals"; exit 143' TERM
echo "$*" > "${f.root}/qemu-args"
cat > "${f.root}/qemu-stdin"
for a in ${SPEC.functions.join(' ')}; do readlink "${pci}/$a/driver" >> "${f.root}/qemu-saw"; done
echo $$ > "${f.root}/qemu-running"
while [ ! -e "${f.root}/go" ]; do sleep 0.05; done
exit "$(cat "${f.root}/exit-code" 2>/dev/null || echo 0)"
`, { mode: 0o755 });
  // The script as generate writes it: set -eu before the setup lines, then the wrapper.
  const script = path.join(f.root, 'vm.sh');
  fs.writeFileSync(script, `#!/bin/sh\nset -eu\n${qemuHandover(SPEC, `qemu-system-x86_64 -name guest=win11 \\\n  -nodefaults "$@"`)}`, { mode: 0o755 });
  return script;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

const running = (f: Fake) => until(() => fs.existsSync(path.join(f.root, 'qemu-running')), 'QEMU to start');
const go = (f: Fake, code = 0) => (fs.writeFileSync(path.join(f.root, 'exit-code'), `${code}\n`), fs.writeFileSync(path.join(f.root, 'go'), ''));

/** Runs the script; `during` runs once the stand-in QEMU is up (with the script's pid). */
function run(shell: string, f: Fake, during: (pid: number) => Promise<void>, tenths?: number) {
  const script = standIn(f);
  let pending: Promise<void> = Promise.resolve();
  const ran = runScript(shell, f, script, ['-snapshot'], {
    tenths, stdin: 'typed on the terminal\n',
    onStart: (pid) => {
      pending = during(pid);
    },
  });
  return ran.then(async (r) => (await pending, r));
}

describe.each(['dash', 'bash'])('the QEMU script\'s single-GPU wrapper under %s', { timeout: 60_000 }, (shell) => {
  it('is valid syntax', () => {
    const f = fakeHost();
    expect(() => execFileSync(shell, ['-n', standIn(f)])).not.toThrow();
  });

  it('runs QEMU with the GPU handed over (argv and stdin passed on), then gives the screen back', async () => {
    const f = fakeHost();
    const r = await run(shell, f, async () => {
      await running(f);
      handedOver(f);
      go(f);
    });
    expect(r.code, r.stderr).toBe(0);
    expect(f.read('qemu-saw').trim().split('\n').map((l) => path.basename(l))).toEqual(['vfio-pci', 'vfio-pci']);
    expect(f.read('qemu-args').trim()).toBe('-name guest=win11 -nodefaults -snapshot');
    expect(f.read('qemu-stdin')).toBe('typed on the terminal\n');
    screenBack(f);
    const calls = f.calls();
    expect(calls.indexOf('modprobe vfio-pci')).toBeLessThan(calls.indexOf('modprobe amdgpu'));
  });

  it('when QEMU fails, exits with its status and gives the screen back', async () => {
    const f = fakeHost();
    const r = await run(shell, f, async () => {
      await running(f);
      go(f, 3);
    });
    expect(r.code, r.stderr).toBe(3);
    screenBack(f);
  });

  it('when QEMU is killed, gives the screen back', async () => {
    const f = fakeHost();
    const r = await run(shell, f, async () => {
      await running(f);
      process.kill(Number(f.read('qemu-running').trim()), 'SIGKILL');
    });
    expect(r.code, r.stderr).toBe(137);
    screenBack(f);
  });

  for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) {
    it(`when the script gets ${signal}, stops QEMU, waits for it, and gives the screen back`, async () => {
      const f = fakeHost();
      const r = await run(shell, f, async (pid) => {
        await running(f);
        process.kill(pid, signal);
      });
      expect(r.stderr).toContain(`${signal}: stopping QEMU`);
      expect(f.read('qemu-signals').trim()).toBe('TERM');
      expect(r.code, r.stderr).toBe(143);
      screenBack(f);
    });
  }

  for (const [fault, { waits }] of Object.entries(HANDOVER_FAULTS) as [HandoverFault, { waits: boolean }][]) {
    it(`hand-over: when ${fault}, QEMU is not started, the script fails and the screen comes back`, async () => {
      const f = fakeHost(fault);
      const r = await run(shell, f, async () => {}, waits ? 3 : undefined);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('hand-over failed: giving the GPU back');
      expect(r.stderr).toContain('given back (status 0)');
      expect(fs.existsSync(path.join(f.root, 'qemu-args'))).toBe(false);
      screenBack(f);
    });
  }

  for (const [fault, { log, left }] of Object.entries(GIVEBACK_FAULTS) as [GivebackFault, (typeof GIVEBACK_FAULTS)[GivebackFault]][]) {
    it(`give-back: when ${fault}, the rest comes back and the script fails though QEMU exited 0`, async () => {
      const f = fakeHost();
      const r = await run(shell, f, async () => {
        await running(f);
        f.inject(fault);
        go(f);
      }, 10);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(log);
      expect(r.stderr).toContain('given back (status 1)');
      screenBack(f, left);
    });
  }
});
