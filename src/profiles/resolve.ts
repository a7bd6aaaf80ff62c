// From a profile's selectors to concrete host devices: which functions each device passes,
// where its VF is, which mdev instance it uses. Pure over an Inventory (resolved against a
// host) or over the profile alone (--offline: explicit addresses only). Problems carry the
// profile path they are about, so they print with the profile's line numbers.
import { notFound, problem, type Path, type Problem } from './problems.js';
import { hostFit } from './host-fit.js';
import { legalVfCounts } from '../sharing/families.js';
import type { Device, GpuDevice, MdevDevice, Profile, Selector, VfDevice } from './schema.js';
import type { Inventory, InventoryFunction } from './inventory.js';
import { nameUuid } from '../mdev/uuid.js';

export interface ResolvedFunction {
  address: string;
  /** Host function number (0-7). */
  fn: number;
  vendorId: string | null;
  deviceId: string | null;
  subsystem: string | null;
  classId: string | null;
  iommuGroup: number | null;
  /** Read from the host (null fields are then absent on the device), not taken from the profile. */
  fromHost: boolean;
}

export interface ResolvedPci {
  kind: 'pci';
  /** Index in profile.devices. */
  index: number;
  source: 'gpu' | 'vf';
  /** Domain:bus:device of the host slot. */
  slot: string;
  /** Passed functions, function 0 (or the VF) first. */
  functions: ResolvedFunction[];
  /** Every function of the slot is passed (Proxmox then omits the function). */
  wholeSlot: boolean;
  primary: boolean;
  xVga: boolean;
  pcie: boolean;
  rom: { file?: string; bar: boolean } | null;
  /**
   * For a VF: its PF, and every VF that may be used: with `vf: any` all of the PF's VFs (a
   * Proxmox mapping lists each as an alternative), else the chosen one.
   */
  pf: string | null;
  alternatives: ResolvedFunction[];
}

export interface ResolvedMdev {
  kind: 'mdev';
  index: number;
  parent: ResolvedFunction;
  mdevType: string;
  uuid: string;
  display: boolean;
  pcie: boolean;
}

export type ResolvedDevice = ResolvedPci | ResolvedMdev;

export interface Resolution {
  devices: ResolvedDevice[];
  problems: Problem[];
}

export interface ResolveOptions {
  /** Offline: the functions of a slot cannot be listed; false where only the slot matters (Proxmox). */
  needFunctions: boolean;
}

/** A stable instance UUID for an mdev without one: name-based (RFC 4122 version 5 layout) from the profile name. */
export function derivedUuid(profileName: string, index: number): string {
  return nameUuid(`gpuvirt/v1 mdev ${profileName} ${index}`);
}

const fnOf = (addr: string) => Number(addr.slice(addr.lastIndexOf('.') + 1));
const slotOf = (addr: string) => addr.slice(0, addr.lastIndexOf('.'));

function globToRegExp(glob: string): RegExp {
  if (!/[*?]/.test(glob)) return new RegExp(`\\b${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&')}\\b`, 'i');
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

function fromInventory(f: InventoryFunction): ResolvedFunction {
  return { address: f.address, fn: fnOf(f.address), vendorId: f.vendorId, deviceId: f.deviceId,
    subsystem: f.subsystemVendorId && f.subsystemDeviceId ? `${f.subsystemVendorId}:${f.subsystemDeviceId}` : null, classId: f.classId, iommuGroup: f.iommuGroup, fromHost: true };
}

function offlineFunction(address: string, sel?: Selector): ResolvedFunction {
  const [vendorId, deviceId] = sel?.id ? sel.id.split(':') : [null, null];
  const classId = sel?.class ? sel.class.padEnd(6, '0').toLowerCase() : null;
  return { address, fn: fnOf(address), vendorId: vendorId ?? null, deviceId: deviceId ?? null, subsystem: sel?.subsystem ?? null, classId, iommuGroup: sel?.iommuGroup ?? null, fromHost: false };
}

const describe = (s: Selector) => [s.address, s.id && `id ${s.id}`, s.subsystem && `subsystem ${s.subsystem}`, s.name && `name "${s.name}"`].filter(Boolean).join(', ');

/** The one device a selector names, or a problem saying why there is not exactly one. */
export function selectDevice(inv: Inventory, sel: Selector, at: Path, allowVf: boolean): { device: InventoryFunction | null; problems: Problem[] } {
  const out: Problem[] = [];
  let device: InventoryFunction | undefined;
  if (sel.address) {
    device = inv.functions.find((f) => f.address === sel.address);
    if (!device) return { device: null, problems: [notFound([...at, 'address'], `no PCI device ${sel.address} on this host`)] };
    if (sel.id && `${device.vendorId}:${device.deviceId}` !== sel.id) out.push(problem('error', [...at, 'id'], `${sel.address} is ${device.vendorId}:${device.deviceId}, not ${sel.id}: the hardware changed`));
    if (sel.name && !globToRegExp(sel.name).test(device.name)) out.push(problem('error', [...at, 'name'], `${sel.address} is "${device.name}", which does not match "${sel.name}"`));
  } else {
    const re = sel.name ? globToRegExp(sel.name) : null;
    const matches = inv.functions.filter((f) =>
      (allowVf || f.physfn === null) &&
      (!sel.id || `${f.vendorId}:${f.deviceId}` === sel.id) &&
      (!sel.subsystem || `${f.subsystemVendorId}:${f.subsystemDeviceId}` === sel.subsystem) &&
      (!re || re.test(f.name)));
    if (!matches.length) return { device: null, problems: [notFound(at, `no device on this host matches ${describe(sel)}`)] };
    if (sel.index === undefined && matches.length > 1) {
      return { device: null, problems: [problem('error', at, `${matches.length} devices match ${describe(sel)} (${matches.map((m) => m.address).join(', ')}): add index: 0 to ${matches.length - 1}, or give the address`)] };
    }
    const i = sel.index ?? 0;
    device = matches[i];
    if (!device) return { device: null, problems: [notFound([...at, 'index'], `index ${i}, but only ${matches.length} device(s) match ${describe(sel)}`)] };
  }
  if (sel.address && sel.subsystem && `${device.subsystemVendorId}:${device.subsystemDeviceId}` !== sel.subsystem) {
    out.push(problem('error', [...at, 'subsystem'], `${device.address} has subsystem ${device.subsystemVendorId}:${device.subsystemDeviceId}, not ${sel.subsystem}: another card of the same model?`));
  }
  if (sel.iommuGroup !== undefined && device.iommuGroup !== sel.iommuGroup) {
    out.push(problem('error', [...at, 'iommuGroup'], `${device.address} is in IOMMU group ${device.iommuGroup ?? 'none'}, not ${sel.iommuGroup}: the firmware, a BIOS setting or the slot changed`));
  }
  return { device, problems: out };
}

function hostWarnings(dev: InventoryFunction, at: Path): Problem[] {
  const out: Problem[] = [];
  if (dev.iommuGroup === null) out.push(problem('warning', at, `${dev.address} has no IOMMU group: no IOMMU is active, so VFIO cannot pass it (see gpuvirt doctor)`));
  if (dev.isolation === 'shared') out.push(problem('warning', at, `${dev.address} shares IOMMU group ${dev.iommuGroup} with ${dev.blockingPeers.join(', ')}: they would have to leave the host too`));
  return out;
}

interface Ctx {
  profile: Profile;
  inv: Inventory | null;
  opts: ResolveOptions;
  problems: Problem[];
}

function resolveGpu(c: Ctx, d: GpuDevice, index: number): ResolvedPci | null {
  const at: Path = ['devices', index];
  const base = { kind: 'pci' as const, index, source: 'gpu' as const, primary: d.primary, pcie: d.pcie ?? c.profile.machine === 'q35', rom: d.rom ?? null, pf: null, alternatives: [] };
  const listed = Array.isArray(d.functions) ? [...d.functions].sort((a, b) => a - b) : null;
  const xVgaDefault = d.primary && c.profile.firmware === 'bios';
  if (!c.inv) {
    if (!d.select.address) return void c.problems.push(problem('error', [...at, 'select'], 'with --offline, give select.address: gpuvirt does not look at the host')), null;
    if (!listed && c.opts.needFunctions) {
      return void c.problems.push(problem('error', [...at, 'functions'], 'with --offline, list the functions to pass (e.g. [0, 1]): gpuvirt does not look at the slot')), null;
    }
    const named = d.select.address;
    const slot = slotOf(named);
    const fns = (listed ?? [fnOf(named)]).map((n) => offlineFunction(`${slot}.${n}`, n === fnOf(named) ? d.select : undefined));
    // QEMU refuses x-vga on a function that is not VGA class (no VFIO VGA region): offline the
    // class is only known when the profile states it.
    const vga = fns[0]!.classId === '030000';
    if (d.xVga && !vga) {
      c.problems.push(problem('error', [...at, 'xVga'], `with --offline, x-vga needs select.class: "0300" (QEMU refuses x-vga on a function that is not a VGA controller)`));
    } else if (xVgaDefault && d.xVga === undefined && !vga) {
      c.problems.push(problem('warning', [...at, 'primary'], 'with --offline, x-vga is left out: give select.class: "0300" if this is a VGA controller'));
    }
    return { ...base, slot, functions: fns, wholeSlot: !listed, xVga: (d.xVga ?? xVgaDefault) && vga };
  }
  const { device, problems } = selectDevice(c.inv, d.select, [...at, 'select'], false);
  c.problems.push(...problems);
  if (!device) return null;
  const slot = slotOf(device.address);
  const inSlot = c.inv.functions.filter((f) => slotOf(f.address) === slot && f.physfn === null).sort((a, b) => fnOf(a.address) - fnOf(b.address));
  let fns = inSlot;
  if (listed) {
    const missing = listed.filter((n) => !inSlot.some((f) => fnOf(f.address) === n));
    if (missing.length) c.problems.push(problem('error', [...at, 'functions'], `${slot} has no function ${missing.join(', ')} (it has ${inSlot.map((f) => fnOf(f.address)).join(', ')})`));
    fns = inSlot.filter((f) => listed.includes(fnOf(f.address)));
  }
  if (!device.classId.startsWith('03') && !device.classId.startsWith('12')) c.problems.push(problem('warning', [...at, 'select'], `${device.address} is not a GPU (class ${device.classId})`));
  if (d.xVga && device.classId !== '030000') c.problems.push(problem('error', [...at, 'xVga'], `${device.address} is not a VGA controller (class ${device.classId}): it has no legacy VGA to route`));
  if (device.bootVga) c.problems.push(problem('warning', [...at, 'select'], `${device.address} is the boot GPU: the host loses its console while the VM runs`));
  // The kernel hands VFIO the boot display's ROM from the shadow copy at 0xc0000, which the host
  // firmware has run already: a VM's firmware running it again may set up no display at all.
  if (device.bootVga && d.primary && !d.rom?.file) {
    c.problems.push(problem('warning', [...at, 'rom'], `${device.address} is the boot GPU: its ROM as the kernel offers it is the copy the host firmware already ran, which may not set up the screen again; give rom.file, a dump of the card's ROM made while it is not the boot display`));
  }
  c.problems.push(...hostWarnings(device, [...at, 'select']));
  return { ...base, slot, functions: fns.map(fromInventory), wholeSlot: fns.length === inSlot.length, xVga: d.xVga ?? (xVgaDefault && device.classId === '030000') };
}

function vfAt(pf: InventoryFunction, i: number): string | null {
  const s = pf.sriov;
  if (!s) return null;
  if (s.vfs[i]) return s.vfs[i]!;
  if (s.offset === null || s.stride === null) return null;
  const [d, b, rest] = pf.address.split(':') as [string, string, string];
  const rid = (parseInt(b, 16) << 8) + (parseInt(rest.slice(0, 2), 16) << 3) + fnOf(pf.address) + s.offset + i * s.stride;
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${d}:${hex((rid >> 8) & 0xff, 2)}:${hex((rid >> 3) & 0x1f, 2)}.${rid & 7}`;
}

function resolveVf(c: Ctx, d: VfDevice, index: number): ResolvedPci | null {
  const at: Path = ['devices', index];
  const base = { kind: 'pci' as const, index, source: 'vf' as const, primary: d.primary, xVga: false, pcie: d.pcie ?? c.profile.machine === 'q35', rom: d.rom ?? null, wholeSlot: false };
  if (!c.inv) {
    if (!d.address) return void c.problems.push(problem('error', [...at, 'vf'], 'with --offline, give the VF\'s own address (address: ...): its place depends on the PF')), null;
    // A VF has its PF's vendor; its device id (sriov_vf_device) is only known on the host.
    const vendorId = d.pf.id ? d.pf.id.slice(0, 4) : null;
    const fn = { ...offlineFunction(d.address), vendorId };
    return { ...base, slot: slotOf(d.address), functions: [fn], pf: d.pf.address ?? null, alternatives: [fn] };
  }
  const { device: pf, problems } = selectDevice(c.inv, d.pf, [...at, 'pf'], false);
  c.problems.push(...problems);
  if (!pf) return null;
  if (!pf.sriov) return void c.problems.push(problem('error', [...at, 'pf'], `${pf.address} has no SR-IOV capability`)), null;
  if (d.vfCount > pf.sriov.totalVfs) c.problems.push(problem('error', [...at, 'vfCount'], `${pf.address} offers at most ${pf.sriov.totalVfs} VFs`));
  const legal = legalVfCounts(pf.vendorId, pf.deviceId);
  if (legal && !legal.includes(d.vfCount)) c.problems.push(problem('error', [...at, 'vfCount'], `${pf.address} (${pf.vendorId}:${pf.deviceId}) runs ${legal.join(' or ')} VFs, one per partition mode, not ${d.vfCount}`));
  const all = Array.from({ length: d.vfCount }, (_, i) => vfAt(pf, i)).filter((a): a is string => a !== null);
  let chosen: string | null;
  if (d.vf === 'any') {
    const free = all.find((a) => {
      const f = c.inv!.functions.find((x) => x.address === a);
      return f && !f.inUse && (f.driver === null || f.driver === 'vfio-pci');
    });
    chosen = free ?? all[0] ?? null;
    if (!free && all.length) c.problems.push(problem('warning', [...at, 'vf'], `no free VF of ${pf.address} now: using ${chosen} (gpuvirt apply creates and binds them)`));
  } else chosen = vfAt(pf, d.vf);
  if (!chosen) return void c.problems.push(problem('error', [...at, 'pf'], `${pf.address} does not say where its VFs are (no sriov_offset)`)), null;
  if (d.address && d.address !== chosen && d.vf !== 'any') c.problems.push(problem('error', [...at, 'address'], `VF ${d.vf} of ${pf.address} is ${chosen}, not ${d.address}`));
  const live = c.inv.functions.find((f) => f.address === chosen);
  if (live) c.problems.push(...hostWarnings(live, [...at, 'vf']));
  else if (pf.sriov.numVfs < d.vfCount) c.problems.push(problem('warning', [...at, 'vfCount'], `${pf.address} has ${pf.sriov.numVfs} VFs now, not ${d.vfCount}: gpuvirt apply creates them`));
  const vfDevice = pf.sriov.vfDeviceId;
  const vfFunction = (a: string): ResolvedFunction => {
    const f = c.inv!.functions.find((x) => x.address === a);
    return f ? fromInventory(f) : { address: a, fn: fnOf(a), vendorId: pf.vendorId, deviceId: vfDevice, subsystem: null, classId: pf.classId, iommuGroup: null, fromHost: false };
  };
  const fn = vfFunction(chosen);
  return { ...base, slot: slotOf(chosen), functions: [fn], pf: pf.address, alternatives: d.vf === 'any' ? all.map(vfFunction) : [fn] };
}

function resolveMdev(c: Ctx, d: MdevDevice, index: number): ResolvedMdev | null {
  const at: Path = ['devices', index];
  const uuid = d.uuid ?? derivedUuid(c.profile.name, index);
  const base = { kind: 'mdev' as const, index, mdevType: d.mdevType, uuid, display: d.display, pcie: c.profile.machine === 'q35' };
  if (!c.inv) {
    if (!d.parent.address) return void c.problems.push(problem('error', [...at, 'parent'], 'with --offline, give parent.address')), null;
    return { ...base, parent: offlineFunction(d.parent.address, d.parent) };
  }
  const { device, problems } = selectDevice(c.inv, d.parent, [...at, 'parent'], true);
  c.problems.push(...problems);
  if (!device) return null;
  if (device.mdevTypes === null) {
    c.problems.push(problem('error', [...at, 'parent'], `${device.address} offers no mediated devices (Intel GVT-g needs i915.enable_gvt=1 and kvmgt; NVIDIA vGPU needs the vendor host driver)`));
  } else if (!device.mdevTypes.includes(d.mdevType)) {
    c.problems.push(problem('error', [...at, 'mdevType'], `${device.address} has no mdev type ${d.mdevType}; it offers ${device.mdevTypes.join(', ') || 'none'}`));
  }
  return { ...base, parent: fromInventory(device) };
}

/** Resolves every device; `inv` null means offline (explicit addresses, no host facts). */
export function resolveProfile(profile: Profile, inv: Inventory | null, opts: ResolveOptions): Resolution {
  const c: Ctx = { profile, inv, opts, problems: [] };
  const devices: ResolvedDevice[] = [];
  profile.devices.forEach((d: Device, i) => {
    const r = d.type === 'gpu' ? resolveGpu(c, d, i) : d.type === 'vf' ? resolveVf(c, d, i) : resolveMdev(c, d, i);
    if (r) devices.push(r);
  });
  const seen = new Map<string, number>();
  for (const d of devices) {
    for (const f of d.kind === 'pci' ? d.functions : []) {
      const first = seen.get(f.address);
      if (first !== undefined && first !== d.index) c.problems.push(problem('error', ['devices', d.index], `${f.address} is already passed by devices[${first}]`));
      seen.set(f.address, d.index);
    }
  }
  if (inv?.resources) c.problems.push(...hostFit(profile, inv.resources));
  return { devices, problems: c.problems };
}
