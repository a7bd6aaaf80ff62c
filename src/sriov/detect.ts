// SR-IOV physical functions and their virtual functions as sysfs shows them
// (Documentation/PCI/pci-iov-howto.rst, sysfs-bus-pci sriov_*).
import { type Host, linkName, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { makeAddress, parseAddress } from '../pci/address.js';
import { intAttr, listAddresses, readFunction, readGroupOf, readIds, readSriov, readVirtfns, type PciFunction, type SriovInfo } from '../detect/pci.js';

export interface VfInfo {
  index: number;
  address: string;
  vendorId: string;
  deviceId: string;
  driver: string | null;
  iommuGroup: number | null;
}

export interface PfInfo extends PciFunction {
  sriov: SriovInfo;
  /** First VF Offset and VF Stride: where the VFs will appear. */
  offset: number | null;
  stride: number | null;
  vfs: VfInfo[];
  /** The module behind the PF driver, and whether it configures SR-IOV through sysfs. */
  driverModule: string | null;
}

/**
 * Address of VF `index`: the PF's routing ID plus First VF Offset plus index × VF Stride
 * (PCIe SR-IOV spec 3.3.10/3.3.11; drivers/pci/iov.c pci_iov_virtfn_bus/devfn).
 */
export function vfAddress(pf: string, offset: number, stride: number, index: number): string {
  const a = parseAddress(pf);
  const rid = (a.bus << 8) + (a.device << 3) + a.fn + offset + index * stride;
  return makeAddress(a.domain, (rid >> 8) & 0xff, (rid >> 3) & 0x1f, rid & 7).full;
}

export function readPf(host: Host, addr: string): PfInfo | null {
  const sriov = readSriov(host, addr);
  if (!sriov) return null;
  const fn = readFunction(host, addr);
  // Only what a VF shows here: a host with hundreds of VFs reads each of them.
  const vfs = readVirtfns(host, addr).map((vf, index) => ({
    index,
    address: vf,
    ...readIds(host, vf),
    driver: linkName(host, paths.pciAttr(vf, 'driver')),
    iommuGroup: readGroupOf(host, vf),
  }));
  const module = fn.driver ? (host.readLink(`${paths.pciDriver(fn.driver)}/module`) ?? '').split('/').pop() || null : null;
  return {
    ...fn,
    sriov,
    offset: intAttr(host, paths.pciAttr(addr, 'sriov_offset')),
    stride: intAttr(host, paths.pciAttr(addr, 'sriov_stride')),
    vfs,
    driverModule: module,
  };
}

/** Every SR-IOV capable PF on the host (devices with sriov_totalvfs), in address order. */
export function listPfs(host: Host): PfInfo[] {
  const pfs: PfInfo[] = [];
  for (const addr of listAddresses(host)) {
    // Most functions have none: asking costs a fraction of a failed read (which throws).
    if (!host.exists(paths.pciAttr(addr, 'sriov_totalvfs'))) continue;
    const pf = readPf(host, addr);
    if (pf) pfs.push(pf);
  }
  return pfs;
}
