// The simulated kernel's memory that the sysfs tree itself cannot hold: which driver claims
// which device, dynamic ids, what each PF driver does with SR-IOV, devices held open by a VM,
// injected failures and the logs. It lives in a JSON sidecar inside the root so that several
// processes (a test and the CLI it spawns) drive one simulated machine, one after the other.
import * as nodePath from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { type Host, linkName, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { listAddresses } from '../detect/pci.js';
import type { MdevParentRecord } from './mdev.js';

export const SIDECAR = '.sim-kernel.json';

export type SimErrno =
  | 'ENODEV' | 'EBUSY' | 'EINVAL' | 'ERANGE' | 'ENOENT' | 'EEXIST' | 'EACCES' | 'ENOMEM'
  | 'EIO' | 'EINTR' | 'ENOTTY' | 'EISDIR' | 'EPERM' | 'ENOSPC' | 'EUSERS';

/** A kernel error inside the simulation; SimKernel turns it into a Node-style fs error. */
export class KernelErrno extends Error {
  constructor(readonly code: SimErrno) {
    super(code);
  }
}

export function fail(code: SimErrno): never {
  throw new KernelErrno(code);
}

const ERRNO: Record<SimErrno, number> = {
  ENOENT: 2, EINTR: 4, EIO: 5, ENOMEM: 12, EACCES: 13, EBUSY: 16, EEXIST: 17,
  ENODEV: 19, EISDIR: 21, EINVAL: 22, ENOTTY: 25, ERANGE: 34, EPERM: 1, ENOSPC: 28, EUSERS: 87,
};

/** An Error shaped like the ones node:fs throws: code, errno (negative), syscall, path. */
export function sysError(code: SimErrno, path: string, syscall = 'write'): NodeJS.ErrnoException {
  const errno = -ERRNO[code];
  const text = getSystemErrorMap().get(errno)?.[1] ?? code;
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${path}'`), { code, errno, syscall, path });
}

/** struct pci_device_id; 0xffffffff is PCI_ANY_ID. */
export interface PciId {
  vendor: number;
  device: number;
  subvendor: number;
  subdevice: number;
  class: number;
  classMask: number;
}
export const PCI_ANY_ID = 0xffffffff;

export interface DriverInfo {
  module: string;
  /** The driver's static id table (vfio-pci's implicit override-only entry is not listed). */
  ids: PciId[];
  /** Added through new_id; lost when the driver is unregistered. */
  dynamicIds: PciId[];
  /** Implements .sriov_configure (vfio-pci: only with enable_sriov=Y). */
  sriovConfigure: boolean;
  /** The driver whose id table claims this PF driver's VFs; null: VFs stay driverless. */
  vfDriver: string | null;
  /** The driver enables at most this many VFs, whatever was asked. */
  vfLimit: number | null;
}

/** How a device held open through VFIO (a running VM) answers an unbind or an SR-IOV disable. */
export type Hold = { delayMs: number } | { errno: SimErrno };

export interface WriteFailure {
  path: string;
  regex?: { source: string; flags: string };
  value?: string;
  errno: SimErrno;
  remaining: number | null;
}
export interface ProbeFailure {
  device: string;
  driver: string;
  errno: SimErrno;
  remaining: number | null;
}
export interface ExecFailure {
  argv: string;
  regex?: { source: string; flags: string };
  exitCode: number;
  stdout: string;
  stderr: string;
  remaining: number | null;
}
export interface WriteRecord {
  path: string;
  value: string;
  result: 'ok' | SimErrno | 'error';
}
export interface ExecRecord {
  argv: string[];
  exitCode: number;
}

export interface SimState {
  version: 1;
  drivers: Record<string, DriverInfo>;
  /** Device → the driver whose static table claims it (its driver when the sidecar was made). */
  native: Record<string, string>;
  /** Device → the reset methods it supports, in kernel order. */
  resetMethods: Record<string, string[]>;
  romEnabled: string[];
  holds: Record<string, Hold>;
  writeFailures: WriteFailure[];
  probeFailures: ProbeFailure[];
  execFailures: ExecFailure[];
  writes: WriteRecord[];
  execs: ExecRecord[];
  /** Files on the EFI system partitions proxmox-boot-tool keeps (not mounted on the root): ESP UUID → path → content. */
  esps?: Record<string, Record<string, string>>;
  /** mdev parents whose driver is unbound: what it registers again when it binds. */
  mdevParents?: Record<string, MdevParentRecord>;
  /** VF mdev parents holding their one vGPU: type → available_instances before it was taken. */
  mdevVfFree?: Record<string, Record<string, number>>;
  /** NVIDIA GPUs' MIG state, which only nvidia-smi shows (nvidia-smi.ts). */
  mig?: Record<string, import('./nvidia-smi.js').SimMigGpu>;
}

/** Drivers without .sriov_configure (vfio-pci depends on its enable_sriov parameter). */
const NO_SRIOV_CONFIGURE = new Set(['pci-stub', 'gim', 'vfio-pci']);
/** PF driver → the VF driver of the same family (Documentation/networking/device_drivers). */
const VF_DRIVER: Record<string, string> = {
  igb: 'igbvf', ixgbe: 'ixgbevf', i40e: 'iavf', ice: 'iavf', mlx5_core: 'mlx5_core', bnxt_en: 'bnxt_en',
  // NVIDIA's vGPU host driver drives the VFs sriov-manage makes (lspci: "Kernel driver in use: nvidia").
  nvidia: 'nvidia',
};

export function moduleOfDriver(driver: string): string {
  return driver.replace(/-/g, '_');
}

export function newDriverInfo(name: string, module = moduleOfDriver(name)): DriverInfo {
  return {
    module, ids: [], dynamicIds: [], sriovConfigure: !NO_SRIOV_CONFIGURE.has(name),
    vfDriver: VF_DRIVER[name] ?? null, vfLimit: null,
  };
}

export function readOverride(host: Host, addr: string): string | null {
  const raw = readAttr(host, paths.pciAttr(addr, 'driver_override'));
  return raw === null || raw === '' || raw === '(null)' ? null : raw;
}

/** The state implied by the tree as it is now: what a freshly booted kernel would know. */
export function scanTree(host: Host): SimState {
  const state: SimState = {
    version: 1, drivers: {}, native: {}, resetMethods: {}, romEnabled: [], holds: {},
    writeFailures: [], probeFailures: [], execFailures: [], writes: [], execs: [],
  };
  for (const name of host.list(paths.pciDrivers) ?? []) {
    if (!host.isDirectory(paths.pciDriver(name))) continue;
    state.drivers[name] = newDriverInfo(name, linkName(host, `${paths.pciDriver(name)}/module`) ?? undefined);
  }
  for (const addr of listAddresses(host)) {
    const driver = linkName(host, paths.pciAttr(addr, 'driver'));
    if (driver !== null && readOverride(host, addr) !== driver) state.native[addr] = driver;
    const methods = readAttr(host, paths.pciAttr(addr, 'reset_method'));
    if (methods) state.resetMethods[addr] = methods.split(/\s+/);
    const pf = linkName(host, paths.pciAttr(addr, 'physfn'));
    const pfDriver = pf === null ? null : linkName(host, paths.pciAttr(pf, 'driver'));
    const info = pfDriver === null ? undefined : state.drivers[pfDriver];
    if (info && driver !== null && state.native[addr] === driver) info.vfDriver = driver;
  }
  for (const addr of listAddresses(host)) {
    const pf = linkName(host, paths.pciAttr(addr, 'physfn'));
    const pfDriver = pf === null ? null : state.native[pf];
    const vfDriver = pfDriver === undefined || pfDriver === null ? null : state.drivers[pfDriver]?.vfDriver;
    if (vfDriver && state.native[addr] === undefined) state.native[addr] = vfDriver;
  }
  return state;
}

/** The sidecar is a file of the tree like any other, read and written through the host's resolver. */
export function loadState(host: Host): SimState {
  const text = host.readText(`/${SIDECAR}`);
  if (text !== null) return JSON.parse(text) as SimState;
  const state = scanTree(host);
  saveState(host, state);
  return state;
}

export function saveState(host: Host, state: SimState): void {
  host.writeFile(`/${SIDECAR}`, `${JSON.stringify(state, null, 1)}\n`);
}

/** Takes one use of the first rule `pick` accepts; rules with no uses left are dropped. */
export function consume<T extends { remaining: number | null }>(rules: T[], pick: (r: T) => boolean): T | null {
  const i = rules.findIndex(pick);
  if (i < 0) return null;
  const rule = rules[i]!;
  if (rule.remaining !== null && --rule.remaining <= 0) rules.splice(i, 1);
  return rule;
}

export function storedRegex(r: { source: string; flags: string }): RegExp {
  return new RegExp(r.source, r.flags.replace(/[gy]/g, ''));
}

/** sysfs_streq: equal, ignoring one trailing newline on the written value. */
export function chomp(value: string): string {
  return value.endsWith('\n') ? value.slice(0, -1) : value;
}
