// The kernel's own answers, read straight from sysfs and procfs inside the guest. The checks
// compare gpuvirt's output with these, so none of this uses gpuvirt code.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const PCI = '/sys/bus/pci/devices';
const GROUPS = '/sys/kernel/iommu_groups';

export function read(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

function linkBase(file: string): string | null {
  try {
    return path.basename(fs.readlinkSync(file));
  } catch {
    return null;
  }
}

export const exists = (file: string) => fs.existsSync(file);

export function devices(): string[] {
  return fs.readdirSync(PCI).sort();
}

export function driverOf(addr: string): string | null {
  return linkBase(`${PCI}/${addr}/driver`);
}

/** driver_override as the kernel stores it: "(null)" when unset. */
export function overrideOf(addr: string): string | null {
  const v = read(`${PCI}/${addr}/driver_override`);
  return v === null || v === '(null)' || v === '' ? null : v;
}

/** Class as 6 hex digits, e.g. 030000. */
export function classOf(addr: string): string {
  return (read(`${PCI}/${addr}/class`) ?? '0x000000').replace(/^0x/, '');
}

export function groupOf(addr: string): number | null {
  const g = linkBase(`${PCI}/${addr}/iommu_group`);
  return g === null ? null : Number(g);
}

/** /sys/kernel/iommu_groups: group number → its devices. */
export function kernelGroups(): Map<number, string[]> {
  const out = new Map<number, string[]>();
  if (!exists(GROUPS)) return out;
  for (const g of fs.readdirSync(GROUPS)) out.set(Number(g), fs.readdirSync(`${GROUPS}/${g}/devices`).sort());
  return new Map([...out].sort(([a], [b]) => a - b));
}

export function iommuUnits(): string[] {
  return exists('/sys/class/iommu') ? fs.readdirSync('/sys/class/iommu').sort() : [];
}

/** A bridge: PCI class 0604 (PCI-PCI) or anything with a secondary bus. */
export function isBridge(addr: string): boolean {
  return classOf(addr).startsWith('0604') || exists(`${PCI}/${addr}/pci_bus`);
}

export const slotOf = (addr: string) => addr.slice(0, addr.lastIndexOf('.'));

export function cpuVendor(): 'intel' | 'amd' | 'other' {
  const id = /^vendor_id\s*:\s*(\S+)/m.exec(read('/proc/cpuinfo') ?? '')?.[1];
  return id === 'GenuineIntel' ? 'intel' : id === 'AuthenticAMD' ? 'amd' : 'other';
}

export const cmdline = () => read('/proc/cmdline') ?? '';

export function driverLoaded(driver: string): boolean {
  return exists(`/sys/bus/pci/drivers/${driver}`);
}

/** An SR-IOV PF's settings as the kernel reports them. */
export interface SriovState {
  numVfs: number;
  autoprobe: boolean;
}

/** sriov_numvfs and sriov_drivers_autoprobe, or null for a device without SR-IOV. */
export function sriovOf(addr: string): SriovState | null {
  const total = read(`${PCI}/${addr}/sriov_totalvfs`);
  if (total === null) return null;
  return { numVfs: Number(read(`${PCI}/${addr}/sriov_numvfs`)), autoprobe: read(`${PCI}/${addr}/sriov_drivers_autoprobe`) === '1' };
}

export function totalVfsOf(pf: string): number {
  return Number(read(`${PCI}/${pf}/sriov_totalvfs`));
}

/** The PF's VFs in index order, from its virtfnN links. */
export function virtfns(pf: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(`${PCI}/${pf}`).filter((n) => /^virtfn\d+$/.test(n));
  } catch {
    return [];
  }
  return names.sort((a, b) => Number(a.slice(6)) - Number(b.slice(6))).map((n) => linkBase(`${PCI}/${pf}/${n}`) ?? `?${n}`);
}

/** The PF a VF's physfn link points at. */
export function physfnOf(vf: string): string | null {
  return linkBase(`${PCI}/${vf}/physfn`);
}

export interface DeviceState {
  driver: string | null;
  override: string | null;
  /** Only on SR-IOV PFs. */
  sriov?: SriovState;
}

/** Driver and driver_override of every PCI device, and the VF count and autoprobe of each SR-IOV PF:
 *  what "nothing changed" is measured on. */
export function snapshot(addrs: readonly string[] = devices()): Record<string, DeviceState> {
  return Object.fromEntries(addrs.map((a) => {
    const sriov = sriovOf(a);
    return [a, sriov ? { driver: driverOf(a), override: overrideOf(a), sriov } : { driver: driverOf(a), override: overrideOf(a) }];
  }));
}

export function write(file: string, value: string): void {
  fs.writeFileSync(file, value);
}

/** Runs a program of the guest (kmod, busybox); returns its exit status and output. */
export function sh(argv: string[]): { status: number; out: string } {
  try {
    return { status: 0, out: execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { status: e.status ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Polls `cond` every 100 ms until it holds or `ms` have passed; says whether it held. */
export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

export function dmesgTail(lines = 25): string {
  return sh(['dmesg']).out.trim().split('\n').slice(-lines).join('\n');
}

/** The VF count and autoprobe back to `want` (0 first: the kernel refuses non-zero to non-zero). */
function forceSriov(pf: string, want: SriovState, pfDriver: string | null): void {
  const now = sriovOf(pf);
  if (!now) return;
  try {
    // The kernel needs the PF driver for any change of the count.
    if (now.numVfs !== want.numVfs && pfDriver && driverOf(pf) === null) write('/sys/bus/pci/drivers_probe', pf);
    if (now.numVfs !== want.numVfs && now.numVfs > 0) write(`${PCI}/${pf}/sriov_numvfs`, '0');
    if (now.autoprobe !== want.autoprobe) write(`${PCI}/${pf}/sriov_drivers_autoprobe`, want.autoprobe ? '1' : '0');
    if (now.numVfs !== want.numVfs && want.numVfs > 0) write(`${PCI}/${pf}/sriov_numvfs`, String(want.numVfs));
  } catch {
    // best effort, as below
  }
}

/**
 * Puts devices back to `want` without gpuvirt, so that one scenario's failure does not spoil
 * the next: unbind, set driver_override, re-probe.
 */
export function forceState(want: Record<string, DeviceState>): void {
  for (const [addr, w] of Object.entries(want)) {
    const now = { driver: driverOf(addr), override: overrideOf(addr) };
    if (w.sriov) forceSriov(addr, w.sriov, w.driver);
    if (now.driver === w.driver && now.override === w.override) continue;
    try {
      if (now.driver && now.driver !== w.driver) write(`/sys/bus/pci/drivers/${now.driver}/unbind`, addr);
      write(`${PCI}/${addr}/driver_override`, w.override ?? '\n');
      if (w.driver && !driverLoaded(w.driver)) sh(['modprobe', '-q', read(`${PCI}/${addr}/modalias`) ?? '']);
      if (w.driver && driverOf(addr) !== w.driver) write('/sys/bus/pci/drivers_probe', addr);
    } catch {
      // best effort: the next scenario's "left as found" check says what is still wrong
    }
  }
}
