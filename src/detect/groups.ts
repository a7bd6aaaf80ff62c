// IOMMU groups and the isolation verdict for one device. The group is the unit VFIO hands
// to a VM (Documentation/driver-api/vfio.rst): every non-bridge member must go along.
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import { isBridgeClass, readClass, readFunction, slotOf, type PciFunction } from './pci.js';

export function groupMembers(host: Host, group: number): string[] {
  return host.list(paths.iommuGroupDevices(group)) ?? [];
}

export function listGroups(host: Host): number[] {
  return (host.list(paths.iommuGroups) ?? [])
    .filter((g) => /^\d+$/.test(g))
    .map(Number)
    .sort((a, b) => a - b);
}

/** Group number of each device, from the groups' own device lists (one listing per group). */
export function groupIndex(host: Host): Map<string, number> {
  const index = new Map<string, number>();
  for (const g of listGroups(host)) for (const addr of groupMembers(host, g)) index.set(addr, g);
  return index;
}

export type Isolation = 'clean' | 'shared' | 'unknown';

export interface IsolationVerdict {
  isolation: Isolation;
  /** Group members that would have to leave the host with the device. */
  blockingPeers: PciFunction[];
}

/**
 * `clean` when every other member of the device's group is a function of its own slot or a
 * bridge; `shared` otherwise (naming the peers); `unknown` without an IOMMU group.
 */
export function isolationOf(host: Host, device: PciFunction): IsolationVerdict {
  if (device.iommuGroup === null) return { isolation: 'unknown', blockingPeers: [] };
  const slot = slotOf(device.address);
  const peers: PciFunction[] = [];
  for (const addr of groupMembers(host, device.iommuGroup)) {
    if (addr === device.address || slotOf(addr) === slot) continue;
    const classId = readClass(host, addr);
    if (isBridgeClass(classId)) continue;
    peers.push(readFunction(host, addr, classId));
  }
  return { isolation: peers.length ? 'shared' : 'clean', blockingPeers: peers };
}

