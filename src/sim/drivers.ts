// The driver core as the PCI bus runs it (drivers/base/bus.c, dd.c; drivers/pci/pci-driver.c,
// 6.1): matching, probing, and the bind/unbind/new_id/remove_id/drivers_probe/driver_override
// stores. Every function takes the tree and the sidecar state and throws KernelErrno.
import { paths } from '../host/paths.js';
import { GIM, gimBound, gimProbe, gimRemove } from './gim.js';
import { mdevParentBound, mdevParentUnbound } from './mdev.js';
import {
  consume, fail, type Hold, newDriverInfo, type PciId, PCI_ANY_ID, type SimErrno, type SimState,
} from './state.js';
import { idMatches, type SimTree, simPaths } from './tree.js';

export interface Kern {
  tree: SimTree;
  state: SimState;
}

/** Loaded drivers in registration order: the order the bus tries them in. */
export function loadedDrivers(k: Kern): string[] {
  const loaded = k.tree.host.list(paths.pciDrivers) ?? [];
  const known = Object.keys(k.state.drivers).filter((d) => loaded.includes(d));
  return [...known, ...loaded.filter((d) => !known.includes(d))];
}

/**
 * pci_match_device: an override admits only its driver; otherwise dynamic ids, then the static
 * table, which the simulation keeps as explicit ids plus each device's native claim.
 */
export function matches(k: Kern, addr: string, driver: string): boolean {
  const override = k.tree.override(addr);
  if (override !== null) return override === driver;
  if (k.state.native[addr] === driver) return true;
  const info = k.state.drivers[driver];
  if (!info) return false;
  const dev = k.tree.identity(addr);
  return info.dynamicIds.some((id) => idMatches(id, dev)) || info.ids.some((id) => idMatches(id, dev));
}

/** The driver's probe: null on success, else the errno it returns. */
function probe(k: Kern, addr: string, driver: string): SimErrno | null {
  const injected = consume(k.state.probeFailures, (r) => r.device === addr && r.driver === driver);
  if (injected) return injected.errno;
  const pf = k.tree.physfn(addr);
  // pci_device_can_probe: a VF of a PF with sriov_drivers_autoprobe=0 probes only through an override.
  if (pf !== null && k.tree.override(addr) === null && k.tree.int(paths.pciAttr(pf, 'sriov_drivers_autoprobe')) === 0) {
    return 'ENODEV';
  }
  if (driver === 'vfio-pci') {
    // vfio_pci_probe: only normal (type 0) headers, and vfio_iommu_group_get fails without a group.
    const cls = k.tree.identity(addr).class >> 8;
    if (cls === 0x0604 || cls === 0x0609 || cls === 0x0607) return 'EINVAL';
    if (k.tree.groupOf(addr) === null) return 'EINVAL';
  }
  if (driver === GIM) return gimProbe(k, addr);
  return null;
}

/** device_driver_attach: match already checked; probe, then link on success. */
export function attachDriver(k: Kern, addr: string, driver: string): SimErrno | null {
  if (k.tree.driverOf(addr) !== null) return 'EBUSY';
  const err = probe(k, addr, driver);
  if (err !== null) return err;
  k.tree.attach(addr, driver);
  if (driver === GIM) gimBound(k, addr);
  mdevParentBound(k, addr, k.tree.deviceDir(addr), driver);
  return null;
}

/** device_attach: the first loaded driver that matches and probes successfully. */
export function deviceAttach(k: Kern, addr: string): boolean {
  if (k.tree.driverOf(addr) !== null) return true;
  for (const driver of loadedDrivers(k)) {
    if (matches(k, addr, driver) && attachDriver(k, addr, driver) === null) return true;
  }
  return false;
}

/** driver_attach: every unbound device the driver matches (new_id, module load). */
export function driverAttach(k: Kern, driver: string): void {
  for (const addr of k.tree.devices()) {
    if (k.tree.driverOf(addr) === null && matches(k, addr, driver)) attachDriver(k, addr, driver);
  }
}

export function busAutoprobe(k: Kern): boolean {
  const raw = k.tree.host.readText(simPaths.busDriversAutoprobe);
  return raw === null || !raw.startsWith('0');
}

/** A device open through VFIO: release blocks until the user closes it (vfio_pci_core_unregister_device). */
export function waitForRelease(k: Kern, addrs: string[]): void {
  let delay = 0;
  for (const addr of addrs) {
    const hold: Hold | undefined = k.state.holds[addr];
    if (!hold) continue;
    if ('errno' in hold) fail(hold.errno);
    delay = Math.max(delay, hold.delayMs);
  }
  // A synchronous write(2) blocks the writer; so does this one.
  if (delay > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delay);
  for (const addr of addrs) delete k.state.holds[addr];
}

export function unbindDevice(k: Kern, addr: string): void {
  waitForRelease(k, [addr]);
  const driver = k.tree.driverOf(addr);
  if (driver === GIM) gimRemove(k, addr);
  if (driver !== null) mdevParentUnbound(k, addr, k.tree.deviceDir(addr), driver);
  k.tree.detach(addr);
}

export function writeBind(k: Kern, driver: string, value: string): void {
  const addr = k.tree.findDevice(value);
  if (addr === null || !matches(k, addr, driver)) fail('ENODEV');
  const err = attachDriver(k, addr, driver);
  if (err !== null) fail(err);
}

export function writeUnbind(k: Kern, driver: string, value: string): void {
  const addr = k.tree.findDevice(value);
  if (addr === null || k.tree.driverOf(addr) !== driver) fail('ENODEV');
  unbindDevice(k, addr);
}

export function writeDriversProbe(k: Kern, value: string): void {
  const addr = k.tree.findDevice(value);
  if (addr === null) fail('ENODEV');
  // bus_rescan_devices_helper ignores what device_attach found: a failed probe is still success.
  deviceAttach(k, addr);
}

/** sscanf(buf, "%x %x ...") as new_id/remove_id parse: the count of leading hex fields. */
export function scanHex(value: string, max: number): number[] {
  const out: number[] = [];
  for (const token of value.trim().split(/\s+/)) {
    if (out.length === max) break;
    const m = /^(?:0x)?([0-9a-f]+)/i.exec(token);
    if (!m) break;
    out.push(parseInt(m[1]!, 16) >>> 0);
    if (m[0].length < token.length) break;
  }
  return out;
}

export function writeNewId(k: Kern, driver: string, value: string): void {
  const f = scanHex(value, 7);
  if (f.length < 2) fail('EINVAL');
  const info = (k.state.drivers[driver] ??= newDriverInfo(driver));
  const id: PciId = {
    vendor: f[0]!, device: f[1]!, subvendor: f[2] ?? PCI_ANY_ID, subdevice: f[3] ?? PCI_ANY_ID,
    class: f[4] ?? 0, classMask: f[5] ?? 0,
  };
  if (f.length !== 7) {
    const probeDev = { vendor: id.vendor, device: id.device, subvendor: PCI_ANY_ID, subdevice: PCI_ANY_ID, class: 0 };
    if ([...info.dynamicIds, ...info.ids].some((d) => idMatches(d, probeDev))) fail('EEXIST');
  }
  info.dynamicIds.push(id);
  driverAttach(k, driver);
}

export function writeRemoveId(k: Kern, driver: string, value: string): void {
  const f = scanHex(value, 6);
  if (f.length < 2) fail('EINVAL');
  const info = k.state.drivers[driver];
  const [vendor, device, subvendor = PCI_ANY_ID, subdevice = PCI_ANY_ID, cls = 0, mask = 0] = f;
  const i = (info?.dynamicIds ?? []).findIndex(
    (d) => d.vendor === vendor && d.device === device && (subvendor === PCI_ANY_ID || d.subvendor === subvendor) &&
      (subdevice === PCI_ANY_ID || d.subdevice === subdevice) && ((d.class ^ cls) & mask) === 0,
  );
  if (i < 0 || !info) fail('ENODEV');
  info.dynamicIds.splice(i, 1);
}

/** driver_set_override (drivers/base/driver.c): one name, cut at the first newline; "\n" clears. */
export function writeDriverOverride(k: Kern, addr: string, value: string): void {
  if (Buffer.byteLength(value) >= 4096 - 1) fail('EINVAL');
  const nul = value.indexOf('\0');
  const s = nul < 0 ? value : value.slice(0, nul);
  const nl = s.indexOf('\n');
  const name = nl < 0 ? s : s.slice(0, nl);
  k.tree.rewrite(paths.pciAttr(addr, 'driver_override'), name === '' ? '(null)\n' : `${name}\n`);
}

/** bus drivers_autoprobe (drivers/base/bus.c): '0' first disables, anything else enables. */
export function writeBusAutoprobe(k: Kern, value: string): void {
  k.tree.rewrite(simPaths.busDriversAutoprobe, value.startsWith('0') ? '0\n' : '1\n');
}
