// Low-level edits of a simulated sysfs tree, laid out as the kernel lays it out: device
// directories under sys/devices/pci0000:00/..., relative links from sys/bus/pci/devices,
// the driver directory and the IOMMU group to the device and back.
import type * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { FsHost } from '../host/fs-host.js';
import { linkName, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { hexAttr, listAddresses, readGroupOf } from '../detect/pci.js';
import { type PciId, PCI_ANY_ID, readOverride } from './state.js';

/** Host paths paths.ts does not spell out; the simulation creates or removes these. */
export const simPaths = {
  sysfs: '/sys',
  procfs: '/proc',
  /** Where the kernel puts every device's real directory. */
  sysDevices: '/sys/devices',
  busDriversAutoprobe: '/sys/bus/pci/drivers_autoprobe',
  sysModules: '/sys/module',
  iommuGroup: (group: number) => `/sys/kernel/iommu_groups/${group}`,
  devVfioContainer: '/dev/vfio/vfio',
  moduleDriverLink: (module: string, driver: string) => `/sys/module/${module}/drivers/pci:${driver}`,
};

/** True when `path` is `root` or lies below it. */
export function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

/** What pci_match_one_device compares. */
export interface DeviceIdentity {
  vendor: number;
  device: number;
  subvendor: number;
  subdevice: number;
  class: number;
}

export function idMatches(id: PciId, dev: DeviceIdentity): boolean {
  const eq = (want: number, have: number) => want === PCI_ANY_ID || want === have;
  return (
    eq(id.vendor, dev.vendor) && eq(id.device, dev.device) && eq(id.subvendor, dev.subvendor) &&
    eq(id.subdevice, dev.subdevice) && ((id.class ^ dev.class) & id.classMask) === 0
  );
}

export class SimTree {
  readonly host: FsHost;
  constructor(readonly root: string) {
    this.host = new FsHost(root, { cache: false }); // the tree changes as the kernel runs
  }

  /** The host path with every symlink resolved, or null when it is missing or leaves the root. */
  canonical(path: string): string | null {
    try {
      const comps = this.host.jail.resolveComps(path);
      return this.host.statFollow(`/${comps.join('/')}`) === null ? null : `/${comps.join('/')}`;
    } catch {
      return null;
    }
  }

  /** stat(2), links followed inside the root; null when absent or outside. */
  stat(path: string): fs.Stats | null {
    try {
      return this.host.statFollow(path);
    } catch {
      return null;
    }
  }

  devices(): string[] {
    return listAddresses(this.host);
  }

  /** bus_find_device_by_name: the written name, compared with sysfs_streq. */
  findDevice(value: string): string | null {
    const name = value.endsWith('\n') ? value.slice(0, -1) : value;
    return this.devices().includes(name) ? name : null;
  }

  deviceDir(addr: string): string {
    const dir = this.canonical(paths.pciDevice(addr));
    if (dir === null) throw new Error(`sim-kernel: no device directory for ${addr}`);
    return dir;
  }

  driverOf(addr: string): string | null {
    return linkName(this.host, paths.pciAttr(addr, 'driver'));
  }

  override(addr: string): string | null {
    return readOverride(this.host, addr);
  }

  groupOf(addr: string): number | null {
    return readGroupOf(this.host, addr);
  }

  physfn(addr: string): string | null {
    return linkName(this.host, paths.pciAttr(addr, 'physfn'));
  }

  isLoaded(driver: string): boolean {
    return this.host.isDirectory(paths.pciDriver(driver));
  }

  identity(addr: string): DeviceIdentity {
    const num = (attr: string, width: number) => {
      const hex = hexAttr(this.host, addr, attr, width);
      return hex === null ? PCI_ANY_ID : parseInt(hex, 16);
    };
    return {
      vendor: num('vendor', 4), device: num('device', 4), subvendor: num('subsystem_vendor', 4),
      subdevice: num('subsystem_device', 4), class: num('class', 6),
    };
  }

  int(path: string): number {
    const raw = readAttr(this.host, path);
    return raw !== null && /^\d+$/.test(raw) ? Number(raw) : 0;
  }

  /** Creates or replaces a regular file with exactly this mode (umask does not apply). */
  put(path: string, content: string, mode = 0o644): void {
    this.host.putFile(path, content, mode);
  }

  /** Replaces a file's content and keeps its mode. */
  rewrite(path: string, content: string): void {
    this.put(path, content, (this.stat(path)?.mode ?? 0o644) & 0o7777);
  }

  /** A symlink whose target is relative, as the kernel's are. */
  link(path: string, target: string): void {
    this.host.symlink(path, nodePath.relative(nodePath.dirname(path), target));
  }

  remove(path: string): void {
    this.host.removeTree(path);
  }

  mkdir(path: string): void {
    this.host.mkdirp(path);
  }

  /** The driver core's side of a successful probe: the two links, and VFIO's group node. */
  attach(addr: string, driver: string): void {
    const dir = this.deviceDir(addr);
    this.link(`${dir}/driver`, paths.pciDriver(driver));
    this.link(`${paths.pciDriver(driver)}/${addr}`, dir);
    const group = this.groupOf(addr);
    if (driver === 'vfio-pci' && group !== null && !this.host.exists(paths.devVfioGroup(group))) {
      this.put(paths.devVfioGroup(group), '', 0o600);
    }
  }

  detach(addr: string): void {
    const driver = this.driverOf(addr);
    if (driver === null) return;
    this.remove(`${this.deviceDir(addr)}/driver`);
    this.remove(`${paths.pciDriver(driver)}/${addr}`);
    const group = this.groupOf(addr);
    if (driver === 'vfio-pci' && group !== null && !this.vfioHoldsGroup(group)) {
      this.remove(paths.devVfioGroup(group));
    }
  }

  /** VFIO keeps /dev/vfio/<group> while any member of the group is bound to vfio-pci. */
  vfioHoldsGroup(group: number): boolean {
    const members = this.host.list(paths.iommuGroupDevices(group)) ?? [];
    return members.some((m) => this.driverOf(m) === 'vfio-pci');
  }

  /** iommu_group_alloc takes the lowest free id (ida_alloc). */
  freeGroup(): number {
    const used = new Set((this.host.list(paths.iommuGroups) ?? []).map(Number));
    let n = 0;
    while (used.has(n)) n++;
    return n;
  }
}
