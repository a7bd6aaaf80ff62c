// What users and testers saw go wrong before the change engine, each with a test that would
// have caught it.
import { chmodSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { machine } from '../helpers/sim.js';
import { readPf } from '../../src/sriov/detect.js';
import { readAttr } from '../../src/host/host.js';
import { paths } from '../../src/host/paths.js';

const OK = { exitCode: 0, stdout: '', stderr: '' };

describe('refusals are shown all at once', () => {
  it('a shared group: without --force the user already learns what the peers --force would take hold', async () => {
    const m = machine('amd-desktop-shared');
    const r = await m.run(['passthrough', '06:00.0', '--dry-run', '--json']);
    expect(r.code).toBe(7);
    const codes = r.doc.data.refusals.map((x: { code: string }) => x.code);
    expect(codes).toContain('shared-group');
    // The peer's own refusal (its SATA disk is mounted) is there before any --force.
    expect(r.doc.data.refusals).toContainEqual(expect.objectContaining({ code: 'mounted-storage', address: '0000:02:00.1' }));
    const forced = await m.run(['passthrough', '06:00.0', '--dry-run', '--force', '--json']);
    expect(forced.doc.data.refusals.map((x: { code: string }) => x.code).sort()).toEqual([...codes].sort());
  });
});

describe('passthrough and release of devices in use', () => {
  it('refuses to unbind an SR-IOV PF whose VFs exist, saying they disappear; --force goes', async () => {
    const m = machine('server-mxgpu-sriov');
    expect((await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--yes'])).code).toBe(0);
    const r = await m.run(['passthrough', 'c1:00.0', '--dry-run']);
    expect(r.code).toBe(7);
    expect(r.stdout).toContain('SR-IOV PF with 2 VFs: unbinding it removes every VF');
    expect(r.stdout).toContain('--force would unbind it anyway');
  });

  it('refuses to unbind the parent of a live mediated device, saying it is destroyed; --force goes', async () => {
    const m = machine('intel-gvtg-desktop');
    expect((await m.run(['mdev', 'create', '00:02.0', 'i915-GVTg_V5_4', '--yes'])).code).toBe(0);
    const r = await m.run(['passthrough', '00:02.0', '--dry-run', '--json']);
    expect(r.code).toBe(7);
    expect(r.doc.data.refusals).toContainEqual(expect.objectContaining({ code: 'mdev-parent', address: '0000:00:02.0' }));
  });

  it('release refuses a device whose VFIO group a VM holds open, even with --yes, and writes nothing', async () => {
    const m = machine('intel-desktop-nvidia');
    expect((await m.run(['passthrough', '01:00.0', '--yes'])).code).toBe(0);
    mkdirSync(`${m.root}/proc/4242/fd`, { recursive: true });
    symlinkSync('/dev/vfio/8', `${m.root}/proc/4242/fd/17`);
    writeFileSync(`${m.root}/proc/4242/comm`, 'qemu-system-x86\n');
    m.host.clearWrites();
    const r = await m.run(['release', '01:00.0', '--yes']);
    expect(r.code).toBe(7);
    expect(r.stdout).toContain('is in use by a VM');
    expect(r.stdout).toContain('--force cannot override this');
    expect(m.host.writes).toEqual([]);
  });
});

describe('sriov', () => {
  it('enable without --bind after an enable with it turns autoprobe back on, so the new VFs get a driver', async () => {
    const m = machine('server-mxgpu-sriov');
    expect((await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--bind', 'vfio-pci', '--yes'])).code).toBe(0);
    expect(readAttr(m.host, paths.pciAttr('0000:c1:00.0', 'sriov_drivers_autoprobe'))).toBe('0');
    const r = await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '4', '--yes']);
    expect(r.code, r.stdout).toBe(0);
    expect(readAttr(m.host, paths.pciAttr('0000:c1:00.0', 'sriov_drivers_autoprobe'))).toBe('1');
    expect(readPf(m.host, '0000:c1:00.0')!.sriov.numVfs).toBe(4);
  });

  it('disable reports the count the host shows afterwards, not the one it had', async () => {
    const m = machine('server-mxgpu-sriov');
    expect((await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--yes'])).code).toBe(0);
    const r = await m.run(['sriov', 'disable', 'c1:00.0', '--yes']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('2 of');
    expect(r.stdout).toContain('VFs before this run');
    expect(r.stdout).toMatch(/0000:c1:00\.0: 0 of \d+ VFs now/);
    expect(r.stdout).toMatch(/sriov_numvfs: 2 → 0/);
  });

  it('status lists the SR-IOV PFs gpuvirt manages', async () => {
    const m = machine('server-mxgpu-sriov');
    expect((await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--bind', 'vfio-pci', '--yes'])).code).toBe(0);
    const s = await m.run(['status']);
    expect(s.stdout).not.toContain('manages no devices');
    expect(s.stdout).toContain('0000:c1:00.0  2 VFs on vfio-pci');
    const all = await m.run(['release', '--all', '--dry-run']);
    expect(all.stderr).toContain('gpuvirt sriov disable 0000:c1:00.0');
  });
});

describe('setup', () => {
  it('refuses to remove what the host needs to boot, and to turn the IOMMU off, without --force', async () => {
    const m = machine('iommu-off-cmdline');
    const root = await m.run(['setup', '--remove-param', 'root', '--yes']);
    expect(root.code).toBe(7);
    expect(root.stdout).toContain('removing root takes away what the host needs');
    const off = await m.run(['setup', '--param', 'intel_iommu=off', '--dry-run', '--json']);
    expect(off.code).toBe(7);
    expect(off.doc.data.refusals.map((x: { code: string }) => x.code)).toEqual(['iommu-off']);
    expect(m.host.writes).toEqual([]);
  });

  it('a GRUB line continued over several lines is edited with all its words, or refused when it cannot be followed', async () => {
    const m = machine('iommu-off-cmdline');
    m.host.writeFile('/etc/default/grub', 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet splash \\\n  a=1 b=2 \\\n  c d"\nGRUB_CMDLINE_LINUX=""\n');
    const r = await m.run(['setup', '--iommu', '--dry-run', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.data.files[0].diff).toContain('+GRUB_CMDLINE_LINUX_DEFAULT="quiet splash a=1 b=2 c d intel_iommu=on"');
    const odd = "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT='quiet \\\n a b c d'\n";
    m.host.writeFile('/etc/default/grub', odd);
    const refused = await m.run(['setup', '--iommu', '--yes']);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('is not edited, and no new assignment is added');
    expect(m.host.readText('/etc/default/grub')).toBe(odd);
  });

  it('keeps a file\'s mode when it edits it, and when a rollback restores it', async () => {
    let runs = 0;
    const m = machine('iommu-off-cmdline', { 'update-grub': () => (++runs === 1 ? { exitCode: 1, stdout: '', stderr: 'no space' } : OK) });
    chmodSync(`${m.root}/etc/default/grub`, 0o600);
    const failed = await m.run(['setup', '--yes']);
    expect(failed.code).toBe(1);
    expect(statSync(`${m.root}/etc/default/grub`).mode & 0o777).toBe(0o600);
    const ok = await m.run(['setup', '--yes']);
    expect(ok.code, ok.stdout).toBe(0);
    expect(statSync(`${m.root}/etc/default/grub`).mode & 0o777).toBe(0o600);
  });
});

describe('at the question', () => {
  it('no terminal and no --yes: refused with the plan still printable by --dry-run; a closed stdin is never asked', async () => {
    const m = machine('intel-desktop-nvidia');
    const r = await m.run(['passthrough', '01:00.0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no terminal to ask on');
    expect(m.host.writes).toEqual([]);
  });
});

describe('the journal', () => {
  it('a journal that cannot be written stops the run before any change, as a failure (1), not a bug (3)', async () => {
    const m = machine('intel-desktop-nvidia');
    const before = m.drivers(['0000:01:00.0', '0000:01:00.1']);
    m.host.writeFile('/var/lib/gpuvirt', 'not a directory\n');
    const r = await m.run(['passthrough', '01:00.0', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot write the journal');
    expect(m.host.writes).toEqual([]);
    expect(m.drivers(['0000:01:00.0', '0000:01:00.1'])).toEqual(before);
  });

  it('recover refuses a journal that would run a program gpuvirt never runs', async () => {
    const m = machine('intel-desktop-nvidia');
    m.host.writeFile('/var/lib/gpuvirt/journal.json', JSON.stringify({
      format: 1, command: 'passthrough', pid: 1, startedAt: 'x', before: [],
      steps: [{ kind: 'write', path: '/sys/bus/pci/drivers_probe', value: 'x', title: 't', undo: [{ kind: 'run', argv: ['sh', '-c', 'touch /tmp/owned'], title: 'x' }] }],
    }));
    const r = await m.run(['recover', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('runs a program gpuvirt does not run');
    expect(m.testExec.calls).toEqual([]);
  });

  it('recover takes an undo that empties a VF\'s current_vgpu_type (a host config\'s vGPUs), and refuses any other value there', async () => {
    const vf = '0000:41:00.4';
    const attr = `/sys/bus/pci/devices/${vf}/nvidia/current_vgpu_type`;
    const journal = (value: string) => JSON.stringify({
      format: 1, command: 'host apply', pid: 1, startedAt: 'x', before: [],
      steps: [{ kind: 'write', path: attr, value: '1152', title: 't', undo: [{ kind: 'restore-attr', path: attr, value }] }],
    });
    const bad = machine('nvidia-l40s-vfio');
    bad.host.writeFile('/var/lib/gpuvirt/journal.json', journal('1153'));
    const r = await bad.run(['recover', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('writes an attribute gpuvirt does not write');
    expect(bad.host.readText(attr)?.trim()).toBe('1152');
    const ok = machine('nvidia-l40s-vfio');
    ok.host.writeFile('/var/lib/gpuvirt/journal.json', journal('0'));
    const done = await ok.run(['recover', '--yes', '--json']);
    expect(done.code, done.stdout).toBe(0);
    expect(ok.host.readText(attr)?.trim()).toBe('0');
  });
});
