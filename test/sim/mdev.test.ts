import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { paths } from '../../src/host/paths.js';
import { makeSimHost, type SimHost } from '../../src/sim/host.js';
import { FIXTURES, machine } from '../helpers/sim.js';
import { track, write } from '../helpers/sysfs-builder.js';

const sims: SimHost[] = [];
afterEach(() => sims.splice(0).forEach((s) => s.cleanup()));
const gvt = () => track(sims, makeSimHost(`${FIXTURES}intel-gvtg-desktop`));

const PARENT = '0000:00:02.0';
const TYPE = 'i915-GVTg_V5_4';
const typeDir = (t = TYPE) => `${paths.mdevBus}/${PARENT}/mdev_supported_types/${t}`;
const UUID = '0f3b2d44-9d1c-4c3e-8a3b-7d2f1e6c5a90';
const UUID2 = '6d1e8c2a-3b4f-4e5d-9a8b-1c2d3e4f5a6b';
const dev = (u: string) => `${paths.mdevDevices}/${u}`;

describe('mdev: create', () => {
  it('makes the device under its parent with mdev_type, remove, its own IOMMU group and /dev/vfio node', () => {
    const { host } = gvt();
    expect(host.readText(`${typeDir()}/available_instances`)).toBe('2\n');
    expect(write(host, `${typeDir()}/create`, `${UUID.toUpperCase()}\n`)).toBe('ok');
    expect(host.readLink(dev(UUID))).toBe(`../../../devices/pci0000:00/${PARENT}/${UUID}`);
    expect(host.readLink(`${dev(UUID)}/mdev_type`)).toBe(`../mdev_supported_types/${TYPE}`);
    expect(host.readText(`${dev(UUID)}/mdev_type/name`)).toBe('GVTg_V5_4\n');
    expect(host.list(`${typeDir()}/devices`)).toEqual([UUID]);
    const group = Number(host.readLink(`${dev(UUID)}/iommu_group`)!.split('/').pop());
    expect(host.list(paths.iommuGroupDevices(group))).toEqual([UUID]);
    expect(host.exists(paths.devVfioGroup(group))).toBe(true);
    expect(host.readText(`${typeDir()}/available_instances`)).toBe('1\n');
  });

  it('answers as mdev_core and GVT-g do: EINVAL for a bad UUID, EEXIST for a taken one, ENOSPC when none are left', () => {
    const { host } = gvt();
    const create = (v: string, t = TYPE) => write(host, `${typeDir(t)}/create`, v);
    expect(create('not-a-uuid-at-all-but-36-characters!')).toBe('EINVAL');
    expect(create(UUID.slice(0, 35))).toBe('EINVAL');
    expect(create(`${UUID}\n\n`)).toBe('EINVAL');
    expect(create(UUID)).toBe('ok');
    expect(create(UUID, 'i915-GVTg_V5_8')).toBe('EEXIST'); // UUIDs are unique across every parent and type
    expect(create(UUID2)).toBe('ok');
    expect(host.readText(`${typeDir()}/available_instances`)).toBe('0\n');
    expect(create('11111111-2222-4333-8444-555555555555')).toBe('ENOSPC');
    expect(() => host.readText(`${typeDir()}/create`)).toThrow(/EACCES/);
  });

  it('a parent whose driver leaves the count to the core (no get_available) gets the core\'s EUSERS', () => {
    const { host, root } = gvt();
    // The same parent on another mdev driver (the mtty and mdpy samples count in the core).
    const link = `${root}/sys/devices/pci0000:00/${PARENT}/driver`;
    fs.rmSync(link);
    fs.symlinkSync('../../../bus/pci/drivers/mdpy', link);
    host.writeAttr(`${typeDir('i915-GVTg_V5_1')}/create`, UUID);
    expect(write(host, `${typeDir('i915-GVTg_V5_1')}/create`, UUID2)).toBe('EUSERS');
  });
});

describe('mdev: remove', () => {
  it('1 destroys the device and gives the instance back; 0 does nothing; garbage is EINVAL', () => {
    const { host } = gvt();
    host.writeAttr(`${typeDir()}/create`, UUID);
    const group = Number(host.readLink(`${dev(UUID)}/iommu_group`)!.split('/').pop());
    expect(write(host, `${dev(UUID)}/remove`, 'x')).toBe('EINVAL');
    expect(write(host, `${dev(UUID)}/remove`, '0')).toBe('ok');
    expect(host.exists(dev(UUID))).toBe(true);
    expect(write(host, `${dev(UUID)}/remove`, '1\n')).toBe('ok');
    expect(host.exists(dev(UUID))).toBe(false);
    expect(host.exists(`/sys/devices/pci0000:00/${PARENT}/${UUID}`)).toBe(false);
    expect(host.list(`${typeDir()}/devices`)).toEqual([]);
    expect(host.exists(paths.iommuGroupDevices(group))).toBe(false);
    expect(host.exists(paths.devVfioGroup(group))).toBe(false);
    expect(host.readText(`${typeDir()}/available_instances`)).toBe('2\n');
  });

  it('a device a VM holds open blocks the removal (here: fails with the configured errno) and stays', () => {
    const { host } = gvt();
    host.writeAttr(`${typeDir()}/create`, UUID);
    host.holdOpen(UUID, { errno: 'EBUSY' });
    expect(write(host, `${dev(UUID)}/remove`, '1')).toBe('EBUSY');
    expect(host.exists(dev(UUID))).toBe(true);
    host.releaseHold(UUID);
    host.holdOpen(UUID, { delayMs: 50 });
    const started = Date.now();
    expect(write(host, `${dev(UUID)}/remove`, '1')).toBe('ok');
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });
});

describe('mdev: a VF parent hosts one vGPU (NVIDIA vGPU on SR-IOV boards before 6.8)', () => {
  const VF0 = '0000:41:00.4';
  const VF1 = '0000:41:00.5';
  const types = (host: SimHost['host'], vf: string) => Object.fromEntries(['nvidia-557', 'nvidia-558', 'nvidia-559']
    .map((t) => [t, host.readText(`${paths.mdevBus}/${vf}/mdev_supported_types/${t}/available_instances`)]));
  const all = (n: string) => ({ 'nvidia-557': n, 'nvidia-558': n, 'nvidia-559': n });

  it('one create takes every type of that VF; a second fails EUSERS; the removal frees them all', () => {
    const { host } = track(sims, makeSimHost(`${FIXTURES}nvidia-a40-mdev`));
    const create = (vf: string, type: string, uuid: string) => write(host, `${paths.mdevBus}/${vf}/mdev_supported_types/${type}/create`, uuid);
    expect(types(host, VF1)).toEqual(all('1\n'));
    expect(create(VF1, 'nvidia-558', UUID)).toBe('ok');
    expect(types(host, VF1)).toEqual(all('0\n'));
    expect(create(VF1, 'nvidia-559', UUID2)).toBe('EUSERS');
    expect(types(host, '0000:41:00.6')).toEqual(all('1\n')); // other VFs keep theirs
    host.writeAttr(`${dev(UUID)}/remove`, '1');
    expect(types(host, VF1)).toEqual(all('1\n'));
    // The fixture's own vGPU on VF0: freed as its idle siblings show.
    host.writeAttr(`${dev('5b6a7c1e-2d3f-4a5b-8c9d-0e1f2a3b4c5d')}/remove`, '1');
    expect(types(host, VF0)).toEqual(all('1\n'));
  });
});

describe('mdev: the parent\'s driver', () => {
  it('unbinding it removes the mediated devices and the types; binding it again brings the types back, all free', () => {
    const { host } = gvt();
    host.writeAttr(`${typeDir()}/create`, UUID);
    const group = Number(host.readLink(`${dev(UUID)}/iommu_group`)!.split('/').pop());
    host.writeAttr(paths.pciDriverAttr('i915', 'unbind'), PARENT);
    expect(host.exists(dev(UUID))).toBe(false);
    expect(host.exists(paths.devVfioGroup(group))).toBe(false);
    expect(host.exists(`${paths.mdevBus}/${PARENT}`)).toBe(false);
    expect(host.exists(`/sys/devices/pci0000:00/${PARENT}/mdev_supported_types`)).toBe(false);
    host.writeAttr(paths.pciDriversProbe, PARENT);
    expect(host.readText(`${typeDir()}/available_instances`)).toBe('2\n');
    expect(host.readText(`${typeDir()}/name`)).toBe('GVTg_V5_4\n');
    expect(host.list(`${paths.mdevBus}/${PARENT}/mdev_supported_types`)).toHaveLength(4);
    expect(write(host, `${typeDir()}/create`, UUID)).toBe('ok');
  });

  it('a mediated device a VM holds keeps the parent bound (the unbind fails with the configured errno)', () => {
    const { host } = gvt();
    host.writeAttr(`${typeDir()}/create`, UUID);
    host.holdOpen(UUID, { errno: 'EINTR' });
    expect(write(host, paths.pciDriverAttr('i915', 'unbind'), PARENT)).toBe('EINTR');
    expect(host.exists(dev(UUID))).toBe(true);
    expect(host.readLink(`/sys/bus/pci/devices/${PARENT}/driver`)).toBe('../../../bus/pci/drivers/i915');
  });
});

describe('mdev commands on the simulated kernel', () => {
  it('gpuvirt mdev types, create and remove', async () => {
    const m = machine('intel-gvtg-desktop');
    const types = await m.run(['mdev', 'types', '--json']);
    expect(types.doc.data.parents[0].types.map((t: { id: string; availableInstances: number }) => [t.id, t.availableInstances])).toEqual([
      ['i915-GVTg_V5_1', 1], ['i915-GVTg_V5_2', 1], ['i915-GVTg_V5_4', 2], ['i915-GVTg_V5_8', 4],
    ]);
    expect((await m.run(['mdev', 'create', '00:02.0', TYPE, '--uuid', UUID, '--yes'])).code).toBe(0);
    expect(m.host.exists(dev(UUID))).toBe(true);
    expect((await m.run(['mdev', 'remove', UUID, '--yes'])).code).toBe(0);
    expect(m.host.exists(dev(UUID))).toBe(false);
    expect(m.host.writes.map((w) => [w.path, w.result])).toEqual([
      [`${typeDir()}/create`, 'ok'], [`${dev(UUID)}/remove`, 'ok'],
    ]);
  });
});
