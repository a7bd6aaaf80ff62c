// What gpuvirt changed on this host, kept under var/lib/gpuvirt of the root so `release`
// works in a later run and an interrupted run can be recovered. Written atomically.
import type { Host } from './host/host.js';
import { paths } from './host/paths.js';
import { ExitCode, GpuvirtError } from './errors.js';
import type { Step } from './mutate/steps.js';

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

export interface GpuvirtState {
  version: 1;
  devices: Record<string, ManagedDevice>;
  sriov?: Record<string, SriovRecord>;
  /** Persisted vGPU types, by VF. */
  vgpu?: Record<string, VgpuRecord>;
}

export function readState(host: Host): GpuvirtState {
  const text = host.readText(paths.stateFile);
  if (text === null) return { version: 1, devices: {} };
  try {
    const parsed = JSON.parse(text) as GpuvirtState;
    if (parsed.version !== 1 || typeof parsed.devices !== 'object' || parsed.devices === null) throw new Error('unknown layout');
    return parsed;
  } catch (err) {
    throw new GpuvirtError('E_STATE', `${paths.stateFile} is not readable gpuvirt state: ${(err as Error).message}`, {
      exitCode: ExitCode.failed,
      hint: 'move it aside to start over; devices it recorded keep their current drivers',
    });
  }
}

export function persistedDevices(state: GpuvirtState): ManagedDevice[] {
  return Object.values(state.devices).filter((d) => d.persisted);
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
