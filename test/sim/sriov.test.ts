import { afterEach, describe, expect, it } from 'vitest';
import { readDetails, readFunction, readSriov, readVirtfns } from '../../src/detect/pci.js';
import { groupMembers, listGroups } from '../../src/detect/groups.js';
import { paths } from '../../src/host/paths.js';
import { SimExec } from '../../src/sim/exec.js';
import type { SimHost } from '../../src/sim/host.js';
import { SimKernel } from '../../src/sim/kernel.js';
import { q35, simMachine, track, write } from '../helpers/sysfs-builder.js';

const NVME = '0000:02:00.0';
const IGB = '0000:07:00.0';
const numvfs = (addr: string) => paths.pciAttr(addr, 'sriov_numvfs');

const sims: SimHost[] = [];
afterEach(() => sims.splice(0).forEach((s) => s.cleanup()));
const machine = (opts: { iommu?: boolean; vfio?: boolean } = {}) => track(sims, simMachine(opts));
const driverOf = (host: SimKernel, addr: string) => readFunction(host, addr).driver;

describe('SimKernel: sriov_numvfs', () => {
  it('creates VFs at offset/stride with physfn/virtfn links, their ids, flr and their own groups', () => {
    const { host } = machine();
    const before = listGroups(host);
    expect(write(host, numvfs(NVME), '2\n')).toBe('ok');
    expect(readSriov(host, NVME)).toMatchObject({ totalVfs: 4, numVfs: 2 });
    const vfs = readVirtfns(host, NVME);
    expect(vfs).toEqual(['0000:02:00.1', '0000:02:00.2']);
    for (const vf of vfs) {
      const f = readFunction(host, vf);
      expect(f).toMatchObject({ vendorId: '1b36', deviceId: '0010', classId: '010802', physfn: NVME, driver: null });
      expect(readDetails(host, vf).resetMethods).toEqual(['flr']);
      expect(groupMembers(host, f.iommuGroup!)).toEqual([vf]);
    }
    expect(vfs.map((vf) => readFunction(host, vf).iommuGroup)).toEqual([13, 15]); // lowest free ids
    expect(host.readLink(paths.pciDevice(vfs[0]!))).toBe('../../../devices/pci0000:00/0000:00:03.0/0000:02:00.1');
    expect(host.readLink(paths.pciAttr(vfs[0]!, 'physfn'))).toBe('../0000:02:00.0');

    expect(write(host, numvfs(NVME), '2')).toBe('ok'); // the same value
    expect(write(host, numvfs(NVME), '3')).toBe('EBUSY');
    expect(write(host, numvfs(NVME), '0')).toBe('ok');
    expect(readSriov(host, NVME)?.numVfs).toBe(0);
    expect(readVirtfns(host, NVME)).toEqual([]);
    expect(host.exists(paths.pciDevice('0000:02:00.1'))).toBe(false);
    expect(host.list(paths.pciDevice(NVME))?.filter((e) => e.startsWith('virtfn'))).toEqual([]);
    expect(listGroups(host)).toEqual(before);
    expect(write(host, numvfs(NVME), '0x3')).toBe('ok');
    expect(readVirtfns(host, NVME)).toHaveLength(3);
  });

  it('answers the findings table for invalid values', () => {
    const { host } = machine();
    expect(write(host, numvfs(NVME), '5')).toBe('ERANGE');
    for (const bad of ['abc', '-1', '70000', '\n', '2x']) expect(write(host, numvfs(NVME), bad)).toBe('EINVAL');
    host.writeAttr(numvfs(NVME), '2');
    expect(write(host, numvfs(NVME), '5')).toBe('ERANGE'); // checked before "already enabled"
    expect(readSriov(host, NVME)?.numVfs).toBe(2);
  });

  it('ENOENT without a PF driver, and after the PF driver leaves with VFs enabled', () => {
    const { host } = machine();
    host.writeAttr(numvfs(NVME), '2');
    host.writeAttr(paths.pciDriverAttr('nvme', 'unbind'), NVME);
    expect(readVirtfns(host, NVME)).toHaveLength(2); // "driver left SR-IOV enabled after remove"
    expect(write(host, numvfs(NVME), '0')).toBe('ENOENT');
    expect(write(host, numvfs(NVME), '2')).toBe('ok'); // the same value needs no driver
    host.writeAttr(paths.pciDriversProbe, NVME);
    expect(driverOf(host, NVME)).toBe('nvme');
    expect(write(host, numvfs(NVME), '0')).toBe('ok');
  });

  it('ENOENT on pci-stub and on vfio-pci unless enable_sriov=Y; pci-pf-stub can', async () => {
    const { host, exec } = machine();
    for (const m of ['pci-stub', 'pci_pf_stub', 'vfio-pci']) expect((await exec.run(['modprobe', m])).exitCode).toBe(0);
    const moveTo = (driver: string) => {
      host.writeAttr(paths.pciAttr(NVME, 'driver_override'), driver);
      host.writeAttr(paths.pciAttr(NVME, 'driver/unbind'), NVME);
      host.writeAttr(paths.pciDriversProbe, NVME);
      expect(driverOf(host, NVME)).toBe(driver);
    };
    moveTo('pci-stub');
    expect(write(host, numvfs(NVME), '1')).toBe('ENOENT');
    moveTo('vfio-pci');
    expect(write(host, numvfs(NVME), '1')).toBe('ENOENT');
    expect(write(host, paths.moduleParam('vfio_pci', 'enable_sriov'), 'Y')).toBe('ok');
    expect(host.readText(paths.moduleParam('vfio_pci', 'enable_sriov'))).toBe('Y\n');
    expect(write(host, numvfs(NVME), '2')).toBe('ok');
    // vfio-pci captures its VFs through driver_override, and autoprobe binds them.
    for (const vf of readVirtfns(host, NVME)) {
      expect(readDetails(host, vf).driverOverride).toBe('vfio-pci');
      expect(driverOf(host, vf)).toBe('vfio-pci');
      expect(host.exists(paths.devVfioGroup(readFunction(host, vf).iommuGroup!))).toBe(true);
    }
    expect(write(host, numvfs(NVME), '0')).toBe('ok');
    moveTo('pci-pf-stub');
    expect(write(host, numvfs(NVME), '1')).toBe('ok');
  });

  it('a PF driver may enable fewer VFs than asked, and the write still succeeds', () => {
    const { host } = machine();
    host.configureDriver('nvme', { vfLimit: 1 });
    expect(write(host, numvfs(NVME), '3')).toBe('ok');
    expect(readSriov(host, NVME)?.numVfs).toBe(1);
    expect(readVirtfns(host, NVME)).toEqual(['0000:02:00.1']);
  });

  it('ENOMEM when the VFs would need bus numbers past 255', () => {
    const b = q35();
    b.device({
      addr: '0000:ff:00.0', vendor: '8086', device: '10c9', class: '020000', driver: 'igb', group: 20,
      sriov: { totalVfs: 7, offset: 256, stride: 2, vfDevice: '10ca' },
    });
    const host = new SimKernel(b.root);
    track(sims, { host, exec: new SimExec(host), root: b.root, cleanup: () => b.cleanup() });
    expect(write(host, numvfs('0000:ff:00.0'), '1')).toBe('ENOMEM');
    expect(readVirtfns(host, '0000:ff:00.0')).toEqual([]);
  });
});

describe('SimKernel: VF autoprobe', () => {
  it('binds new VFs to the VF driver (ARI addresses), or leaves them driverless with autoprobe 0', () => {
    const { host } = machine();
    host.writeAttr(numvfs(IGB), '2');
    const vfs = readVirtfns(host, IGB);
    expect(vfs).toEqual(['0000:07:10.0', '0000:07:10.2']);
    expect(vfs.map((vf) => driverOf(host, vf))).toEqual(['igbvf', 'igbvf']);
    expect(readFunction(host, vfs[0]!).deviceId).toBe('10ca');
    expect(host.readText(paths.pciAttr(vfs[0]!, 'modalias'))).toBe('pci:v00008086d000010CAsv00008086sd00001100bc02sc00i00\n');
    host.writeAttr(numvfs(IGB), '0');

    expect(write(host, paths.pciAttr(IGB, 'sriov_drivers_autoprobe'), 'maybe')).toBe('EINVAL');
    expect(write(host, paths.pciAttr(IGB, 'sriov_drivers_autoprobe'), '0\n')).toBe('ok');
    expect(readSriov(host, IGB)?.driversAutoprobe).toBe(false);
    host.writeAttr(numvfs(IGB), '2');
    expect(readVirtfns(host, IGB).map((vf) => driverOf(host, vf))).toEqual([null, null]);
    // pci_device_can_probe: without autoprobe a VF binds only through driver_override.
    expect(write(host, paths.pciDriversProbe, vfs[0]!)).toBe('ok');
    expect(driverOf(host, vfs[0]!)).toBeNull();
    expect(write(host, paths.pciDriverAttr('igbvf', 'bind'), vfs[0]!)).toBe('ENODEV');
    host.writeAttr(paths.pciAttr(vfs[0]!, 'driver_override'), 'igbvf');
    expect(write(host, paths.pciDriverAttr('igbvf', 'bind'), vfs[0]!)).toBe('ok');
    expect(write(host, paths.pciAttr(IGB, 'sriov_drivers_autoprobe'), 'on')).toBe('ok');
    expect(write(host, paths.pciDriversProbe, vfs[1]!)).toBe('ok');
    expect(driverOf(host, vfs[1]!)).toBe('igbvf');
  });

  it('leaves VFs driverless when the VF driver is not loaded; no groups without an IOMMU', () => {
    const { host } = machine({ iommu: false });
    host.configureDriver('igb', { vfDriver: 'ixgbevf' });
    host.writeAttr(numvfs(IGB), '1');
    const [vf] = readVirtfns(host, IGB);
    expect(readFunction(host, vf!)).toMatchObject({ driver: null, iommuGroup: null });
  });
});

describe('SimKernel: devices held open through VFIO', () => {
  async function vfOnVfio(sim: SimHost): Promise<string> {
    await sim.exec.run(['modprobe', 'vfio-pci']);
    sim.host.writeAttr(numvfs(NVME), '2');
    const vf = readVirtfns(sim.host, NVME)[0]!;
    sim.host.writeAttr(paths.pciAttr(vf, 'driver_override'), 'vfio-pci');
    sim.host.writeAttr(paths.pciDriversProbe, vf);
    expect(driverOf(sim.host, vf)).toBe('vfio-pci');
    return vf;
  }

  it('disabling VFs fails with the configured errno while one is held, and works once released', async () => {
    const sim = machine();
    const vf = await vfOnVfio(sim);
    sim.host.holdOpen(vf, { errno: 'EINTR' });
    expect(write(sim.host, numvfs(NVME), '0')).toBe('EINTR');
    expect(readVirtfns(sim.host, NVME)).toHaveLength(2);
    expect(write(sim.host, paths.pciDriverAttr('vfio-pci', 'unbind'), vf)).toBe('EINTR');
    sim.host.releaseHold(vf);
    expect(write(sim.host, numvfs(NVME), '0')).toBe('ok');
    expect(sim.host.exists(paths.devVfioGroup(13))).toBe(false);
  });

  it('disabling VFs blocks for the configured delay, then succeeds', async () => {
    const sim = machine();
    const vf = await vfOnVfio(sim);
    sim.host.holdOpen(vf, { delayMs: 60 });
    const start = performance.now();
    expect(write(sim.host, numvfs(NVME), '0')).toBe('ok');
    expect(performance.now() - start).toBeGreaterThanOrEqual(55);
    expect(readVirtfns(sim.host, NVME)).toEqual([]);
  });
});
