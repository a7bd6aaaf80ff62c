// NVIDIA vGPU as sysfs shows it, over both mechanisms (read-only):
// - vendor-specific VFIO (vGPU 17+, kernel >= 6.8): each SR-IOV VF bound to nvidia has
//   nvidia/creatable_vgpu_types ("ID : vGPU Name" header, then "<id> : <name>" lines) and
//   nvidia/current_vgpu_type (0 = none) [proxmox/qemu-server PCI/Mdev.pm; harvester/pcidevices
//   gpuhelper testdata];
// - mdev (older kernels, GVT-g too): /sys/class/mdev_bus/<parent>/mdev_supported_types/<type>
//   and instances under /sys/bus/mdev/devices/<uuid> (vfio-mediated-device.rst).
import { type Host, linkName, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { readMdevTypes, type MdevType } from '../commands/mdev/types.js';

export interface VgpuType {
  id: string;
  name: string;
  /** A MIG-backed type (`<board>-<slices>-<memory>C`): it lives on a GPU instance. */
  migBacked: boolean;
}

export interface NvidiaVf {
  index: number;
  address: string;
  driver: string | null;
  creatable: VgpuType[];
  /** Type id of the vGPU on this VF; null when current_vgpu_type reads 0. */
  current: string | null;
  /** GPU instance the VF's vGPU sits on (MIG-backed types, newer drivers), when the driver says. */
  gpuInstanceId: number | null;
}

const MIG_BACKED = /-\d+-\d+C(?:ME)?$/;

export function parseCreatable(text: string): VgpuType[] {
  const types: VgpuType[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s*:\s*(.+?)\s*$/.exec(line);
    if (m) types.push({ id: m[1]!, name: m[2]!, migBacked: MIG_BACKED.test(m[2]!) });
  }
  return types;
}

export const isMigBackedName = (name: string): boolean => MIG_BACKED.test(name);

/** The vendor-VFIO state of a PF's VFs, or null when no VF has the driver's nvidia/ directory. */
export function readVendorVfio(host: Host, vfs: readonly { index: number; address: string; driver: string | null }[]): NvidiaVf[] | null {
  const out: NvidiaVf[] = [];
  for (const vf of vfs) {
    // nvidia/ is the driver's attribute group; one existence check spares three failed opens per VF without it.
    if (!vf.driver || !host.exists(paths.pciAttr(vf.address, 'nvidia'))) continue;
    const creatable = readAttr(host, paths.pciAttr(vf.address, 'nvidia/creatable_vgpu_types'));
    if (creatable === null) continue;
    const current = readAttr(host, paths.pciAttr(vf.address, 'nvidia/current_vgpu_type'));
    const gi = readAttr(host, paths.pciAttr(vf.address, 'nvidia/gpu_instance_id'));
    out.push({
      index: vf.index, address: vf.address, driver: vf.driver, creatable: parseCreatable(creatable),
      current: current && /^\d+$/.test(current) && current !== '0' ? current : null,
      gpuInstanceId: gi !== null && /^\d+$/.test(gi) ? Number(gi) : null,
    });
  }
  return out.length ? out : null;
}

export interface MdevParentTypes {
  parent: string;
  types: MdevType[];
}

export interface MdevInstance {
  uuid: string;
  parent: string | null;
  type: string | null;
}

/** mdev parents among these addresses (a GPU and its VFs), with their types. */
export function readMdevParents(host: Host, addresses: readonly string[], bus: readonly string[] | null = host.list(paths.mdevBus)): MdevParentTypes[] {
  if (!bus?.length) return [];
  return addresses.filter((a) => bus.includes(a)).map((parent) => ({ parent, types: readMdevTypes(host, parent) }));
}

/**
 * One offer per type over several parents (an SR-IOV GPU whose VFs are each an mdev parent):
 * the instances still available add up.
 */
export function mergeMdevOffers(parents: readonly MdevParentTypes[], pf: string): { id: string; name: string | null; available: number | null; migBacked: false; parent: string }[] {
  const byId = new Map<string, { id: string; name: string | null; available: number | null; migBacked: false; parent: string }>();
  for (const p of parents) {
    for (const t of p.types) {
      const o = byId.get(t.id);
      if (!o) byId.set(t.id, { id: t.id, name: t.name, available: t.availableInstances, migBacked: false, parent: parents.length > 1 ? pf : p.parent });
      else o.available = o.available === null || t.availableInstances === null ? null : o.available + t.availableInstances;
    }
  }
  return [...byId.values()];
}

/** Every mediated device: its parent is the directory it sits in, its type the mdev_type link. */
export function readMdevInstances(host: Host): MdevInstance[] {
  return (host.list(paths.mdevDevices) ?? []).map((uuid) => {
    const target = host.readLink(`${paths.mdevDevices}/${uuid}`) ?? '';
    const parts = target.split('/');
    const parent = parts.length >= 2 ? parts[parts.length - 2]! : null;
    return { uuid, parent, type: linkName(host, `${paths.mdevDevices}/${uuid}/mdev_type`) };
  });
}
