// The parts of gpuvirt's JSON contract (README, "JSON output") the checks read. Declared here,
// not imported from src/, so that a change to the contract shows up as a failing e2e check.

export interface CheckJson {
  id: string;
  status: 'pass' | 'warn' | 'fail' | 'skip';
  summary: string;
  remedy: string | null;
}

export interface PeerJson {
  address: string;
  classId: string;
  driver: string | null;
}

export interface GpuJson {
  address: string;
  classId: string;
  driver: string | null;
  iommuGroup: number | null;
  bootVga: boolean | null;
  isolation: 'clean' | 'shared' | 'unknown';
  blockingPeers: PeerJson[];
}

export interface DoctorData {
  host: { kernel: string | null; cpuVendor: string };
  checks: CheckJson[];
  iommu: { firmware: string; enabled: boolean; groupCount: number };
  gpus: GpuJson[];
}

export interface DeviceJson {
  address: string;
  classId: string;
  driver: string | null;
  iommuGroup: number | null;
}

export interface ListData {
  iommu: boolean;
  groups: { id: number; devices: DeviceJson[] }[];
  ungrouped: DeviceJson[];
  reason: string | null;
}

export interface StepJson {
  kind: 'write' | 'exec' | 'file' | 'remove-file' | 'verify-driver' | 'verify-not-driver' | 'verify-exists' | 'wait-vfs';
  title: string;
  action: string;
  path?: string;
  value?: string;
  argv?: string[];
  address?: string;
  driver?: string | null;
  not?: string;
  /** wait-vfs: the PF and the VF count waited for. */
  pf?: string;
  count?: number;
}

export interface ApplyJson {
  ok: boolean;
  steps: { index: number; title: string; action: string; status: 'done' | 'failed'; error?: string; errno?: string }[];
  rollback: { ok: boolean; actions: string[]; errors: string[]; differences: string[] } | null;
}

/** A reason not to change the host; `force` null: --force cannot override it. */
export interface RefusalJson {
  code: string;
  address?: string;
  message: string;
  force: string | null;
}

export interface ChangeData {
  dryRun: boolean;
  devices: { address: string; reason: string; driver: string | null; iommuGroup: number | null }[];
  steps: StepJson[];
  applied: ApplyJson | null;
  refusals?: RefusalJson[];
  blocked?: boolean;
  bridges?: string[];
}

export interface VfJson {
  index: number;
  address: string;
  driver: string | null;
  iommuGroup: number | null;
}

export interface PfJson {
  address: string;
  driver: string | null;
  adapter: string;
  totalVfs: number;
  numVfs: number;
  driversAutoprobe: boolean | null;
  vfs: VfJson[];
}

/** `sriov enable` and `sriov disable` (README, "gpuvirt sriov"). */
export interface SriovChangeData {
  action: 'enable' | 'disable';
  /** The PF before the run. */
  pf: PfJson;
  adapter: string;
  requested: number;
  dryRun: boolean;
  /** Why nothing was done: every refusal at once; blocked means nothing was written. */
  refusals: RefusalJson[];
  blocked: boolean;
  notes: string[];
  steps: StepJson[];
  applied: ApplyJson | null;
  hint: string | null;
  /** The PF after the run. */
  after: PfJson | null;
}

export interface SriovStatusData {
  pfs: PfJson[];
}

/** `snapshot --out FILE` (README, "gpuvirt snapshot"). */
export interface SnapshotData {
  out: string;
  files: number;
  links: number;
  bytes: number;
  skipped: number;
  unreadable: { path: string; errno: string }[];
}

/** `generate --target qemu --json` (README, "Commands, data and exit codes"). */
export interface GenerateData {
  target: string;
  /** The script itself (no --out). */
  output: string | null;
  /** The QEMU command as an argv array. */
  argv?: string[];
  devices: { index: number; kind: string; addresses: string[] }[];
}
