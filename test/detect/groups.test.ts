import { describe, expect, it } from 'vitest';
import { isolationOf, newGroupReads } from '../../src/detect/groups.js';
import { isGpuClass, listAddresses, readFunction } from '../../src/detect/pci.js';
import { FsHost } from '../../src/host/fs-host.js';
import { FIXTURES } from '../helpers/sim.js';

describe('isolationOf', () => {
  it('gives the same verdicts with reads shared between devices, reading each group member once', () => {
    const host = new FsHost(FIXTURES + 'amd-desktop-shared');
    const devices = listAddresses(host).map((a) => readFunction(host, a));
    const opened: string[] = [];
    const counting = new Proxy(host, {
      get: (target, key) => (key === 'readText' ? (p: string) => (opened.push(p), target.readText(p)) : Reflect.get(target, key)),
    });
    const reads = newGroupReads();
    for (const d of devices) expect(isolationOf(counting, d, reads)).toEqual(isolationOf(host, d));
    expect(devices.some((d) => isGpuClass(d.classId) && isolationOf(host, d).isolation === 'shared')).toBe(true);
    expect(new Set(opened).size).toBe(opened.length);
  });
});
