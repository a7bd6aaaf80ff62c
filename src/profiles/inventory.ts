// What profile selectors are resolved against: every PCI function of the host with the facts
// a profile can name or depend on (ids, names, group, isolation, SR-IOV, mdev types), each read
// through the Host when first asked (HostFunction); resolve.ts works on these values and never
// reads the host itself.
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import { isolationOf, type Isolation } from '../detect/groups.js';
import { FUNCTION_FACTS, isGpuClass, listAddresses, readDetails, readFunctionIds, readSriov, type PciFunction } from '../detect/pci.js';
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

/** What the functions of one inventory share: the host, pci.ids names, and the reads made once for all. */
interface Source {
  host: Host;
  names: PciNames;
  functions: () => readonly InventoryFunction[];
  mdevParents?: Set<string>;
  /** The device files VFs have open now, by VF; read for all VFs at once when one is asked about. */
  held?: { files: Map<string, string[]>; open: Set<string> };
}

/**
 * A function of the host, each fact read from it when first asked, then kept. A profile names a
 * few of a host's functions, by address or by ids: reading every fact of every function was
 * most of a profile check. Every command reads them while it resolves the profile, before it
 * changes anything. The facts are getters: JSON.stringify gives them all (toJSON).
 */
class HostFunction implements InventoryFunction {
  readonly #src: Source;
  readonly #known = new Map<string, unknown>();
  constructor(readonly address: string, src: Source) {
    this.#src = src;
  }

  #fact<T>(key: string, read: () => T): T {
    if (!this.#known.has(key)) this.#known.set(key, read());
    return this.#known.get(key) as T;
  }

  #pci<K extends 'driver' | 'iommuGroup' | 'physfn'>(key: K): PciFunction[K] {
    return this.#fact(key, () => FUNCTION_FACTS[key](this.#src.host, this.address));
  }

  /** The five ids at once, as doctor and list read them (one uevent, where the kernel has one). */
  #ids() {
    return this.#fact('ids', () => readFunctionIds(this.#src.host, this.address));
  }

  get vendorId() { return this.#ids().vendorId; }
  get deviceId() { return this.#ids().deviceId; }
  get subsystemVendorId() { return this.#ids().subsystemVendorId; }
  get subsystemDeviceId() { return this.#ids().subsystemDeviceId; }
  get classId() { return this.#ids().classId; }
  get driver() { return this.#pci('driver'); }
  get iommuGroup() { return this.#pci('iommuGroup'); }
  get physfn() { return this.#pci('physfn'); }
  get name() { return this.#fact('name', () => this.#src.names.name(this.vendorId, this.deviceId)); }
  get bootVga() { return this.#fact('bootVga', () => readDetails(this.#src.host, this.address).bootVga); }

  #isolation(): { isolation: Isolation; blockingPeers: string[] } {
    return this.#fact('isolation', () => {
      const iso = isGpuClass(this.classId) || this.physfn !== null ? isolationOf(this.#src.host, this) : { isolation: 'unknown' as const, blockingPeers: [] };
      return { isolation: iso.isolation, blockingPeers: iso.blockingPeers.map((p) => p.address) };
    });
  }

  get isolation() { return this.#isolation().isolation; }
  get blockingPeers() { return this.#isolation().blockingPeers; }

  get sriov(): InventoryFunction['sriov'] {
    return this.#fact('sriov', () => {
      const pf = readSriov(this.#src.host, this.address) ? readPf(this.#src.host, this.address) : null;
      return pf ? { totalVfs: pf.sriov.totalVfs, numVfs: pf.sriov.numVfs, offset: pf.offset, stride: pf.stride, vfDeviceId: pf.sriov.vfDeviceId, vfs: pf.vfs.map((v) => v.address) } : null;
    });
  }

  get mdevTypes(): string[] | null {
    return this.#fact('mdevTypes', () => {
      const src = this.#src;
      return (src.mdevParents ??= new Set(src.host.list(paths.mdevBus) ?? [])).has(this.address) ? readMdevTypes(src.host, this.address).map((t) => t.id) : null;
    });
  }

  get inUse(): boolean {
    return this.#fact('inUse', () => {
      const src = this.#src;
      if (!src.held) {
        // What VFs have open, by one walk of /proc for all of them (a walk per VF is VFs × open files).
        const files = new Map<string, string[]>();
        for (const f of src.functions()) if (f.physfn !== null) files.set(f.address, deviceFiles(src.host, f.address));
        src.held = { files, open: new Set(findHolders(src.host, [...files.values()].flat()).map((h) => h.file)) };
      }
      const { files, open } = src.held;
      return (files.get(this.address) ?? []).some((file) => open.has(file));
    });
  }

  toJSON(): InventoryFunction {
    const { address, vendorId, deviceId, subsystemVendorId, subsystemDeviceId, classId, driver, iommuGroup, physfn, name, bootVga, isolation, blockingPeers, sriov, mdevTypes, inUse } = this;
    return { address, vendorId, deviceId, subsystemVendorId, subsystemDeviceId, classId, driver, iommuGroup, physfn, name, bootVga, isolation, blockingPeers, sriov, mdevTypes, inUse };
  }
}

export function readInventory(host: Host, names: PciNames): Inventory {
  const src: Source = { host, names, functions: () => functions };
  const functions: InventoryFunction[] = listAddresses(host).map((addr) => new HostFunction(addr, src));
  return { functions, resources: readHostResources(host) };
}
