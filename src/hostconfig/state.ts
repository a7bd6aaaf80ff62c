// A host config against this host: which devices each selector names, and what they are now
// (driver, VF count, the VFs' drivers). Reads through the Host only; the diff is computed from
// this plain value (diff.ts).
import type { Host } from '../host/host.js';
import { isGpuClass, listAddresses, readDetails, readFunction, type PciFunction } from '../detect/pci.js';
import { readPf, vfAddress } from '../sriov/detect.js';
import type { PciNames } from '../pci/names.js';
import type { HostConfig, HostSelector } from './schema.js';

export interface Want {
  driver?: 'vfio-pci' | 'pci-stub';
  sriov?: { vfs: number; vfDriver?: 'vfio-pci' };
  resetMethod?: 'device_specific';
  /** vGPU types (an id or a name, as written) and how many of each. */
  vgpu?: { type: string; count: number }[];
}

export interface DeviceNow {
  address: string;
  name: string;
  vendorId: string;
  deviceId: string;
  driver: string | null;
  /** reset_method's list, in the order the kernel tries them ([] when it has none). */
  resetMethods: string[];
  /** SR-IOV PF facts; null when the device cannot make VFs. */
  sriov: { numVfs: number; totalVfs: number; vfs: { address: string; driver: string | null }[] } | null;
}

export interface SelectedDevice {
  /** Index of the entry in the config's devices. */
  entry: number;
  want: Want;
  now: DeviceNow;
}

export interface Selection {
  devices: SelectedDevice[];
  /** Selectors that name no device, or devices two entries want differently. */
  problems: string[];
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

function matches(f: PciFunction, name: string, sel: HostSelector): boolean {
  if (sel.all && !sel.id && !sel.name && !isGpuClass(f.classId)) return false;
  if (sel.id) {
    const [v, d, sv, sd] = sel.id.split(':');
    if (f.vendorId !== v || f.deviceId !== d) return false;
    if (sv && (f.subsystemVendorId !== sv || f.subsystemDeviceId !== sd)) return false;
  }
  return !sel.name || globToRegExp(sel.name).test(name);
}

export const selectorText = (s: HostSelector): string =>
  [s.address && `address "${s.address}"`, s.id && `id ${s.id}`, s.name && `name "${s.name}"`, s.all && 'all', s.index !== undefined && `index ${s.index}`].filter(Boolean).join(', ');

export function readDevice(host: Host, names: PciNames, fn: PciFunction): DeviceNow {
  const pf = readPf(host, fn.address);
  return {
    address: fn.address, name: names.name(fn.vendorId, fn.deviceId), vendorId: fn.vendorId, deviceId: fn.deviceId, driver: fn.driver,
    resetMethods: readDetails(host, fn.address).resetMethods,
    sriov: pf ? { numVfs: pf.sriov.numVfs, totalVfs: pf.sriov.totalVfs, vfs: pf.vfs.map((v) => ({ address: v.address, driver: v.driver })) } : null,
  };
}

/** Resolves every selector of the config; a VF is only ever named by its address (VFs come and go). */
export function selectDevices(host: Host, names: PciNames, config: HostConfig): Selection {
  const functions = listAddresses(host).map((a) => readFunction(host, a));
  const problems: string[] = [];
  const byAddress = new Map<string, SelectedDevice>();
  config.devices.forEach((d, entry) => {
    const want: Want = { ...(d.driver && { driver: d.driver }), ...(d.sriov && { sriov: d.sriov }), ...(d.resetMethod && { resetMethod: d.resetMethod }), ...(d.vgpu && { vgpu: d.vgpu.map((v) => ({ type: String(v.type), count: v.count })) }) };
    let found: PciFunction[];
    if (d.select.address) found = functions.filter((f) => f.address === d.select.address);
    else {
      found = functions.filter((f) => f.physfn === null && matches(f, names.name(f.vendorId, f.deviceId), d.select));
      if (d.select.index !== undefined) found = found[d.select.index] ? [found[d.select.index]!] : [];
    }
    if (!found.length) problems.push(`devices[${entry}]: no device on this host matches ${selectorText(d.select)}`);
    for (const f of found) {
      const known = byAddress.get(f.address);
      if (known && JSON.stringify(known.want) !== JSON.stringify(want)) {
        problems.push(`devices[${entry}]: ${f.address} is also selected by devices[${known.entry}], which wants something else`);
        continue;
      }
      if (!known) byAddress.set(f.address, { entry, want, now: readDevice(host, names, f) });
    }
  });
  const devices = [...byAddress.values()].sort((a, b) => a.now.address.localeCompare(b.now.address));
  return { devices, problems };
}

/**
 * The VFs the selected PFs will have once their VF count is as wanted, by address, with their
 * PF: a VF named by its address may not exist before the apply that makes it. Only PFs that say
 * where their VFs go (First VF Offset, VF Stride).
 */
export function futureVfs(host: Host, devices: readonly SelectedDevice[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const d of devices) {
    if (!d.want.sriov) continue;
    const pf = readPf(host, d.now.address);
    if (pf?.offset === null || pf?.offset === undefined || pf.stride === null) continue;
    for (let i = 0; i < d.want.sriov.vfs; i++) out.set(vfAddress(pf.address, pf.offset, pf.stride, i), pf.address);
  }
  return out;
}

