import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readFunction } from '../../src/detect/pci.js';
import { readModules } from '../../src/detect/system.js';
import { paths } from '../../src/host/paths.js';
import { makeSimHost, type SimHost } from '../../src/sim/host.js';
import { q35, simMachine, track } from '../helpers/sysfs-builder.js';

const EDU = '0000:06:00.0';
const E1000E = '0000:03:00.0';

const sims: SimHost[] = [];
afterEach(() => sims.splice(0).forEach((s) => s.cleanup()));
const machine = (opts: { iommu?: boolean; vfio?: boolean } = {}) => track(sims, simMachine(opts));

describe('SimExec: modprobe', () => {
  it('loads vfio-pci with its dependencies, its driver directory and /dev/vfio/vfio', async () => {
    const { host, exec } = machine();
    const before = readModules(host, null, ['vfio_pci', 'vfio', 'vfio_iommu_type1']);
    expect(before.map((m) => m.loaded)).toEqual([false, false, false]);
    expect(await exec.run(['modprobe', 'vfio-pci'])).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    const after = readModules(host, null, ['vfio_pci', 'vfio', 'vfio_iommu_type1', 'vfio_pci_core']);
    expect(after.map((m) => m.loaded)).toEqual([true, true, true, true]);
    expect(host.list(paths.pciDriver('vfio-pci'))).toEqual(['bind', 'module', 'new_id', 'remove_id', 'uevent', 'unbind']);
    expect(host.readLink(`${paths.pciDriver('vfio-pci')}/module`)).toBe('../../../../module/vfio_pci');
    expect(host.readText(paths.moduleParam('vfio_pci', 'enable_sriov'))).toBe('N\n');
    expect(host.exists(`${paths.devVfio}/vfio`)).toBe(true);
    expect(await exec.run(['modprobe', 'vfio_pci'])).toMatchObject({ exitCode: 0 }); // already loaded
  });

  it('binds at load only the unbound devices whose override names it', async () => {
    const { host, exec } = machine();
    host.writeAttr(paths.pciAttr(EDU, 'driver_override'), 'vfio-pci');
    host.writeAttr(paths.pciDriversProbe, EDU);
    expect(readFunction(host, EDU).driver).toBeNull(); // drivers_probe does not load modules
    await exec.run(['modprobe', 'vfio-pci']);
    expect(readFunction(host, EDU).driver).toBe('vfio-pci');
    expect(readFunction(host, '0000:05:02.0').driver).toBeNull(); // the identical edu has no override
    expect(host.exists(paths.devVfioGroup(12))).toBe(true);
  });

  it('treats dashes and underscores alike, and reports a module it does not know', async () => {
    const { host, exec } = machine();
    expect((await exec.run(['modprobe', 'pci_stub'])).exitCode).toBe(0);
    expect(host.isDirectory(paths.pciDriver('pci-stub'))).toBe(true);
    expect((await exec.run(['modprobe', 'pci-stub'])).exitCode).toBe(0);
    expect(host.readText(paths.procModules)?.match(/^pci_stub /gm)).toHaveLength(1);
    const missing = await exec.run(['modprobe', 'nvidia']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/Module nvidia not found in directory \/lib\/modules\/6\.1\.0-56-amd64/);
  });

  it('modprobe -r unbinds the driver\'s devices, but fails while a device is held open', async () => {
    const { host, exec } = machine();
    await exec.run(['modprobe', 'vfio-pci']);
    host.writeAttr(paths.pciAttr(EDU, 'driver_override'), 'vfio-pci');
    host.writeAttr(paths.pciDriversProbe, EDU);
    host.holdOpen(EDU, { errno: 'EINTR' });
    expect(await exec.run(['modprobe', '-r', 'vfio_pci'])).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/in use/) });
    expect(readFunction(host, EDU).driver).toBe('vfio-pci');
    host.releaseHold(EDU);
    expect((await exec.run(['modprobe', '-r', 'vfio-pci'])).exitCode).toBe(0);
    expect(readFunction(host, EDU).driver).toBeNull();
    expect(host.exists(paths.pciDriver('vfio-pci'))).toBe(false);
    expect(host.exists(paths.devVfioGroup(12))).toBe(false);
    expect(host.exists(`${paths.devVfio}/vfio`)).toBe(false);
    expect(readModules(host, null, ['vfio', 'vfio_pci']).map((m) => m.loaded)).toEqual([false, false]);
    expect(await exec.run(['modprobe', '-r', 'vfio-pci'])).toEqual({ exitCode: 0, stdout: '', stderr: '' }); // not loaded: nothing to do
    expect((await exec.run(['modprobe', '-r', 'pcieport'])).stderr).toMatch(/is builtin/);
  });

  it('reloading a driver binds the devices it claims natively again', async () => {
    const { host, exec } = machine();
    expect((await exec.run(['modprobe', '-r', 'e1000e'])).exitCode).toBe(0);
    expect(readFunction(host, E1000E).driver).toBeNull();
    expect((await exec.run(['modprobe', 'e1000e'])).exitCode).toBe(0);
    expect(readFunction(host, E1000E).driver).toBe('e1000e');
  });
});

describe('SimExec: strictness, injection and the call log', () => {
  it('throws for any argv it does not simulate', async () => {
    const { exec } = machine();
    await expect(exec.run(['update-grub', '--force'])).rejects.toThrow(/no simulation for `update-grub --force`/);
    await expect(exec.run(['lspci'])).rejects.toThrow(/no simulation for `lspci`/);
    await expect(exec.run(['grubby', '--update-kernel=ALL'])).rejects.toThrow(/no simulation/);
    await expect(exec.run(['dracut'])).rejects.toThrow(/no simulation/);
    await expect(exec.run(['systemctl', 'start', 'x.service'])).rejects.toThrow(/no simulation/);
    await expect(exec.run(['modprobe', 'vfio-pci', 'nointxmask'])).rejects.toThrow(/no simulation/);
    await expect(exec.run(['modprobe', '-q', 'vfio-pci'])).rejects.toThrow(/no simulation/);
    await expect(exec.run(['modprobe', '../x'])).rejects.toThrow(/no simulation/);
  });

  it('returns injected results instead of running, and logs every call', async () => {
    const { host, exec } = machine();
    exec.failOn({ argv: ['modprobe', 'vfio-pci'], exitCode: 1, stderr: 'modprobe: ERROR: boom\n', times: 1 });
    exec.failOn({ argv: /^update-initramfs/, exitCode: 0 });
    expect(await exec.run(['modprobe', 'vfio-pci'])).toEqual({ exitCode: 1, stdout: '', stderr: 'modprobe: ERROR: boom\n' });
    expect(host.exists(paths.pciDriver('vfio-pci'))).toBe(false);
    expect((await exec.run(['modprobe', 'vfio-pci'])).exitCode).toBe(0);
    expect((await exec.run(['update-initramfs', '-u'])).exitCode).toBe(0);
    expect(exec.calls).toEqual([
      { argv: ['modprobe', 'vfio-pci'], exitCode: 1 },
      { argv: ['modprobe', 'vfio-pci'], exitCode: 0 },
      { argv: ['update-initramfs', '-u'], exitCode: 0 },
    ]);
  });
});

describe('makeSimHost', () => {
  it('copies a fixture with its links and modes, leaving the fixture untouched', async () => {
    const b = q35();
    try {
      const sim = track(sims, makeSimHost(b.root));
      expect(sim.root).not.toBe(b.root);
      const link = '/sys/bus/pci/devices/0000:03:00.0';
      expect(fs.readlinkSync(sim.root + link)).toBe(fs.readlinkSync(b.root + link));
      expect(fs.statSync(sim.root + paths.pciDriverAttr('e1000e', 'bind')).mode & 0o777).toBe(0o200);
      await sim.exec.run(['modprobe', 'vfio-pci']);
      expect(sim.host.exists(paths.pciDriver('vfio-pci'))).toBe(true);
      expect(fs.existsSync(nodePath.join(b.root, 'sys/bus/pci/drivers/vfio-pci'))).toBe(false);
      expect(fs.existsSync(nodePath.join(b.root, '.sim-kernel.json'))).toBe(false);
    } finally {
      b.cleanup();
    }
  });
});
