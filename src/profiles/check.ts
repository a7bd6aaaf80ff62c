// The drift check: does the hardware still match what the profile recorded? The same idea as
// Proxmox's PCI mappings, which keep id, subsystem-id and iommugroup so a moved or replaced
// card is caught before a VM starts on the wrong device. Pure over an Inventory.
import type { Path } from './problems.js';
import { selectDevice, type ResolvedDevice } from './resolve.js';
import type { Inventory, InventoryFunction } from './inventory.js';
import type { Device, Profile, Selector } from './schema.js';

export interface DriftCheck {
  device: number;
  id: 'found' | 'ids' | 'subsystem' | 'group' | 'isolation' | 'functions' | 'vf-count' | 'mdev-type' | 'driver';
  status: 'pass' | 'warn' | 'fail' | 'skip';
  summary: string;
  /** What the profile says (null: it records nothing here), and what the host has (null: nothing). */
  expected: Value;
  actual: Value;
}

export type Value = string | number | null | (string | number | null)[];

const fnOf = (a: string) => Number(a.slice(a.lastIndexOf('.') + 1));
const slotOf = (a: string) => a.slice(0, a.lastIndexOf('.'));

function find(inv: Inventory, sel: Selector, at: Path, allowVf: boolean): { dev: InventoryFunction | null; why: string } {
  if (sel.address) {
    const dev = inv.functions.find((f) => f.address === sel.address) ?? null;
    return { dev, why: `no PCI device ${sel.address} on this host` };
  }
  // Lookup by ids/name only: the recorded group is compared below, not used to choose.
  const { device, problems } = selectDevice(inv, { ...sel, iommuGroup: undefined }, at, allowVf);
  return { dev: device, why: problems[0]?.message ?? 'not found' };
}

function identity(i: number, sel: Selector, dev: InventoryFunction): DriftCheck[] {
  const ids = `${dev.vendorId}:${dev.deviceId}`;
  const sub = `${dev.subsystemVendorId}:${dev.subsystemDeviceId}`;
  const out: DriftCheck[] = [];
  out.push(sel.id === undefined
    ? { device: i, id: 'ids', status: 'skip', summary: `ids not recorded in the profile (the device is ${ids})`, expected: null, actual: ids }
    : { device: i, id: 'ids', status: sel.id === ids ? 'pass' : 'fail', summary: sel.id === ids ? `${dev.address} is ${ids}` : `${dev.address} is ${ids}, the profile says ${sel.id}`, expected: sel.id, actual: ids });
  out.push(sel.subsystem === undefined
    ? { device: i, id: 'subsystem', status: 'skip', summary: `subsystem not recorded (the device has ${sub})`, expected: null, actual: sub }
    : { device: i, id: 'subsystem', status: sel.subsystem === sub ? 'pass' : 'fail', summary: sel.subsystem === sub ? `subsystem ${sub}` : `subsystem ${sub}, the profile says ${sel.subsystem}${sel.id === ids ? ': another card of the same model?' : ''}`, expected: sel.subsystem, actual: sub });
  out.push(sel.iommuGroup === undefined
    ? { device: i, id: 'group', status: 'skip', summary: `IOMMU group not recorded (the device is in ${dev.iommuGroup ?? 'none'})`, expected: null, actual: dev.iommuGroup }
    : { device: i, id: 'group', status: sel.iommuGroup === dev.iommuGroup ? 'pass' : 'fail', expected: sel.iommuGroup, actual: dev.iommuGroup,
        summary: sel.iommuGroup === dev.iommuGroup ? `IOMMU group ${dev.iommuGroup}` : `IOMMU group ${dev.iommuGroup ?? 'none'}, the profile says ${sel.iommuGroup}: firmware, BIOS settings or the slot changed` });
  return out;
}

function isolation(i: number, dev: InventoryFunction): DriftCheck {
  const c = { device: i, id: 'isolation' as const, expected: 'clean', actual: dev.isolation };
  if (dev.isolation === 'clean') return { ...c, status: 'pass', summary: `alone in IOMMU group ${dev.iommuGroup} (with its own slot's functions and bridges)` };
  if (dev.isolation === 'shared') return { ...c, status: 'fail', summary: `shares IOMMU group ${dev.iommuGroup} with ${dev.blockingPeers.join(', ')}` };
  return { ...c, status: 'fail', summary: 'no IOMMU group: no IOMMU is active' };
}

function vfCount(i: number, d: Extract<Device, { type: 'vf' }>, dev: InventoryFunction): DriftCheck {
  const s = dev.sriov;
  const c = { device: i, id: 'vf-count' as const, expected: d.vfCount, actual: s ? s.numVfs : null };
  if (!s) return { ...c, status: 'fail', summary: `${dev.address} has no SR-IOV capability` };
  if (d.vfCount > s.totalVfs) return { ...c, status: 'fail', summary: `${dev.address} offers at most ${s.totalVfs} VFs, the profile wants ${d.vfCount}` };
  // A different count is drift like any other: the VM's VF may not exist (`gpuvirt apply` sets it).
  return s.numVfs === d.vfCount ? { ...c, status: 'pass', summary: `${s.numVfs} VFs enabled` } : { ...c, status: 'fail', summary: `${s.numVfs} VFs enabled, the profile wants ${d.vfCount} (gpuvirt apply sets it)` };
}

function deviceChecks(inv: Inventory, d: Device, i: number): DriftCheck[] {
  const sel = d.type === 'gpu' ? d.select : d.type === 'vf' ? d.pf : d.parent;
  const at: Path = ['devices', i, d.type === 'gpu' ? 'select' : d.type === 'vf' ? 'pf' : 'parent'];
  const { dev, why } = find(inv, sel, at, d.type === 'mdev');
  const wanted = sel.address ?? sel.id ?? sel.name ?? null;
  if (!dev) return [{ device: i, id: 'found', status: 'fail', summary: why, expected: wanted, actual: null }];
  const out: DriftCheck[] = [{ device: i, id: 'found', status: 'pass', summary: `${dev.address} ${dev.name}`, expected: wanted, actual: dev.address }, ...identity(i, sel, dev)];
  if (d.type === 'gpu') {
    out.push(isolation(i, dev));
    if (Array.isArray(d.functions)) {
      const have = inv.functions.filter((f) => slotOf(f.address) === slotOf(dev.address) && f.physfn === null).map((f) => fnOf(f.address));
      const missing = d.functions.filter((n) => !have.includes(n));
      out.push({ device: i, id: 'functions', status: missing.length ? 'fail' : 'pass', summary: missing.length ? `no function ${missing.join(', ')} in ${slotOf(dev.address)}` : `functions ${d.functions.join(', ')} present`, expected: d.functions, actual: have });
    }
  } else if (d.type === 'vf') {
    out.push(vfCount(i, d, dev));
  } else {
    const types = dev.mdevTypes;
    const ok = types?.includes(d.mdevType) ?? false;
    out.push({ device: i, id: 'mdev-type', status: ok ? 'pass' : 'fail', summary: ok ? `offers ${d.mdevType}` : types === null ? `${dev.address} offers no mediated devices` : `${dev.address} does not offer ${d.mdevType} (it offers ${types.join(', ') || 'none'})`, expected: d.mdevType, actual: types });
  }
  return out;
}

function driverChecks(inv: Inventory, devices: readonly ResolvedDevice[]): DriftCheck[] {
  const out: DriftCheck[] = [];
  for (const d of devices) {
    if (d.kind !== 'pci') continue;
    const off = d.functions.map((f) => inv.functions.find((x) => x.address === f.address)).filter((f) => f && f.driver !== 'vfio-pci') as InventoryFunction[];
    const drivers = d.functions.map((f) => inv.functions.find((x) => x.address === f.address)?.driver ?? null);
    out.push(off.length
      ? { device: d.index, id: 'driver', status: 'warn', summary: `${off.map((f) => `${f.address} on ${f.driver ?? 'no driver'}`).join(', ')}: gpuvirt apply binds ${off.length > 1 ? 'them' : 'it'} to vfio-pci`, expected: 'vfio-pci', actual: drivers }
      : { device: d.index, id: 'driver', status: 'pass', summary: 'on vfio-pci', expected: 'vfio-pci', actual: drivers });
  }
  return out;
}

/** Every check for every device, in device order. */
export function driftChecks(profile: Profile, inv: Inventory, resolved: readonly ResolvedDevice[]): DriftCheck[] {
  const all = [...profile.devices.flatMap((d, i) => deviceChecks(inv, d, i)), ...driverChecks(inv, resolved)];
  return all.sort((a, b) => a.device - b.device);
}
