import { describe, expect, it } from 'vitest';
import { listAddresses, readFunction } from '../../src/detect/pci.js';
import { FsHost } from '../../src/host/fs-host.js';
import type { Host } from '../../src/host/host.js';
import { FIXTURES } from '../helpers/sim.js';
import { makeTree } from '../helpers/tree.js';

/** A host that records the paths it is asked to read. */
function counting(host: Host): { host: Host; reads: string[] } {
  const reads: string[] = [];
  const proxy = new Proxy(host, {
    get: (target, key) => (key === 'readText' ? (p: string) => (reads.push(p), target.readText(p)) : Reflect.get(target, key)),
  });
  return { host: proxy, reads };
}

describe('readFunction', () => {
  it('takes the ids from uevent in one read, the same as the attributes show', () => {
    for (const fixture of ['intel-desktop-nvidia', 'server-mxgpu-sriov', 'nvidia-vgpu-host']) {
      const fs = new FsHost(FIXTURES + fixture);
      for (const addr of listAddresses(fs)) {
        const { host, reads } = counting(fs);
        const fn = readFunction(host, addr);
        expect(fn).toEqual(readFunction(fs, addr, undefined, { uevent: false }));
        expect(reads.map((p) => p.split('/').pop())).toEqual(['uevent']);
      }
    }
  });

  it('reads the attributes when uevent lacks an id, and keeps a class it is given', () => {
    const dev = 'sys/devices/pci0000:00/0000:00:02.0';
    const attrs = { vendor: '0x8086\n', device: '0x3E92\n', subsystem_vendor: '0x1028\n', subsystem_device: '0x0869\n', class: '0x030000\n' };
    const tree = (uevent: string) => makeTree({
      ...Object.fromEntries(Object.entries(attrs).map(([k, v]) => [`${dev}/${k}`, v])),
      [`${dev}/uevent`]: uevent,
      'sys/bus/pci/devices/0000:00:02.0': { link: '../../../devices/pci0000:00/0000:00:02.0' },
    });
    const want = { address: '0000:00:02.0', vendorId: '8086', deviceId: '3e92', subsystemVendorId: '1028', subsystemDeviceId: '0869', classId: '030000', driver: null, iommuGroup: null, physfn: null };
    // Only the slot name (what a tree may write), or an id that is not four hex digits: the attributes.
    for (const uevent of ['PCI_SLOT_NAME=0000:00:02.0\n', 'PCI_CLASS=30000\nPCI_ID=8086:3E9\nPCI_SUBSYS_ID=1028:0869\n']) {
      const { host, reads } = counting(new FsHost(tree(uevent)));
      expect(readFunction(host, '0000:00:02.0')).toEqual(want);
      expect(reads.length).toBe(6);
    }
    const full = new FsHost(tree('DRIVER=i915\nPCI_CLASS=30000\nPCI_ID=8086:3E92\nPCI_SUBSYS_ID=1028:0869\nPCI_SLOT_NAME=0000:00:02.0\n'));
    expect(readFunction(full, '0000:00:02.0')).toEqual(want);
    expect(readFunction(full, '0000:00:02.0', '038000').classId).toBe('038000');
  });
});
