// apply with Looking Glass on kvmfr: the module option, boot-time load and udev rule as file
// steps, sized and owned from the profile, idempotent, undone with the rest of the change.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dying, type Death } from '../helpers/dying.js';
import { machine } from '../helpers/sim.js';

const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-lg-'));
function profile(lookingGlass: string): string {
  const f = join(dir, `lg-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, `apiVersion: gpuvirt/v1
name: lg
memory: 4GiB
cpu: { cores: 2 }
lookingGlass: ${lookingGlass}
devices:
  - { type: mdev, parent: { address: 0000:00:02.0 }, mdevType: i915-GVTg_V5_4, uuid: 4b20d080-1b54-4048-85b3-a6a62d165c01 }
`);
  return f;
}
const OPTIONS = '/etc/modprobe.d/gpuvirt-kvmfr.conf';
const LOAD = '/etc/modules-load.d/gpuvirt-kvmfr.conf';
const UDEV = '/etc/udev/rules.d/99-gpuvirt-kvmfr.rules';
const lgSteps = (r: { doc: any }) => r.doc.data.steps.filter((s: { title: string }) => s.title.startsWith('Looking Glass'));

describe('apply with lookingGlass on kvmfr', () => {
  it('plans the module option, the boot-time load and the udev rule, with their content', async () => {
    const m = machine('intel-gvtg-desktop');
    const r = await m.run(['apply', profile('{ size: 128MiB, device: kvmfr, user: alice }'), '--dry-run', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(lgSteps(r).map((s: { path: string; content: string }) => [s.path, s.content])).toEqual([
      [OPTIONS, "# Written by gpuvirt apply: Looking Glass's shared memory, /dev/kvmfr0.\noptions kvmfr static_size_mb=128\n"],
      [LOAD, "# Written by gpuvirt apply: Looking Glass's kvmfr module, loaded at boot.\nkvmfr\n"],
      [UDEV, '# Written by gpuvirt apply: /dev/kvmfr0 for QEMU and looking-glass-client.\nSUBSYSTEM=="kvmfr", OWNER="alice", GROUP="kvm", MODE="0660"\n'],
    ]);
    expect(r.doc.warnings.join('\n')).toMatch(/kvmfr is not loaded: it loads at the next boot/);
    expect(m.host.exists(OPTIONS)).toBe(false);
  });

  it('writes them once; a new size rewrites only the option file; another file setting kvmfr options is named', async () => {
    const m = machine('intel-gvtg-desktop');
    const first = await m.run(['apply', profile('{ size: 64MiB, device: kvmfr, group: libvirt-qemu }'), '--yes', '--json']);
    expect(first.code, first.stdout).toBe(0);
    expect(m.host.readText(UDEV)).toContain('SUBSYSTEM=="kvmfr", GROUP="libvirt-qemu", MODE="0660"');
    expect(m.host.readText(LOAD)).toContain('\nkvmfr\n');
    expect((await m.run(['apply', profile('{ size: 64MiB, device: kvmfr, group: libvirt-qemu }'), '--yes', '--json'])).doc.data.noop).toBe(true);
    m.host.writeFile('/etc/modprobe.d/kvmfr.conf', 'options kvmfr static_size_mb=32\n');
    const bigger = await m.run(['apply', profile('{ size: 256MiB, device: kvmfr, group: libvirt-qemu }'), '--dry-run', '--json']);
    expect(lgSteps(bigger).map((s: { path: string }) => s.path)).toEqual([OPTIONS]);
    expect(bigger.doc.warnings.join('\n')).toContain('/etc/modprobe.d/kvmfr.conf sets kvmfr\'s options too');
  });

  it('a failure later in the change removes the files it wrote', async () => {
    const f = profile('{ size: 64MiB, device: kvmfr }');
    const m = machine('intel-gvtg-desktop');
    const steps: { title: string }[] = (await m.run(['apply', f, '--dry-run', '--json'])).doc.data.steps;
    const death: Death = { atStep: steps.length - 1, after: 0, dead: false, faultOnly: true };
    const r = await m.run(['apply', f, '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
    expect(r.code).toBe(1);
    expect(r.doc.data.applied.rollback.ok).toBe(true);
    for (const p of [OPTIONS, LOAD, UDEV]) expect(m.host.exists(p)).toBe(false);
  });

  it('with --no-persist, or with shared memory in /dev/shm, no kvmfr file is planned', async () => {
    const m = machine('intel-gvtg-desktop');
    const np = await m.run(['apply', profile('{ size: 64MiB, device: kvmfr }'), '--no-persist', '--dry-run', '--json']);
    expect(lgSteps(np)).toEqual([]);
    expect(np.doc.warnings.join('\n')).toContain('--no-persist: the kvmfr module options');
    expect(lgSteps(await m.run(['apply', profile('{ size: 64MiB, device: shm }'), '--dry-run', '--json']))).toEqual([]);
  });

  it('a user name that is not one is a profile error', async () => {
    const r = await machine('intel-gvtg-desktop').run(['apply', profile('{ size: 64MiB, device: kvmfr, user: "a\\"b" }'), '--dry-run', '--json']);
    expect(r.code).toBe(2);
  });
});
