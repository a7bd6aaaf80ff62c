// What profile selectors are resolved against: every PCI function of the host with the facts
// a profile can name or depend on (ids, names, group, isolation, SR-IOV, mdev types). Read
// through the Host: each function's ids, class, driver and group at once, the rest of its facts
// when first asked (lazy); resolve.ts works on this value and never reads the host itself.
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import { isolationOf, type Isolation } from '../detect/groups.js';
import { isGpuClass, listAddresses, readDetails, readFunction, readSriov, type PciFunction } from '../detect/pci.js';
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

/**
 * A field of `f` read from the host when first asked, then kept. A profile names a few of a
 * host's functions: SR-IOV, boot VGA, isolation, mdev types and use are read only for those
 * (most of a profile check's reads were of devices no profile names). Enumerable, so a copy of
 * a function has every field. Every command reads them while it resolves the profile, before
 * it changes anything.
 */
function lazy<K extends keyof InventoryFunction>(f: InventoryFunction, key: K, read: () => InventoryFunction[K]): void {
  let value: InventoryFunction[K];
  let done = false;
  Object.defineProperty(f, key, {
    enumerable: true,
    configurable: true,
    get: () => {
      if (!done) [value, done] = [read(), true];
      return value;
    },
  });
}

export function readInventory(host: Host, names: PciNames): Inventory {
  let mdevParents: Set<string> | undefined;
  const addresses = listAddresses(host);
  const functions = addresses.map((addr): InventoryFunction => {
    const fn = readFunction(host, addr);
    const f = { ...fn } as InventoryFunction;
    lazy(f, 'name', () => names.name(fn.vendorId, fn.deviceId));
    lazy(f, 'bootVga', () => readDetails(host, addr).bootVga);
    let isolation: ReturnType<typeof isolationOf> | undefined;
    const iso = () => (isolation ??= isGpuClass(fn.classId) || fn.physfn !== null ? isolationOf(host, fn) : { isolation: 'unknown', blockingPeers: [] });
    lazy(f, 'isolation', () => iso().isolation);
    lazy(f, 'blockingPeers', () => iso().blockingPeers.map((p) => p.address));
    lazy(f, 'sriov', () => {
      const pf = readSriov(host, addr) ? readPf(host, addr) : null;
      return pf ? { totalVfs: pf.sriov.totalVfs, numVfs: pf.sriov.numVfs, offset: pf.offset, stride: pf.stride, vfDeviceId: pf.sriov.vfDeviceId, vfs: pf.vfs.map((v) => v.address) } : null;
    });
    lazy(f, 'mdevTypes', () => ((mdevParents ??= new Set(host.list(paths.mdevBus) ?? [])).has(addr) ? readMdevTypes(host, addr).map((t) => t.id) : null));
    lazy(f, 'inUse', () => inUse(addr));
    return f;
  });
  // What VFs have open, by one walk of /proc for all of them (a walk per VF is VFs × open files),
  // when the first VF is asked about.
  let held: Set<string> | undefined;
  const vfFiles = new Map<string, string[]>();
  const inUse = (addr: string): boolean => {
    if (!held) {
      for (const f of functions) if (f.physfn !== null) vfFiles.set(f.address, deviceFiles(host, f.address));
      held = new Set(findHolders(host, [...vfFiles.values()].flat()).map((h) => h.file));
    }
    return (vfFiles.get(addr) ?? []).some((file) => held!.has(file));
  };
  return { functions, resources: readHostResources(host) };
}
