// What profile selectors are resolved against: every PCI function of the host with the facts
// a profile can name or depend on (ids, names, group, isolation, SR-IOV, mdev types). Read
// once through the Host; resolve.ts then works on this plain value without touching the host.
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import { isolationOf, type Isolation } from '../detect/groups.js';
import { isGpuClass, listAddresses, readDetails, readFunction, type PciFunction } from '../detect/pci.js';
import { deviceFiles, findHolders } from '../detect/usage.js';
import { readPf } from '../sriov/detect.js';
import { readMdevTypes } from '../commands/mdev/types.js';
import type { PciNames } from '../pci/names.js';
import { readHostResources, type HostResources } from './host-fit.js';

export interface InventoryFunction extends PciFunction {
  name: string;
  bootVga: boolean | null;
  isolation: Isolation;
  /** Non-bridge members of its IOMMU group outside its own slot. */
  blockingPeers: string[];
  /** SR-IOV PF facts: where VF n lives (First VF Offset, VF Stride) and the VFs enabled now. */
  sriov: { totalVfs: number; numVfs: number; offset: number | null; stride: number | null; vfDeviceId: string | null; vfs: string[] } | null;
  /** mdev types this device offers (null: it is no mdev parent). */
  mdevTypes: string[] | null;
  /** Something holds the device open now (a running VM through VFIO, a host program). */
  inUse: boolean;
}

export interface Inventory {
  functions: InventoryFunction[];
  /** CPUs and hugepages, for what a profile asks besides devices; absent in inventories built by hand. */
  resources?: HostResources;
}

export function readInventory(host: Host, names: PciNames): Inventory {
  const mdevParents = new Set(host.list(paths.mdevBus) ?? []);
  const addresses = listAddresses(host);
  // What VFs have open, by one walk of /proc for all of them (a walk per VF is VFs × open files).
  const vfFiles = new Map<string, string[]>();
  const functions = addresses.map((addr): InventoryFunction => {
    const fn = readFunction(host, addr);
    const details = readDetails(host, addr);
    const iso = isGpuClass(fn.classId) || fn.physfn !== null ? isolationOf(host, fn) : { isolation: 'unknown' as const, blockingPeers: [] };
    const pf = details.sriov ? readPf(host, addr) : null;
    const sriov = pf
      ? { totalVfs: pf.sriov.totalVfs, numVfs: pf.sriov.numVfs, offset: pf.offset, stride: pf.stride, vfDeviceId: pf.sriov.vfDeviceId, vfs: pf.vfs.map((v) => v.address) }
      : null;
    if (fn.physfn !== null) vfFiles.set(addr, deviceFiles(host, addr));
    const f: InventoryFunction = {
      ...fn,
      name: '',
      bootVga: details.bootVga,
      isolation: iso.isolation,
      blockingPeers: iso.blockingPeers.map((p) => p.address),
      sriov,
      mdevTypes: mdevParents.has(addr) ? readMdevTypes(host, addr).map((t) => t.id) : null,
      inUse: false,
    };
    // Looked up when asked (a name selector, a message): pci.ids is the largest thing a profile check reads.
    let name: string | undefined;
    Object.defineProperty(f, 'name', { enumerable: true, get: () => (name ??= names.name(fn.vendorId, fn.deviceId)) });
    return f;
  });
  const held = new Set(findHolders(host, [...vfFiles.values()].flat()).map((h) => h.file));
  for (const f of functions) f.inUse = (vfFiles.get(f.address) ?? []).some((file) => held.has(file));
  return { functions, resources: readHostResources(host) };
}
