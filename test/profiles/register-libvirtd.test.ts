// apply --register libvirt against libvirt's real daemon: gpuvirt's plan runs the real virsh,
// which defines the domain (`virsh dominfo` then knows it), and a failure after the define makes
// the change's undo really undefine it. The daemon runs in session mode as an unprivileged user
// with its own runtime and config directories (as in test/generate/libvirt-daemon.test.ts), and
// is stopped by its pid. The simulated machine's paths live under its root, so the exec seam
// given to gpuvirt passes virsh a copy of the file it names; like the daemon test, that copy is
// given type='qemu' and CPU mode 'maximum', since libvirt refuses KVM-only settings without KVM.
import { chownSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Exec, ExecResult } from '../../src/host/exec.js';
import { dying, type Death } from '../helpers/dying.js';
import { privateLibvirtd } from '../helpers/libvirtd.js';
import { machine, type Machine } from '../helpers/sim.js';
import { PROFILES } from '../generate/run.js';
import { inCI, missing } from '../generate/tools.js';

const GAMING = `${PROFILES}nvidia-gaming.yaml`;
const DOMAIN = 'win11-gaming';
const lv = privateLibvirtd('gpuvirt-register-');
const { ready } = lv;
const root = process.getuid?.() === 0;
const files = join(lv.dir, 'files');

function virsh(args: readonly string[]): ExecResult {
  const r = lv.virsh(args);
  return { exitCode: r.code, stdout: r.out, stderr: r.err };
}

/** gpuvirt's exec seam onto the real virsh: every argv as gpuvirt wrote it, a --file read from the machine's root. */
function realVirsh(m: Machine): Exec & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async run(argv) {
      calls.push(argv.join(' '));
      if (argv[0] !== 'virsh') throw new Error(`only virsh runs in this test, not ${argv.join(' ')}`);
      const args = argv.slice(1).map((a, i, all) => {
        if (all[i - 1] !== '--file') return a;
        const copy = join(files, `${calls.length}.xml`);
        writeFileSync(copy, readFileSync(join(m.root, a), 'utf8')
          .replace('<domain type="kvm"', '<domain type="qemu"').replace(/<cpu mode="host-passthrough"[^>]*>/, '<cpu mode="maximum" check="none">'));
        if (root) chownSync(copy, 65534, 65534);
        return copy;
      });
      return virsh(args);
    },
  };
}

beforeAll(() => lv.start([files]), 60_000);
afterAll(() => lv.stop(), 30_000);

describe.skipIf(!ready && !inCI)('apply --register libvirt with the real virsh and libvirtd', () => {
  it('defines the domain; a failure after the define undefines it for real', async () => {
    if (!ready) throw new Error(missing('libvirtd with the QEMU driver, virsh and qemu-system-x86_64', 'libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86'));
    expect(virsh(['version']).exitCode, lv.log()).toBe(0);
    const argv = ['apply', GAMING, '--register', 'libvirt', '--no-persist', '--yes', '--json'];

    // A failure at the last step (recording what was defined): the rollback undefines the domain.
    const failing = machine('intel-desktop-nvidia');
    failing.host.writeFile('/usr/bin/virsh', '', 0o755);
    const exec1 = realVirsh(failing);
    const steps: { title: string }[] = (await failing.run([...argv.slice(0, -2), '--dry-run', '--json'], { seams: (h) => ({ host: h, exec: exec1 }) })).doc.data.steps;
    const record = steps.findIndex((s) => s.title.startsWith(`record that ${DOMAIN} was defined`));
    const death: Death = { atStep: record, after: 0, dead: false, faultOnly: true };
    const r1 = await failing.run(argv, { seams: (h) => dying(h, exec1, death) });
    expect(r1.code, r1.stdout).toBe(1);
    expect(death.faulted).toBe(true);
    expect(r1.doc.data.applied.rollback.ok, r1.stdout).toBe(true);
    expect(exec1.calls.filter((c) => /^virsh (define|undefine)/.test(c)).map((c) => c.replace(/--file .*/, '--file …'))).toEqual(['virsh define --file …', `virsh undefine --nvram --domain ${DOMAIN}`]);
    expect(virsh(['dominfo', '--domain', DOMAIN]).exitCode).not.toBe(0);

    // Applied for real: libvirt knows the domain, and a second apply has nothing to do.
    const m = machine('intel-desktop-nvidia');
    m.host.writeFile('/usr/bin/virsh', '', 0o755);
    const exec2 = realVirsh(m);
    const r2 = await m.run(argv, { seams: (h) => ({ host: h, exec: exec2 }) });
    expect(r2.code, `${r2.stdout}\n${lv.log()}`).toBe(0);
    const info = virsh(['dominfo', '--domain', DOMAIN]);
    expect(info.exitCode, info.stderr).toBe(0);
    expect(info.stdout).toMatch(new RegExp(`^Name:\\s+${DOMAIN}$`, 'm'));
    expect(info.stdout).toMatch(/^State:\s+shut off$/m);
    const again = await m.run(argv, { seams: (h) => ({ host: h, exec: exec2 }) });
    expect(again.doc.data.noop, again.stdout).toBe(true);

    // The domain exists now: another machine's apply of the same name is refused.
    const other = machine('intel-desktop-nvidia');
    other.host.writeFile('/usr/bin/virsh', '', 0o755);
    const r3 = await other.run(argv, { seams: (h) => ({ host: h, exec: realVirsh(other) }) });
    expect(r3.code).toBe(7);
    expect(r3.doc.data.refusals.map((x: { code: string }) => x.code)).toEqual(['libvirt-domain-exists']);
    expect(virsh(['undefine', '--nvram', '--domain', DOMAIN]).exitCode).toBe(0);
  }, 120_000);
});
