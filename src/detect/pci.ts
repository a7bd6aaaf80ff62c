// PCI functions as sysfs shows them (Documentation/ABI/testing/sysfs-bus-pci). Reads are
// synchronous and per attribute, so a caller asks only for what it will show: the class
// of every device is cheap, the details (reset methods, SR-IOV) are read for the few that matter.
import { type Host, linkName, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { isFullAddress } from '../pci/address.js';

export interface PciFunction {
  address: string;
  vendorId: string;
  deviceId: string;
  subsystemVendorId: string | null;
  subsystemDeviceId: string | null;
  /** 24-bit class code as 6 lowercase hex digits, e.g. `030000`. */
  classId: string;
  driver: string | null;
  iommuGroup: number | null;
  /** The PF's address when this function is an SR-IOV virtual function. */
  physfn: string | null;
}

export interface SriovInfo {
  totalVfs: number;
  numVfs: number;
  vfDeviceId: string | null;
  driversAutoprobe: boolean | null;
}

export interface PciDetails {
  /** null when the attribute is absent (only VGA-class devices have boot_vga). */
  bootVga: boolean | null;
  /** Enabled reset methods in kernel order; [] when the device has none. */
  resetMethods: string[];
  sriov: SriovInfo | null;
  driverOverride: string | null;
}

/** `0x10de` → `10de`; null when absent or malformed. */
export function hexAttr(host: Host, addr: string, attr: string, width: number): string | null {
  const raw = readAttr(host, paths.pciAttr(addr, attr));
  if (raw === null) return null;
  const m = /^(?:0x)?([0-9a-fA-F]+)$/.exec(raw);
  return m ? m[1]!.toLowerCase().padStart(width, '0').slice(-width) : null;
}

export function intAttr(host: Host, path: string): number | null {
  const raw = readAttr(host, path);
  if (raw === null || !/^-?\d+$/.test(raw)) return null;
  return Number(raw);
}

/** Every PCI function address under sys/bus/pci/devices, in lspci order. */
export function listAddresses(host: Host): string[] {
  return (host.list(paths.pciDevices) ?? []).filter(isFullAddress);
}

export function readClass(host: Host, addr: string): string {
  return hexAttr(host, addr, 'class', 6) ?? '000000';
}

export function readGroupOf(host: Host, addr: string): number | null {
  const name = linkName(host, paths.pciAttr(addr, 'iommu_group'));
  return name !== null && /^\d+$/.test(name) ? Number(name) : null;
}

/** How each fact of a function is read: readFunction reads them all, a lazy reader (profiles/inventory.ts) one when asked. */
export const FUNCTION_FACTS: { [K in Exclude<keyof PciFunction, 'address'>]: (host: Host, addr: string) => PciFunction[K] } = {
  vendorId: (host, addr) => hexAttr(host, addr, 'vendor', 4) ?? 'ffff',
  deviceId: (host, addr) => hexAttr(host, addr, 'device', 4) ?? 'ffff',
  subsystemVendorId: (host, addr) => hexAttr(host, addr, 'subsystem_vendor', 4),
  subsystemDeviceId: (host, addr) => hexAttr(host, addr, 'subsystem_device', 4),
  classId: readClass,
  driver: (host, addr) => linkName(host, paths.pciAttr(addr, 'driver')),
  iommuGroup: readGroupOf,
  physfn: (host, addr) => linkName(host, paths.pciAttr(addr, 'physfn')),
};

type Ids = Pick<PciFunction, 'vendorId' | 'deviceId' | 'subsystemVendorId' | 'subsystemDeviceId' | 'classId'>;

const UEVENT_CLASS = /^PCI_CLASS=([0-9A-Fa-f]{1,6})$/m;
const UEVENT_ID = /^PCI_ID=([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})$/m;
const UEVENT_SUBSYS = /^PCI_SUBSYS_ID=([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})$/m;

/**
 * A function's ids from its `uevent`, where the kernel prints the very fields the vendor,
 * device, subsystem_vendor, subsystem_device and class attributes show (pci_uevent in
 * drivers/pci/pci-driver.c: PCI_CLASS=%04X, PCI_ID=%04X:%04X, PCI_SUBSYS_ID=%04X:%04X):
 * one read instead of five. null when it lacks one of them (a snapshot, which does not keep
 * uevent, a tree that writes them separately): the attributes are then read one by one.
 */
function ueventIds(host: Host, addr: string): Ids | null {
  const text = readAttr(host, paths.pciAttr(addr, 'uevent'));
  if (text === null) return null;
  const cls = UEVENT_CLASS.exec(text);
  const id = UEVENT_ID.exec(text);
  const sub = UEVENT_SUBSYS.exec(text);
  if (!cls || !id || !sub) return null;
  return {
    vendorId: id[1]!.toLowerCase(),
    deviceId: id[2]!.toLowerCase(),
    subsystemVendorId: sub[1]!.toLowerCase(),
    subsystemDeviceId: sub[2]!.toLowerCase(),
    classId: cls[1]!.toLowerCase().padStart(6, '0'),
  };
}

/** A function's vendor and device ids: from its uevent (one read), else its two attributes. */
export function readIds(host: Host, addr: string): { vendorId: string; deviceId: string } {
  const ids = ueventIds(host, addr);
  if (ids) return { vendorId: ids.vendorId, deviceId: ids.deviceId };
  return { vendorId: FUNCTION_FACTS.vendorId(host, addr), deviceId: FUNCTION_FACTS.deviceId(host, addr) };
}

/** A function's five ids, as readFunction reads them: from its uevent, else attribute by attribute. */
export function readFunctionIds(host: Host, addr: string): Ids {
  return ueventIds(host, addr) ?? attrIds(host, addr, undefined);
}

/** The ids, attribute by attribute. */
function attrIds(host: Host, addr: string, classId: string | undefined): Ids {
  const F = FUNCTION_FACTS;
  return {
    vendorId: F.vendorId(host, addr),
    deviceId: F.deviceId(host, addr),
    subsystemVendorId: F.subsystemVendorId(host, addr),
    subsystemDeviceId: F.subsystemDeviceId(host, addr),
    classId: classId ?? F.classId(host, addr),
  };
}

/**
 * A function as sysfs shows it; `classId` when the caller read the class already (it is kept).
 * `uevent: false` reads the attributes alone (a snapshot captures those, and reads no uevent).
 */
export function readFunction(host: Host, addr: string, classId?: string, opts: { uevent?: boolean } = {}): PciFunction {
  const fromUevent = opts.uevent === false ? null : ueventIds(host, addr);
  const ids = fromUevent ? { ...fromUevent, classId: classId ?? fromUevent.classId } : attrIds(host, addr, classId);
  return {
    address: addr,
    vendorId: ids.vendorId,
    deviceId: ids.deviceId,
    subsystemVendorId: ids.subsystemVendorId,
    subsystemDeviceId: ids.subsystemDeviceId,
    classId: ids.classId,
    driver: FUNCTION_FACTS.driver(host, addr),
    iommuGroup: FUNCTION_FACTS.iommuGroup(host, addr),
    physfn: FUNCTION_FACTS.physfn(host, addr),
  };
}

// Most functions lack boot_vga and sriov_totalvfs. Asking whether such a file exists costs a
// fraction of a failed open (which throws), and that adds up over hundreds of VFs.

export function readSriov(host: Host, addr: string): SriovInfo | null {
  const total = paths.pciAttr(addr, 'sriov_totalvfs');
  const totalVfs = host.exists(total) ? intAttr(host, total) : null;
  if (totalVfs === null) return null;
  const autoprobe = readAttr(host, paths.pciAttr(addr, 'sriov_drivers_autoprobe'));
  return {
    totalVfs,
    numVfs: intAttr(host, paths.pciAttr(addr, 'sriov_numvfs')) ?? 0,
    vfDeviceId: hexAttr(host, addr, 'sriov_vf_device', 4),
    driversAutoprobe: autoprobe === null ? null : autoprobe === '1',
  };
}

export function readDetails(host: Host, addr: string): PciDetails {
  const vga = paths.pciAttr(addr, 'boot_vga');
  const bootVga = host.exists(vga) ? readAttr(host, vga) : null;
  const reset = readAttr(host, paths.pciAttr(addr, 'reset_method'));
  const override = readAttr(host, paths.pciAttr(addr, 'driver_override'));
  return {
    bootVga: bootVga === null ? null : bootVga === '1',
    resetMethods: reset ? reset.split(/\s+/) : [],
    sriov: readSriov(host, addr),
    driverOverride: override === null || override === '' || override === '(null)' ? null : override,
  };
}

/** Addresses of the VFs a PF has enabled, from its virtfnN links. */
export function readVirtfns(host: Host, addr: string): string[] {
  const entries = host.list(paths.pciDevice(addr)) ?? [];
  return entries
    .filter((e) => /^virtfn\d+$/.test(e))
    .sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)))
    .map((e) => linkName(host, paths.pciAttr(addr, e)))
    .filter((a): a is string => a !== null);
}

/** Display controllers (0x03) and processing accelerators (0x12): what gpuvirt calls a GPU. */
export function isGpuClass(classId: string): boolean {
  return classId.startsWith('03') || classId.startsWith('12');
}

/** Host/PCI, PCI-to-PCI and PCI-to-PCI semi-transparent bridges, which stay with their driver. */
export function isBridgeClass(classId: string): boolean {
  const sub = classId.slice(0, 4);
  return sub === '0600' || sub === '0604' || sub === '0609';
}

/** Domain:bus:device of a full address: functions of one slot share it. */
export function slotOf(addr: string): string {
  return addr.slice(0, addr.lastIndexOf('.'));
}
