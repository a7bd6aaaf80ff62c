// What this host offers to a VM manager above it (KubeVirt, Nova, a Proxmox cluster, NFD labels),
// as plain data read once through the Host. "Prepared" means usable as it is now, with no
// further host change: a GPU function on vfio-pci, an NVIDIA VF on nvidia with a vGPU type set
// (vendor-specific VFIO, passed as a plain PCI device), a mediated device that exists.
import type { Host } from '../host/host.js';
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { iommuActive } from '../doctor/checks.js';
import { gatherFacts, type GpuFacts } from '../doctor/facts.js';
import { listAddresses, readFunction, slotOf, type PciFunction } from '../detect/pci.js';
import type { PciNames } from '../pci/names.js';
import { readVgpuDevices, type VgpuMechanism } from '../sharing/vgpu.js';

export interface OfferedFunction {
  address: string;
  vendorId: string;
  deviceId: string;
  /** `vvvv:dddd`, or null when the device has no subsystem ids. */
  subsystem: string | null;
  iommuGroup: number | null;
  driver: string | null;
  name: string;
  /** The PF, for a VF. */
  physfn: string | null;
  /** The device is an mdev parent or has NVIDIA's vGPU directory (Proxmox's `mdev` flag). */
  mdevCapable: boolean;
  /** vendor-specific VFIO: the vGPU type set on this VF. */
  vgpu: { id: string; name: string | null } | null;
}

export interface OfferedGpu {
  address: string;
  vendorId: string;
  deviceId: string;
  name: string;
  driver: string | null;
  isolation: GpuFacts['isolation'];
  sriov: { totalVfs: number; numVfs: number } | null;
  vgpu: { mechanism: VgpuMechanism; types: { id: string; name: string | null; available: number | null }[] } | null;
}

export interface OfferedMdevType {
  /** The type's directory name (nvidia-222, i915-GVTg_V5_4). */
  id: string;
  name: string | null;
  /** The vendor of the GPUs that offer it. */
  vendorId: string;
  /** The parents (GPUs or VFs) that have mediated devices of this type now. */
  parents: string[];
  instances: number;
}

export interface HostOffer {
  /** The node's name: --node, or the kernel's hostname under the root; null when unknown. */
  node: string | null;
  iommu: boolean;
  gpus: OfferedGpu[];
  /** GPU functions (PFs and VFs) on vfio-pci, and the other functions of a passed GPU's slot. */
  vfio: OfferedFunction[];
  /** NVIDIA VFs with a vGPU type set (vendor-specific VFIO, kernel >= 6.8). */
  vendorVfio: OfferedFunction[];
  /** mdev types that have mediated devices on this host. */
  mdevTypes: OfferedMdevType[];
  /** The parents of those mediated devices. */
  mdevParents: OfferedFunction[];
  /** Why something that looks prepared is not offered (a group another driver holds, ...). */
  warnings: string[];
}

function offered(host: Host, names: PciNames, fn: PciFunction, mdevParents: ReadonlySet<string>): OfferedFunction {
  const nvidia = host.exists(paths.pciAttr(fn.address, 'nvidia'));
  return {
    address: fn.address, vendorId: fn.vendorId, deviceId: fn.deviceId,
    subsystem: fn.subsystemVendorId && fn.subsystemDeviceId ? `${fn.subsystemVendorId}:${fn.subsystemDeviceId}` : null,
    iommuGroup: fn.iommuGroup, driver: fn.driver, name: names.name(fn.vendorId, fn.deviceId), physfn: fn.physfn,
    mdevCapable: nvidia || mdevParents.has(fn.address), vgpu: null,
  };
}

/** The node name as the kernel has it under the root (a cluster names its nodes after it). */
export function hostName(host: Host): string | null {
  const name = readAttr(host, paths.procHostname);
  return name && /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(name) ? name : null;
}

export function readOffer(host: Host, names: PciNames, node: string | null = null): HostOffer {
  const facts = gatherFacts(host);
  const vgpus = readVgpuDevices(host);
  const mdevParentSet = new Set(vgpus.filter((v) => v.mechanism === 'mdev').flatMap((v) => v.parents));
  const warnings: string[] = [];
  const gpus: OfferedGpu[] = facts.gpus.filter((g) => g.physfn === null).map((g) => {
    const v = vgpus.find((x) => x.address === g.address);
    return {
      address: g.address, vendorId: g.vendorId, deviceId: g.deviceId, name: names.name(g.vendorId, g.deviceId), driver: g.driver, isolation: g.isolation,
      sriov: g.sriov ? { totalVfs: g.sriov.totalVfs, numVfs: g.sriov.numVfs } : null,
      vgpu: v ? { mechanism: v.mechanism, types: v.types.map((t) => ({ id: t.id, name: t.name, available: t.available })) } : null,
    };
  });
  const all = listAddresses(host);
  const vfio: OfferedFunction[] = [];
  const seen = new Set<string>();
  const add = (fn: PciFunction) => {
    if (seen.has(fn.address)) return;
    seen.add(fn.address);
    vfio.push(offered(host, names, fn, mdevParentSet));
  };
  for (const g of facts.gpus) {
    if (g.driver !== 'vfio-pci') continue;
    add(g);
    if (g.physfn !== null) continue;
    // The rest of the slot (HDMI audio, USB-C) goes with the GPU; on a host driver it makes the group not viable.
    for (const a of all.filter((x) => x !== g.address && slotOf(x) === slotOf(g.address))) {
      const fn = readFunction(host, a);
      if (fn.physfn !== null) continue;
      if (fn.driver === 'vfio-pci') add(fn);
      else warnings.push(`${g.address} is on vfio-pci but ${a} of its slot is on ${fn.driver ?? 'no driver'}: a VM start fails with "group is not viable" while it shares the GPU's IOMMU group, and passing the whole slot needs it on vfio-pci too`);
    }
  }
  const vendorVfio: OfferedFunction[] = [];
  for (const v of vgpus.filter((x) => x.mechanism === 'vendor-vfio')) {
    for (const vf of v.vfs.filter((x) => x.current !== null)) {
      const o = offered(host, names, readFunction(host, vf.address), mdevParentSet);
      vendorVfio.push({ ...o, vgpu: { id: vf.current!, name: vf.currentName } });
    }
  }
  const byType = new Map<string, OfferedMdevType>();
  for (const v of vgpus.filter((x) => x.mechanism === 'mdev')) {
    for (const i of v.instances) {
      if (!i.type) continue;
      const t = byType.get(i.type) ?? { id: i.type, name: i.typeName, vendorId: v.vendorId, parents: [], instances: 0 };
      if (!t.parents.includes(i.parent)) t.parents.push(i.parent);
      t.instances++;
      byType.set(i.type, t);
    }
  }
  const mdevTypes = [...byType.values()].sort((a, b) => a.id.localeCompare(b.id));
  for (const t of mdevTypes) t.parents.sort();
  const mdevParents = [...new Set(mdevTypes.flatMap((t) => t.parents))].sort().map((p) => offered(host, names, readFunction(host, p), mdevParentSet));
  return { node: node ?? hostName(host), iommu: iommuActive(facts), gpus, vfio, vendorVfio, mdevTypes, mdevParents, warnings };
}
