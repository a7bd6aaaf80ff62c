import { mkdirSync, symlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { machine } from '../helpers/sim.js';
import { paths } from '../../src/host/paths.js';
import { readPf } from '../../src/sriov/detect.js';

const NIC = '0000:c1:00.0';
const SERVER = 'server-mxgpu-sriov';

const numvfsWrites = (m: ReturnType<typeof machine>, pf: string) =>
  m.host.writes.filter((w) => w.path === paths.pciAttr(pf, 'sriov_numvfs')).map((w) => `${w.value}:${w.result}`);

describe('sriov status', () => {
  it('lists every PF with its path, counts and VFs', async () => {
    const m = machine(SERVER);
    const r = await m.run(['sriov', 'status', '--json']);
    expect(r.code).toBe(0);
    const pfs = r.doc.data.pfs;
    expect(pfs.map((p: { address: string; adapter: string }) => [p.address, p.adapter])).toEqual([
      ['0000:41:00.0', 'amd-gim'], ['0000:81:00.0', 'generic'], [NIC, 'generic'],
    ]);
    expect(pfs[0].vfs.map((v: { address: string; iommuGroup: number }) => [v.address, v.iommuGroup])).toEqual([
      ['0000:41:02.0', 24], ['0000:41:02.1', 25], ['0000:41:02.2', 26], ['0000:41:02.3', 27],
    ]);
  });

  it('a device without SR-IOV is a clear error', async () => {
    const m = machine(SERVER);
    const r = await m.run(['sriov', 'status', '41:02.0']);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('has no SR-IOV capability');
  });
});

describe('sriov enable (generic path, simulated kernel)', () => {
  it('creates the VFs, waits for them and reports each one', async () => {
    const m = machine(SERVER);
    const r = await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '4', '--yes', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.data.after.numVfs).toBe(4);
    expect(r.doc.data.after.vfs).toHaveLength(4);
    expect(readPf(m.host, NIC)!.vfs.every((v) => v.iommuGroup !== null)).toBe(true);
  });

  it('changing a non-zero count writes 0 first, as the kernel requires', async () => {
    const m = machine(SERVER);
    await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--yes']);
    m.host.clearWrites();
    expect((await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '3', '--yes'])).code).toBe(0);
    expect(numvfsWrites(m, NIC)).toEqual(['0:ok', '3:ok']);
    expect(readPf(m.host, NIC)!.sriov.numVfs).toBe(3);
  });

  it('the same count again is a no-op', async () => {
    const m = machine(SERVER);
    await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--yes']);
    m.host.clearWrites();
    const r = await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--yes']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Nothing to do');
    expect(m.host.writes).toEqual([]);
  });

  it('more VFs than sriov_totalvfs is refused before anything is written', async () => {
    const m = machine(SERVER);
    const r = await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '200', '--yes']);
    expect(r.code).toBe(5);
    expect(r.stdout).toContain('offers at most 128 VFs (sriov_totalvfs); 200 asked');
    expect(m.host.writes).toEqual([]);
  });

  it('a PF without a driver is explained (the kernel would say ENOENT)', async () => {
    const m = machine(SERVER);
    const r = await m.run(['sriov', 'enable', '81:00.0', '--vfs', '1', '--yes']);
    expect(r.code).toBe(5);
    expect(r.stdout).toContain('has no driver');
    expect(m.host.writes).toEqual([]);
  });

  it('--bind vfio-pci: autoprobe off first, every VF on vfio-pci in its own group', async () => {
    const m = machine(SERVER);
    const r = await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '3', '--bind', 'vfio-pci', '--yes']);
    expect(r.code).toBe(0);
    const pf = readPf(m.host, NIC)!;
    expect(pf.sriov.driversAutoprobe).toBe(false);
    expect(pf.vfs.map((v) => v.driver)).toEqual(['vfio-pci', 'vfio-pci', 'vfio-pci']);
    expect(new Set(pf.vfs.map((v) => v.iommuGroup)).size).toBe(3);
    const autoprobeAt = m.host.writes.findIndex((w) => w.path.endsWith('sriov_drivers_autoprobe'));
    const numvfsAt = m.host.writes.findIndex((w) => w.path.endsWith('sriov_numvfs'));
    expect(autoprobeAt).toBeGreaterThanOrEqual(0);
    expect(autoprobeAt).toBeLessThan(numvfsAt);
  });

  it('ENOMEM from the kernel: rolled back, with the firmware remedy', async () => {
    const m = machine(SERVER);
    await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--yes']);
    m.host.failOn({ path: paths.pciAttr(NIC, 'sriov_numvfs'), value: '6', errno: 'ENOMEM' });
    const r = await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '6', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('ENOMEM');
    expect(r.stdout).toContain('pci=realloc');
    expect(readPf(m.host, NIC)!.sriov.numVfs).toBe(2);
  });

  it('a driver that enables fewer VFs than asked is caught, and the PF goes back to its count', async () => {
    const m = machine(SERVER);
    m.host.configureDriver('ice', { vfLimit: 2 });
    const r = await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '4', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/reports 2 VFs/);
    expect(readPf(m.host, NIC)!.sriov.numVfs).toBe(0);
  });

  it('several SR-IOV GPUs and no PF named: a list on a pipe, a question on a terminal', async () => {
    const m = machine(SERVER);
    const pipe = await m.run(['sriov', 'enable', '--vfs', '1', '--yes']);
    expect(pipe.code).toBe(2);
    expect(pipe.stderr).toContain('several SR-IOV GPUs: 0000:41:00.0');
    expect(pipe.stderr).toContain('0000:81:00.0');
    const tty = await m.run(['sriov', 'enable', '--vfs', '1', '--dry-run'], { tty: true });
    expect(tty.code).toBe(0); // the test prompt picks the first GPU: gim, 1 VF is a legal count
    expect(tty.stdout).toContain('0000:41:00.0');
  });
});

describe('sriov vendor paths', () => {
  it('AMD GIM: legal counts per model, and a module reload instead of sriov_numvfs', async () => {
    const m = machine(SERVER);
    const bad = await m.run(['sriov', 'enable', '41:00.0', '--vfs', '4', '--yes']);
    expect(bad.code).toBe(5);
    expect(bad.stdout).toContain('runs 1 or 8 VFs');
    const plan = await m.run(['sriov', 'enable', '41:00.0', '--vfs', '8', '--dry-run', '--json']);
    expect(plan.doc.data.steps.map((s: { action: string }) => s.action)).toEqual([
      'run modprobe -r gim', 'run modprobe gim vf_num=8', 'wait until 0000:41:00.0 has 8 VFs (at most 120 s)',
      'write file /var/lib/gpuvirt/state.json',
    ]);
    // With --persist too, the count is on the modprobe line: the modprobe.d file is written after the reload.
    const persisted = await m.run(['sriov', 'enable', '41:00.0', '--vfs', '8', '--persist', '--dry-run', '--json']);
    const actions = persisted.doc.data.steps.map((s: { action: string }) => s.action);
    expect(actions).toContain('run modprobe gim vf_num=8');
    expect(actions.indexOf('run modprobe gim vf_num=8')).toBeLessThan(actions.indexOf('write file /etc/modprobe.d/gpuvirt-gim.conf'));
    expect(plan.doc.data.notes.join(' ')).toContain('reloads gim');
  });
});

describe('sriov disable', () => {
  it('removes every VF', async () => {
    const m = machine(SERVER);
    await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--yes']);
    const r = await m.run(['sriov', 'disable', 'c1:00.0', '--yes', '--json']);
    expect(r.code).toBe(0);
    expect(readPf(m.host, NIC)!.sriov.numVfs).toBe(0);
  });

  it('refuses while a VF is open through VFIO (the kernel would block), even with --force', async () => {
    const m = machine(SERVER);
    await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--bind', 'vfio-pci', '--yes']);
    const vf = readPf(m.host, NIC)!.vfs[0]!;
    // A VM process holding the VF's group open, as /proc shows it.
    mkdirSync(`${m.root}/proc/4242/fd`, { recursive: true });
    symlinkSync(`/dev/vfio/${vf.iommuGroup}`, `${m.root}/proc/4242/fd/17`);
    m.host.clearWrites();
    const r = await m.run(['sriov', 'disable', 'c1:00.0', '--yes', '--force']);
    expect(r.code).toBe(7);
    expect(r.stdout).toContain(`VF ${vf.address} is open through VFIO`);
    expect(m.host.writes).toEqual([]);
    expect(readPf(m.host, NIC)!.sriov.numVfs).toBe(2);
  });
});

describe('sriov --persist', () => {
  it('enable --persist writes a per-PF udev rule; disable --persist removes it', async () => {
    const m = machine(SERVER);
    const r = await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--bind', 'vfio-pci', '--persist', '--yes']);
    expect(r.code).toBe(0);
    const rule = m.host.readText(paths.sriovPersist.udevRule)!;
    expect(rule).toContain(`ACTION=="bind", SUBSYSTEM=="pci", KERNEL=="${NIC}", ATTR{sriov_drivers_autoprobe}="0", ATTR{sriov_numvfs}="2"`);
    for (const vf of readPf(m.host, NIC)!.vfs) expect(rule).toContain(`KERNEL=="${vf.address}", ATTR{driver_override}="vfio-pci"`);
    const keep = await m.run(['sriov', 'disable', 'c1:00.0', '--yes']);
    expect(keep.stderr).toContain('stays persisted');
    expect(m.host.exists(paths.sriovPersist.udevRule)).toBe(true);
    expect((await m.run(['sriov', 'disable', 'c1:00.0', '--persist', '--yes'])).code).toBe(0);
    expect(m.host.exists(paths.sriovPersist.udevRule)).toBe(false);
  });
});

describe('sriov on single-GPU vendor hosts', () => {
  it('Intel xe: `sriov enable --vfs 8` with no other argument picks the only SR-IOV GPU', async () => {
    const m = machine('intel-xe-sriov');
    const r = await m.run(['sriov', 'enable', '--vfs', '8', '--yes', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.data.pf.address).toBe('0000:03:00.0');
    expect(r.doc.data.adapter).toBe('intel');
    expect(readPf(m.host, '0000:03:00.0')!.sriov.numVfs).toBe(8);
    expect(readPf(m.host, '0000:03:00.0')!.vfs.map((v) => v.address)).toEqual(
      ['0000:03:00.1', '0000:03:00.2', '0000:03:00.3', '0000:03:00.4', '0000:03:00.5', '0000:03:00.6', '0000:03:00.7', '0000:03:01.0'],
    );
  });

  it('NVIDIA: sriov-manage enables all VFs; another count is refused with the reason', async () => {
    const pf = '0000:41:00.0';
    // sriov-manage -e does, in the end, what the kernel's sysfs offers: all VFs at once.
    const m: ReturnType<typeof machine> = machine('nvidia-vgpu-host', {
      [`/usr/lib/nvidia/sriov-manage -e ${pf}`]: () => {
        m.host.writeAttr(paths.pciAttr(pf, 'sriov_numvfs'), '32');
        return { exitCode: 0, stdout: 'Enabling VFs on 0000:41:00.0\n', stderr: '' };
      },
    });
    const wrong = await m.run(['sriov', 'enable', '--vfs', '8', '--yes']);
    expect(wrong.code).toBe(5);
    expect(wrong.stdout).toContain('pass --vfs 32');
    const r = await m.run(['sriov', 'enable', '--vfs', '32', '--yes']);
    expect(r.code).toBe(0);
    expect(m.testExec.calls).toEqual([['/usr/lib/nvidia/sriov-manage', '-e', pf]]);
    expect(readPf(m.host, pf)!.sriov.numVfs).toBe(32);
  });
});

describe('sriov refusals found on the real kernel', () => {
  it('--bind vfio-pci without an IOMMU is refused before any write', async () => {
    const m = machine('qemu-none');
    const r = await m.run(['sriov', 'enable', '02:00.0', '--vfs', '2', '--bind', 'vfio-pci', '--yes']);
    expect(r.code).toBe(7);
    expect(r.stdout).toContain('no IOMMU group');
    expect(m.host.writes).toEqual([]);
  });

  it('disable on a PF that lost its driver is refused before the kernel answers ENOENT', async () => {
    const m = machine(SERVER);
    await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--yes']);
    m.host.writeAttr(paths.pciDriverAttr('ice', 'unbind'), NIC);
    m.host.clearWrites();
    const r = await m.run(['sriov', 'disable', 'c1:00.0', '--yes']);
    expect(r.code).toBe(7);
    expect(r.stdout).toContain('has no driver');
    expect(m.host.writes).toEqual([]);
    expect(readPf(m.host, NIC)!.sriov.numVfs).toBe(2);
  });
});
