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
 * What isolationOf has read, for the devices of one run to share: without it, judging every VF
 * of a group that holds a PF and its 64 VFs reads every member 64 times.
 */
export interface GroupReads {
  /** The members of each group. */
  readonly members: Map<number, string[]>;
  /** Each member read so far: its function, or null for a bridge (which never blocks). */
  readonly functions: Map<string, PciFunction | null>;
}

export const newGroupReads = (): GroupReads => ({ members: new Map(), functions: new Map() });

/**
 * `clean` when every other member of the device's group is a function of its own slot or a
 * bridge; `shared` otherwise (naming the peers); `unknown` without an IOMMU group.
 */
export function isolationOf(host: Host, device: PciFunction, reads: GroupReads = newGroupReads()): IsolationVerdict {
  if (device.iommuGroup === null) return { isolation: 'unknown', blockingPeers: [] };
  let members = reads.members.get(device.iommuGroup);
  if (!members) reads.members.set(device.iommuGroup, (members = groupMembers(host, device.iommuGroup)));
  const slot = slotOf(device.address);
  const peers: PciFunction[] = [];
  for (const addr of members) {
    if (addr === device.address || slotOf(addr) === slot) continue;
    let fn = reads.functions.get(addr);
    if (fn === undefined) {
      const classId = readClass(host, addr);
      fn = isBridgeClass(classId) ? null : readFunction(host, addr, classId);
      reads.functions.set(addr, fn);
    }
    if (fn) peers.push(fn);
  }
  return { isolation: peers.length ? 'shared' : 'clean', blockingPeers: peers };
}

