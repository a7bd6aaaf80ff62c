// Which devices a passthrough of some addresses must take: the named functions, the other
// functions of their slot (a GPU's HDMI audio, USB-C, UCSI), and the rest of their IOMMU group,
// which VFIO hands out as one unit. Bridges in the group stay with their driver.
import { type Host, linkName } from '../host/host.js';
import { paths } from '../host/paths.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import { groupMembers } from '../detect/groups.js';
import { isBridgeClass, listAddresses, readDetails, readFunction, slotOf, type PciFunction } from '../detect/pci.js';

export interface Member extends PciFunction {
  driverOverride: string | null;
  bootVga: boolean | null;
  /** The module behind the current driver (drivers/<name>/module), to reload it on release. */
  driverModule: string | null;
  /** VFs it has now (an SR-IOV PF: unbinding it removes them). */
  sriovVfs: number;
  /** Mediated devices (vGPUs) it is the parent of now: unbinding it destroys them. */
  mdevs: number;
  /** Why it is in the set: named by the user, a function of a named slot, or a group peer. */
  reason: 'requested' | 'slot' | 'group';
}

export interface PassSet {
  members: Member[];
  /** Non-bridge group members outside the named slots: they go only with --force. */
  groupPeers: Member[];
  /** Bridges sharing a group with the set, left alone. */
  bridges: string[];
}

export function readMember(host: Host, addr: string, reason: Member['reason']): Member {
  const fn = readFunction(host, addr);
  const details = readDetails(host, addr);
  const module = fn.driver ? linkName(host, `${paths.pciDriver(fn.driver)}/module`) : null;
  const types = `${paths.pciDevice(addr)}/mdev_supported_types`;
  const mdevs = (host.list(types) ?? []).reduce((n, t) => n + (host.list(`${types}/${t}/devices`) ?? []).length, 0);
  return { ...fn, driverOverride: details.driverOverride, bootVga: details.bootVga, driverModule: module, sriovVfs: details.sriov?.numVfs ?? 0, mdevs, reason };
}

export function assertDevicesExist(host: Host, addresses: readonly string[]): void {
  const missing = addresses.filter((a) => !host.exists(paths.pciDevice(a)));
  if (missing.length) {
    throw new GpuvirtError('E_NOT_FOUND', `no PCI device ${missing.join(', ')} on this host`, {
      exitCode: ExitCode.notFound,
      hint: 'see `gpuvirt list` for the devices this host has',
    });
  }
}

/** Functions taken along with `addr`: its whole slot, except SR-IOV VFs, which go alone. */
function slotFunctions(host: Host, all: readonly string[], addr: string): string[] {
  if (host.readLink(paths.pciAttr(addr, 'physfn')) !== null) return [addr];
  const slot = slotOf(addr);
  return all.filter((a) => slotOf(a) === slot && host.readLink(paths.pciAttr(a, 'physfn')) === null);
}

export function resolveSet(host: Host, requested: readonly string[]): PassSet {
  assertDevicesExist(host, requested);
  const all = listAddresses(host);
  const chosen = new Map<string, Member['reason']>();
  for (const addr of requested) chosen.set(addr, 'requested');
  for (const addr of requested) for (const fn of slotFunctions(host, all, addr)) if (!chosen.has(fn)) chosen.set(fn, 'slot');
  const members = [...chosen].map(([addr, reason]) => readMember(host, addr, reason));
  const groups = new Set(members.map((m) => m.iommuGroup).filter((g): g is number => g !== null));
  const groupPeers: Member[] = [];
  const bridges: string[] = [];
  for (const g of [...groups].sort((a, b) => a - b)) {
    for (const addr of groupMembers(host, g)) {
      if (chosen.has(addr)) continue;
      const peer = readMember(host, addr, 'group');
      // A device with a secondary bus (pci_bus/) is a bridge whatever its class says (as Proxmox tests).
      if (isBridgeClass(peer.classId) || host.exists(paths.pciAttr(addr, 'pci_bus'))) bridges.push(addr);
      else groupPeers.push(peer);
    }
  }
  return { members, groupPeers, bridges };
}
