// What gpuvirt changed on this host, kept under var/lib/gpuvirt of the root so `release`
// works in a later run and an interrupted run can be recovered. Written atomically.
import type { Host } from './host/host.js';
import { paths } from './host/paths.js';
import { ExitCode, GpuvirtError } from './errors.js';
import type { Step } from './mutate/steps.js';
import { checkAddress, checkInt, checkLine, checkName, checkOneOf } from './validate.js';

export type PassthroughDriver = 'vfio-pci' | 'pci-stub';

export interface ManagedDevice {
  address: string;
  target: PassthroughDriver;
  /** The driver it had before gpuvirt took it (null: none), and that driver's module. */
  originalDriver: string | null;
  originalModule: string | null;
  originalOverride: string | null;
  /** False when the device was already on the passthrough driver before gpuvirt recorded it:
   *  release then lets the kernel pick its driver. */
  originalKnown?: boolean;
  /** Every address taken together with this one (slot functions, group members): released together. */
  set: string[];
  /**
   * Kept at boot by an earlier gpuvirt's own files. What a host keeps at boot is the boot record
   * now (/etc/gpuvirt/host.yaml, src/hostconfig/record.ts): gpuvirt writes false, and turns a true
   * it finds into a record entry the next time anything edits the record.
   */
  persisted: boolean;
  /**
   * `applying` while a run is changing it (found later, that run was interrupted); `bound`;
   * `released`: given back for now, but still persisted, so the next boot takes it again.
   */
  status: 'applying' | 'bound' | 'released';
  since: string;
}

export interface SriovRecord {
  pf: string;
  numVfs: number;
  bind: 'vfio-pci' | null;
  adapter: string;
  /** As for ManagedDevice: an earlier gpuvirt's record, converted into the boot record when found. */
  persisted: boolean;
  /** What the PF had before gpuvirt changed it: the rollback target. */
  originalNumVfs: number;
  originalAutoprobe: boolean | null;
  status: 'applying' | 'done';
  since: string;
}

/** A vGPU type on an NVIDIA VF (vendor-specific VFIO) that a boot unit sets again. */
export interface VgpuRecord {
  vf: string;
  pf: string;
  type: string;
  typeName: string | null;
  since: string;
}

/** The commands that make mediated devices and record them. */
export const MDEV_MAKERS = ['apply', 'mdev create', 'vgpu create'] as const;

/** A mediated device gpuvirt created (and, when persisted, defined with mdevctl). */
export interface MdevRecord {
  uuid: string;
  parent: string;
  type: string;
  /** gpuvirt defined it with mdevctl (`define --auto`): removing it undefines it too. */
  persisted: boolean;
  command: (typeof MDEV_MAKERS)[number];
  /** The profile whose apply made it (null for the other commands). */
  profile: string | null;
  since: string;
}

export interface GpuvirtState {
  version: 1;
  devices: Record<string, ManagedDevice>;
  sriov?: Record<string, SriovRecord>;
  /** vGPU types an earlier gpuvirt set at boot with its own unit, by VF: converted into the boot record when found. */
  vgpu?: Record<string, VgpuRecord>;
  /** Mediated devices gpuvirt made, by UUID (absent in state files written before they were recorded). */
  mdevs?: Record<string, MdevRecord>;
}

export function readState(host: Host): GpuvirtState {
  const text = host.readText(paths.stateFile);
  if (text === null) return { version: 1, devices: {} };
  try {
    return checkState(JSON.parse(text));
  } catch (err) {
    throw new GpuvirtError('E_STATE', `${paths.stateFile} is not readable gpuvirt state: ${(err as Error).message}`, {
      exitCode: ExitCode.failed,
      hint: 'move it aside to start over; devices it recorded keep their current drivers',
    });
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const STATUSES = ['applying', 'bound', 'released'] as const;
const ADAPTERS = ['generic', 'intel', 'amd-gim', 'nvidia'] as const;

function checkDevice(key: string, d: unknown): ManagedDevice {
  if (!isObject(d)) throw new Error(`devices.${key} is not a record`);
  const f = (name: string) => `devices.${key}.${name}`;
  checkAddress(key, 'a devices key');
  if (d.address !== key) throw new Error(`${f('address')} is not its key`);
  checkOneOf(d.target, f('target'), ['vfio-pci', 'pci-stub'] as const);
  if (d.originalDriver !== null) checkName(d.originalDriver, f('originalDriver'));
  if (d.originalModule !== null) checkName(d.originalModule, f('originalModule'));
  if (d.originalOverride !== null) checkName(d.originalOverride, f('originalOverride'));
  if (d.originalKnown !== undefined) checkOneOf(d.originalKnown as never, f('originalKnown'), [true, false] as never[]);
  if (!Array.isArray(d.set)) throw new Error(`${f('set')} is not a list`);
  d.set.forEach((a, i) => checkAddress(a, `${f('set')}[${i}]`));
  checkOneOf(d.persisted as never, f('persisted'), [true, false] as never[]);
  checkOneOf(d.status, f('status'), STATUSES);
  checkLine(d.since, f('since'));
  return d as unknown as ManagedDevice;
}

function checkSriov(key: string, r: unknown): SriovRecord {
  if (!isObject(r)) throw new Error(`sriov.${key} is not a record`);
  const f = (name: string) => `sriov.${key}.${name}`;
  checkAddress(key, 'an sriov key');
  if (r.pf !== key) throw new Error(`${f('pf')} is not its key`);
  checkInt(r.numVfs, f('numVfs'), 0, 65535);
  checkInt(r.originalNumVfs, f('originalNumVfs'), 0, 65535);
  checkOneOf(r.bind, f('bind'), ['vfio-pci', null] as const);
  checkOneOf(r.adapter, f('adapter'), ADAPTERS);
  checkOneOf(r.persisted as never, f('persisted'), [true, false] as never[]);
  checkOneOf(r.originalAutoprobe as never, f('originalAutoprobe'), [true, false, null] as never[]);
  checkOneOf(r.status, f('status'), ['applying', 'done'] as const);
  checkLine(r.since, f('since'));
  return r as unknown as SriovRecord;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function checkMdev(key: string, r: unknown): MdevRecord {
  if (!isObject(r)) throw new Error(`mdevs.${key} is not a record`);
  const f = (name: string) => `mdevs.${key}.${name}`;
  if (!UUID.test(key)) throw new Error(`${JSON.stringify(key)} is not a UUID (an mdevs key)`);
  if (r.uuid !== key) throw new Error(`${f('uuid')} is not its key`);
  checkAddress(r.parent, f('parent'));
  checkName(r.type, f('type'));
  checkOneOf(r.persisted as never, f('persisted'), [true, false] as never[]);
  checkOneOf(r.command, f('command'), MDEV_MAKERS);
  if (r.profile !== null) checkLine(r.profile, f('profile'));
  checkLine(r.since, f('since'));
  return r as unknown as MdevRecord;
}

/** state.json as gpuvirt wrote it, or an error naming the first field that is not. */
export function checkState(parsed: unknown): GpuvirtState {
  if (!isObject(parsed) || parsed.version !== 1 || !isObject(parsed.devices)) throw new Error('unknown layout');
  for (const [k, d] of Object.entries(parsed.devices)) checkDevice(k, d);
  if (parsed.sriov !== undefined) {
    if (!isObject(parsed.sriov)) throw new Error('sriov is not a record');
    for (const [k, r] of Object.entries(parsed.sriov)) checkSriov(k, r);
  }
  if (parsed.mdevs !== undefined) {
    if (!isObject(parsed.mdevs)) throw new Error('mdevs is not a record');
    for (const [k, r] of Object.entries(parsed.mdevs)) checkMdev(k, r);
  }
  return parsed as unknown as GpuvirtState;
}

export function stateText(state: GpuvirtState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

export function writeState(host: Host, state: GpuvirtState): void {
  host.writeFile(paths.stateFile, stateText(state), 0o600);
}

/** The state file rewritten as a step of a change: journalled, and restored by its rollback. */
export function stateFileStep(state: GpuvirtState, title: string): Step {
  return { kind: 'file', path: paths.stateFile, content: stateText(state), mode: 0o600, title };
}

/**
 * The state file step of a plan that changes nothing else on the host (a record of something
 * that is gone): the engine adds its own state step only after host steps. None when the
 * record would not change.
 */
export function recordOnlySteps(host: Host, update: (state: GpuvirtState) => GpuvirtState): Step[] {
  const now = readState(host);
  const next = update(structuredClone(now));
  return stateText(next) === stateText(now) ? [] : [stateFileStep(next, 'update gpuvirt\'s record of what it manages')];
}
