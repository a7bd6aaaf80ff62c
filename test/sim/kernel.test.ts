import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { readDetails, readFunction } from '../../src/detect/pci.js';
import { groupMembers } from '../../src/detect/groups.js';
import { paths } from '../../src/host/paths.js';
import type { SimHost } from '../../src/sim/host.js';
import { SimKernel } from '../../src/sim/kernel.js';
import { simMachine, track, write } from '../helpers/sysfs-builder.js';

const VGA = '0000:01:00.0';
const E1000E = '0000:03:00.0';
const EDU_BRIDGED = '0000:05:02.0';
const EDU = '0000:06:00.0';

const sims: SimHost[] = [];
afterEach(() => sims.splice(0).forEach((s) => s.cleanup()));
const machine = (opts: { iommu?: boolean; vfio?: boolean } = {}) => track(sims, simMachine(opts));

const driverOf = (host: SimKernel, addr: string) => readFunction(host, addr).driver;

describe('SimKernel: driver_override, unbind, drivers_probe', () => {
  it('moves a device to vfio-pci and back, and /dev/vfio/<group> follows', async () => {
    const { host, exec } = machine();
    expect((await exec.run(['modprobe', 'vfio-pci'])).exitCode).toBe(0);
    expect(driverOf(host, E1000E)).toBe('e1000e');

    expect(write(host, paths.pciAttr(E1000E, 'driver_override'), 'vfio-pci')).toBe('ok');
    expect(readDetails(host, E1000E).driverOverride).toBe('vfio-pci');
    expect(driverOf(host, E1000E)).toBe('e1000e'); // an override does not unbind
    expect(write(host, paths.pciAttr(E1000E, 'driver/unbind'), E1000E)).toBe('ok');
    expect(driverOf(host, E1000E)).toBeNull();
    expect(host.list(paths.pciDriver('e1000e'))).not.toContain(E1000E);
    expect(write(host, paths.pciDriversProbe, E1000E)).toBe('ok');
    expect(driverOf(host, E1000E)).toBe('vfio-pci');
    expect(host.readLink(paths.pciAttr(E1000E, 'driver'))).toBe('../../../../bus/pci/drivers/vfio-pci');
    expect(host.list(paths.pciDriver('vfio-pci'))).toContain(E1000E);
    expect(host.exists(paths.devVfioGroup(10))).toBe(true);

    expect(write(host, paths.pciAttr(E1000E, 'driver_override'), '\n')).toBe('ok');
    expect(host.readText(paths.pciAttr(E1000E, 'driver_override'))).toBe('(null)\n');
    expect(write(host, paths.pciDriverAttr('vfio-pci', 'unbind'), `${E1000E}\n`)).toBe('ok');
    expect(host.exists(paths.devVfioGroup(10))).toBe(false);
    expect(write(host, paths.pciDriversProbe, E1000E)).toBe('ok');
    expect(driverOf(host, E1000E)).toBe('e1000e');
  });

  it('keeps /dev/vfio/<group> until the last member of the group leaves vfio-pci', async () => {
    const { host, exec } = machine();
    await exec.run(['modprobe', 'vfio-pci']);
    for (const addr of [VGA, '0000:01:00.1']) {
      host.writeAttr(paths.pciAttr(addr, 'driver_override'), 'vfio-pci');
      host.writeAttr(paths.pciAttr(addr, 'driver/unbind'), addr);
      host.writeAttr(paths.pciDriversProbe, addr);
    }
    expect(groupMembers(host, 8).map((a) => driverOf(host, a))).toEqual(['vfio-pci', 'vfio-pci']);
    host.writeAttr(paths.pciDriverAttr('vfio-pci', 'unbind'), VGA);
    expect(host.exists(paths.devVfioGroup(8))).toBe(true);
    host.writeAttr(paths.pciDriverAttr('vfio-pci', 'unbind'), '0000:01:00.1');
    expect(host.exists(paths.devVfioGroup(8))).toBe(false);
  });

  it('answers the findings table for bind, unbind and drivers_probe', async () => {
    const { host, exec } = machine();
    await exec.run(['modprobe', 'vfio-pci']);
    expect(write(host, paths.pciDriverAttr('vfio-pci', 'bind'), EDU)).toBe('ENODEV'); // no override
    expect(write(host, paths.pciDriverAttr('e1000e', 'bind'), E1000E)).toBe('EBUSY');
    expect(write(host, paths.pciDriverAttr('e1000', 'unbind'), E1000E)).toBe('ENODEV');
    expect(write(host, paths.pciDriverAttr('e1000e', 'unbind'), '0000:42:00.0')).toBe('ENODEV');
    expect(write(host, paths.pciDriversProbe, '0000:42:00.0')).toBe('ENODEV');
    expect(write(host, paths.pciDriversProbe, 'garbage')).toBe('ENODEV');
    expect(write(host, paths.pciDriversProbe, E1000E)).toBe('ok');
    expect(driverOf(host, E1000E)).toBe('e1000e');
    host.writeAttr(paths.pciAttr(EDU, 'driver_override'), 'vfio-pci');
    expect(write(host, paths.pciDriverAttr('vfio-pci', 'bind'), EDU)).toBe('ok');
    expect(driverOf(host, EDU)).toBe('vfio-pci');
  });

  it('accepts an override naming a driver that is not loaded, and binds nothing', () => {
    const { host } = machine();
    expect(write(host, paths.pciAttr(EDU, 'driver_override'), 'no-such-driver\n')).toBe('ok');
    expect(readDetails(host, EDU).driverOverride).toBe('no-such-driver');
    expect(write(host, paths.pciDriversProbe, EDU)).toBe('ok');
    expect(driverOf(host, EDU)).toBeNull();
  });

  it('rejects an override of a page or more, keeping the old value; empty writes change nothing', () => {
    const { host } = machine();
    const attr = paths.pciAttr(EDU, 'driver_override');
    expect(write(host, attr, 'x'.repeat(5000))).toBe('EINVAL');
    expect(host.readText(attr)).toBe('(null)\n');
    expect(write(host, attr, 'x'.repeat(4095))).toBe('EINVAL'); // len >= PAGE_SIZE - 1
    expect(write(host, attr, 'pci-stub')).toBe('ok');
    expect(write(host, attr, 'x'.repeat(5000))).toBe('EINVAL');
    expect(write(host, attr, '')).toBe('ok'); // sysfs_kf_write drops zero-length writes
    expect(host.readText(attr)).toBe('pci-stub\n');
    expect(write(host, attr, 'y'.repeat(4094))).toBe('ok');
    expect(host.readText(attr)).toBe(`${'y'.repeat(4094)}\n`);
  });

  it('vfio-pci without an IOMMU: drivers_probe succeeds, the device stays unbound; bind fails EINVAL', async () => {
    const { host, exec } = machine({ iommu: false });
    await exec.run(['modprobe', 'vfio-pci']);
    host.writeAttr(paths.pciAttr(E1000E, 'driver_override'), 'vfio-pci');
    host.writeAttr(paths.pciAttr(E1000E, 'driver/unbind'), E1000E);
    expect(write(host, paths.pciDriversProbe, E1000E)).toBe('ok');
    expect(driverOf(host, E1000E)).toBeNull();
    expect(write(host, paths.pciDriverAttr('vfio-pci', 'bind'), E1000E)).toBe('EINVAL');
    expect(host.exists(paths.devVfio)).toBe(true);
    expect(host.list(paths.devVfio)).toEqual(['vfio']);
  });
});

describe('SimKernel: new_id and remove_id', () => {
  it('new_id grabs every unbound identical device, the bridged one too', async () => {
    const { host, exec } = machine({ vfio: true });
    expect(await exec.run(['modprobe', 'vfio-pci'])).toMatchObject({ exitCode: 0 });
    expect(write(host, paths.pciDriverAttr('vfio-pci', 'new_id'), '1234 11e8')).toBe('ok');
    expect(driverOf(host, EDU)).toBe('vfio-pci');
    expect(driverOf(host, EDU_BRIDGED)).toBe('vfio-pci');
    expect(driverOf(host, E1000E)).toBe('e1000e');
    expect(write(host, paths.pciDriverAttr('vfio-pci', 'new_id'), '1234 11e8\n')).toBe('EEXIST');
    expect(write(host, paths.pciDriverAttr('vfio-pci', 'new_id'), 'zzzz')).toBe('EINVAL');
    expect(write(host, paths.pciDriverAttr('vfio-pci', 'new_id'), '1234')).toBe('EINVAL');
    expect(write(host, paths.pciDriverAttr('vfio-pci', 'remove_id'), '1234 11e8')).toBe('ok');
    expect(write(host, paths.pciDriverAttr('vfio-pci', 'remove_id'), '1234 11e8')).toBe('ENODEV');
    expect(driverOf(host, EDU)).toBe('vfio-pci'); // remove_id does not unbind
  });

  it('new_id leaves a device whose override names another driver alone', () => {
    const { host } = machine({ vfio: true });
    host.writeAttr(paths.pciAttr(EDU, 'driver_override'), 'pci-stub');
    host.writeAttr(paths.pciDriverAttr('vfio-pci', 'new_id'), '0x1234 0x11e8');
    expect(driverOf(host, EDU)).toBeNull();
    expect(driverOf(host, EDU_BRIDGED)).toBe('vfio-pci');
  });
});

describe('SimKernel: other attributes', () => {
  it('refuses missing and read-only attributes with EACCES, and missing directories with ENOENT', () => {
    const { host } = machine();
    expect(write(host, paths.pciAttr(E1000E, 'sriov_numvfs'), '1')).toBe('EACCES');
    expect(write(host, paths.pciAttr(E1000E, 'vendor'), '0x1234')).toBe('EACCES');
    expect(write(host, paths.pciAttr('0000:42:00.0', 'driver_override'), 'x')).toBe('ENOENT');
    expect(write(host, paths.pciAttr(EDU, 'driver/unbind'), EDU)).toBe('ENOENT'); // no driver link
    expect(host.exists(paths.pciAttr(E1000E, 'sriov_numvfs'))).toBe(false);
    expect(() => host.writeFile(paths.pciAttr(E1000E, 'new'), 'x')).toThrow(/EACCES/);
  });

  it('fails reads the way sysfs does: write-only EACCES, resourceN EIO, rom EINVAL until enabled', () => {
    const { host } = machine();
    const code = (path: string) => {
      try {
        return host.readText(path);
      } catch (err) {
        return (err as NodeJS.ErrnoException).code;
      }
    };
    expect(code(paths.pciDriverAttr('e1000e', 'unbind'))).toBe('EACCES');
    expect(code(paths.pciAttr(E1000E, 'resource0'))).toBe('EIO');
    expect(code(paths.pciAttr(VGA, 'rom'))).toBe('EINVAL');
    host.writeAttr(paths.pciAttr(VGA, 'rom'), '1');
    expect(code(paths.pciAttr(VGA, 'rom'))).toBe('VBIOS');
    host.writeAttr(paths.pciAttr(VGA, 'rom'), '0\n');
    expect(code(paths.pciAttr(VGA, 'rom'))).toBe('EINVAL');
  });

  it('reset_method takes supported names or default; reset takes only 1', () => {
    const { host } = machine();
    const attr = paths.pciAttr(E1000E, 'reset_method');
    expect(write(host, attr, 'bus')).toBe('ok');
    expect(readDetails(host, E1000E).resetMethods).toEqual(['bus']);
    expect(write(host, attr, 'flr')).toBe('EINVAL');
    expect(write(host, attr, 'garbage\n')).toBe('EINVAL');
    expect(write(host, attr, 'bus bus')).toBe('ok'); // Linux 6.1 takes a method twice (ground truth table)
    expect(host.readText(attr)).toBe('bus bus\n');
    expect(write(host, attr, 'default\n')).toBe('ok');
    expect(readDetails(host, E1000E).resetMethods).toEqual(['pm', 'bus']);
    expect(write(host, paths.pciAttr(E1000E, 'reset'), '1')).toBe('ok');
    expect(write(host, paths.pciAttr(E1000E, 'reset'), '2')).toBe('EINVAL');
    expect(write(host, attr, '\n')).toBe('ok');
    expect(write(host, paths.pciAttr(E1000E, 'reset'), '1')).toBe('ENOTTY');
    expect(write(host, paths.pciAttr('0000:01:00.1', 'reset_method'), 'bus')).toBe('EACCES');
  });
});

describe('SimKernel: failure injection, write log and the sidecar', () => {
  it('fails matching writes before they act, for the given number of times, and logs every write', async () => {
    const { host, exec } = machine();
    await exec.run(['modprobe', 'vfio-pci']);
    host.clearWrites();
    host.failOn({ path: /drivers\/vfio-pci\/bind$/, value: EDU, errno: 'EIO', times: 1 });
    host.writeAttr(paths.pciAttr(EDU, 'driver_override'), 'vfio-pci');
    expect(write(host, paths.pciDriverAttr('vfio-pci', 'bind'), EDU)).toBe('EIO');
    expect(driverOf(host, EDU)).toBeNull();
    expect(write(host, paths.pciDriverAttr('vfio-pci', 'bind'), EDU)).toBe('ok');
    expect(host.writes).toEqual([
      { path: paths.pciAttr(EDU, 'driver_override'), value: 'vfio-pci', result: 'ok' },
      { path: paths.pciDriverAttr('vfio-pci', 'bind'), value: EDU, result: 'EIO' },
      { path: paths.pciDriverAttr('vfio-pci', 'bind'), value: EDU, result: 'ok' },
    ]);
  });

  it('throws errors shaped like node:fs errors', () => {
    const { host } = machine();
    let err: NodeJS.ErrnoException | undefined;
    try {
      host.writeAttr(paths.pciDriversProbe, 'garbage');
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    expect(err).toMatchObject({ code: 'ENODEV', errno: -19, syscall: 'write', path: paths.pciDriversProbe });
    expect(err?.message).toMatch(/^ENODEV: /);
  });

  it('a failed probe is injectable: bind returns it, drivers_probe leaves the device unbound', async () => {
    const { host, exec } = machine();
    await exec.run(['modprobe', 'vfio-pci']);
    host.failProbe({ device: EDU, driver: 'vfio-pci', errno: 'ENOMEM', times: 2 });
    host.writeAttr(paths.pciAttr(EDU, 'driver_override'), 'vfio-pci');
    expect(write(host, paths.pciDriverAttr('vfio-pci', 'bind'), EDU)).toBe('ENOMEM');
    expect(write(host, paths.pciDriversProbe, EDU)).toBe('ok');
    expect(driverOf(host, EDU)).toBeNull();
    expect(write(host, paths.pciDriversProbe, EDU)).toBe('ok');
    expect(driverOf(host, EDU)).toBe('vfio-pci');
  });

  it('shares one machine between two SimKernel instances on the same root', async () => {
    const { host: first, exec, root } = machine();
    await exec.run(['modprobe', 'vfio-pci']);
    first.failOn({ path: paths.pciDriversProbe, errno: 'EBUSY', times: 1 });
    first.writeAttr(paths.pciDriverAttr('vfio-pci', 'new_id'), '8086 10d3');
    const second = new SimKernel(root);
    expect(write(second, paths.pciDriversProbe, EDU)).toBe('EBUSY');
    expect(write(second, paths.pciDriverAttr('vfio-pci', 'new_id'), '8086 10d3')).toBe('EEXIST');
    expect(write(second, paths.pciDriverAttr('e1000e', 'unbind'), E1000E)).toBe('ok');
    expect(driverOf(first, E1000E)).toBeNull();
    first.writeAttr(paths.pciDriversProbe, E1000E);
    // Both match now; the bus tries drivers in registration order, and e1000e came first.
    expect(driverOf(second, E1000E)).toBe('e1000e');
    expect(first.writes.map((w) => w.result)).toEqual(['ok', 'EBUSY', 'EEXIST', 'ok', 'ok']);
    expect(fs.existsSync(`${root}/.sim-kernel.json`)).toBe(true);
  });
});
