// gpuvirt apply on simulated machines: one plan, one confirmation, one rollback.
import { describe, expect, it } from 'vitest';
import { paths } from '../../src/host/paths.js';
import { machine } from '../helpers/sim.js';
import { PROFILES } from '../generate/run.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GAMING = `${PROFILES}nvidia-gaming.yaml`;
const SLOT = ['0000:01:00.0', '0000:01:00.1'];
const REBUILT = { exitCode: 0, stdout: '', stderr: '' };
const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-apply-'));

describe('apply', () => {
  it('--dry-run plans binding, persistence and configs, and changes nothing', async () => {
    const m = machine('intel-desktop-nvidia');
    const r = await m.run(['apply', GAMING, '--dry-run', '--json']);
    expect(r.code).toBe(0);
    const titles = r.doc.data.steps.map((s: { title: string }) => s.title);
    expect(titles).toContain('let only vfio-pci take 0000:01:00.0');
    expect(titles).toContain('write /etc/udev/rules.d/41-gpuvirt-passthrough.rules');
    expect(titles).toContain('write the libvirt config /var/lib/gpuvirt/vms/gaming/gaming.xml');
    expect(m.host.writes).toEqual([]);
    expect(m.host.exists('/var/lib/gpuvirt/vms/gaming/gaming.xml')).toBe(false);
  });

  it('applies with one confirmation: devices on vfio-pci, boot files, configs, state', async () => {
    const m = machine('intel-desktop-nvidia', { 'update-initramfs -u -k all': REBUILT });
    m.host.writeFile('/usr/sbin/update-initramfs', '', 0o755);
    const r = await m.run(['apply', GAMING, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(Object.values(m.drivers(SLOT)).map((d) => d.driver)).toEqual(['vfio-pci', 'vfio-pci']);
    expect(m.host.readText('/var/lib/gpuvirt/vms/gaming/gaming.xml')).toContain('<name>win11-gaming</name>');
    expect(m.host.readText('/var/lib/gpuvirt/vms/gaming/proxmox-101.conf')).toContain('hostpci0: mapping=vm101-dev0,pcie=1');
    expect(m.host.readText('/var/lib/gpuvirt/vms/gaming/proxmox-101.pci.cfg')).toContain('vm101-dev0');
    expect(m.host.readText(paths.persist.udevRule)).toContain('KERNEL=="0000:01:00.1"');
    const status = await m.run(['status', '--json']);
    expect(status.doc.data.devices.map((d: { address: string }) => d.address)).toEqual(SLOT);
    // a second run has nothing left to do
    expect((await m.run(['apply', GAMING, '--yes', '--json'])).doc.data.noop).toBe(true);
  });

  it('without a terminal and without --yes it refuses to change anything', async () => {
    const m = machine('intel-desktop-nvidia');
    const r = await m.run(['apply', GAMING, '--no-persist', '--json']);
    expect(r.code).toBe(2);
    expect(r.doc.error.code).toBe('E_CONFIRM');
    expect(m.host.writes).toEqual([]);
  });

  it('a failure anywhere rolls back all of it: drivers, VF counts, configs, state', async () => {
    const f = join(dir, 'nic-vf.yaml');
    writeFileSync(f, `apiVersion: gpuvirt/v1
name: vf-and-gpu
memory: 4GiB
cpu: { cores: 2 }
devices:
  - { type: vf, pf: { address: 0000:c1:00.0 }, vf: 1, vfCount: 2 }
  - { type: gpu, select: { address: 0000:81:00.0 } }
`);
    const probe = machine('server-mxgpu-sriov');
    const plan = (await probe.run(['apply', f, '--dry-run', '--no-persist', '--json'])).doc.data.steps;
    expect(plan.map((s: { title: string }) => s.title)).toEqual(expect.arrayContaining(['enable 2 VFs on 0000:c1:00.0', 'let only vfio-pci take 0000:81:00.0']));
    const writes = plan.filter((s: { kind: string }) => s.kind === 'write');
    const last = writes[writes.length - 1];
    const m = machine('server-mxgpu-sriov');
    m.host.failOn({ path: last.path, value: last.value, errno: 'EBUSY', times: 1 });
    const r = await m.run(['apply', f, '--yes', '--no-persist', '--json']);
    expect(r.code).toBe(1);
    expect(r.doc.data.applied.rollback.ok).toBe(true);
    expect(m.host.readText(paths.pciAttr('0000:c1:00.0', 'sriov_numvfs'))?.trim()).toBe('0');
    expect(m.drivers(['0000:81:00.0'])['0000:81:00.0']).toEqual({ driver: null, override: null });
    expect(m.host.exists('/var/lib/gpuvirt/vms/vf-and-gpu/vf-and-gpu.xml')).toBe(false);
    expect((await m.run(['status', '--json'])).doc.data.devices).toEqual([]);
  });
});
