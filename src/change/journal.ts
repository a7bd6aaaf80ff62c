// The journal of the change being applied: written before the first host write, with every
// step and its undo, and a progress file naming the step in flight. A run that dies (kill -9,
// power loss) leaves both behind; the next run finds them and `gpuvirt recover` undoes the
// steps that had started. A finished or fully rolled-back run removes them.
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import type { Step } from '../mutate/steps.js';
import type { Fact } from './facts.js';

export const JOURNAL = `${paths.stateDir}/journal.json`;
export const PROGRESS = `${paths.stateDir}/journal.progress`;

export interface Journal {
  format: 1;
  command: string;
  pid: number;
  startedAt: string;
  steps: Step[];
  /** The facts the change is about, as they were before it: what recovery must bring back. */
  before: { fact: Fact; value: string | null }[];
  /** Directories the journal itself needed, removed with it when they are empty again. */
  dirs?: string[];
  /** Set when a rollback could not finish: recover must try again. */
  rollbackIncomplete?: boolean;
}

export interface FoundJournal {
  journal: Journal;
  /** The index of the last step that had started (-1: none). */
  started: number;
}

/** `started`: the last step that had started; kept when a journal is written again after a rollback that could not finish. */
export function writeJournal(host: Host, j: Journal, started = -1): void {
  host.writeFile(PROGRESS, `${started}\n`, 0o600);
  host.writeFile(JOURNAL, `${JSON.stringify(j)}\n`, 0o600);
}

export function markStarted(host: Host, index: number): void {
  host.writeFile(PROGRESS, `${index}\n`, 0o600);
}

export function clearJournal(host: Host, j: Pick<Journal, 'dirs'>): void {
  host.removeFile(JOURNAL);
  host.removeFile(PROGRESS);
  for (const d of j.dirs ?? []) host.removeEmptyDir?.(d);
}

function invalid(why: string): GpuvirtError {
  return new GpuvirtError('E_JOURNAL', `${JOURNAL} is not a gpuvirt journal: ${why}`, {
    exitCode: ExitCode.failed,
    hint: `look at it, put the host right by hand, then remove it`,
  });
}

/** The programs gpuvirt runs; a journal that names another is not gpuvirt's (recover runs them as root). */
const PROGRAMS = new Set(['modprobe', 'update-grub', 'grub-mkconfig', 'grub2-mkconfig', 'grubby', 'proxmox-boot-tool', 'kernelstub',
  'update-initramfs', 'dracut', 'mkinitcpio', 'systemctl', 'nvidia-smi', paths.nvidiaSriovManage,
  'virsh', 'qm', 'pvesh', 'mdevctl']);
const STEP_KINDS = new Set(['write', 'exec', 'file', 'remove-file', 'verify-driver', 'verify-not-driver', 'verify-exists', 'verify-not-exists', 'verify-text', 'wait-vfs', 'verify-mig']);
const UNDO_KINDS = new Set(['restore-devices', 'restore-sriov', 'restore-file', 'restore-attr', 'remove-mdev', 'create-mdev', 'restore-vgpu-type', 'restore-mig', 'run']);
/** The only attribute a restore-attr undo writes: a PCI device's reset_method. */
const resetMethodPath = (p: unknown) => typeof p === 'string' && p.startsWith(`${paths.pciDevices}/`) &&
  /^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]\/reset_method$/.test(p.slice(paths.pciDevices.length + 1));
/** ...or an xe VF's scheduling setting (sriov_admin/vfN/profile), a u32. */
const xeProfilePath = (p: unknown) => typeof p === 'string' && p.startsWith(`${paths.pciDevices}/`) &&
  /^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]\/sriov_admin\/vf[1-9]\d*\/profile\/(exec_quantum_ms|preempt_timeout_us)$/.test(p.slice(paths.pciDevices.length + 1));
/** ...or an NVIDIA VF's nvidia/current_vgpu_type, emptied (`0`) before a host config puts its VFs' types back. */
const vgpuTypeAttr = (p: unknown) => typeof p === 'string' && p.startsWith(`${paths.pciDevices}/`) &&
  /^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]\/nvidia\/current_vgpu_type$/.test(p.slice(paths.pciDevices.length + 1));
const attrUndoOk = (u: Record<string, unknown>) => typeof u.value === 'string' &&
  ((resetMethodPath(u.path) && /^(\n|[a-z_ ]+)$/.test(u.value)) || (xeProfilePath(u.path) && /^\d{1,10}$/.test(u.value)) || (vgpuTypeAttr(u.path) && u.value === '0'));
const cleanPath = (p: unknown) => typeof p === 'string' && p.startsWith('/') && !p.split('/').some((c) => c === '..' || c === '.') && !p.includes('\0');
const argvOk = (a: unknown) => Array.isArray(a) && a.length > 0 && a.every((x) => typeof x === 'string' && !x.includes('\0')) && PROGRAMS.has(a[0] as string);

const idList = (x: unknown) => x === undefined || (Array.isArray(x) && x.every((i) => Number.isInteger(i) && i >= 0));
const migUndoOk = (u: Record<string, unknown>) => typeof u.gpu === 'string' && /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(u.gpu) && idList(u.keep)
  && (u.restore === undefined || (Array.isArray(u.restore) && u.restore.every((r: Record<string, unknown>) => Number.isInteger(r?.id)
    && (r.profileId === null || Number.isInteger(r.profileId)) && (r.profile === null || (typeof r.profile === 'string' && /^\d+g\.\d+gb(\+me)?$/.test(r.profile))))));
const vgpuUndoOk = (u: Record<string, unknown>) => typeof u.vf === 'string' && /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(u.vf)
  && (u.type === null || (typeof u.type === 'string' && /^[1-9]\d*$/.test(u.type)));

/** Why a journal's steps are not something gpuvirt wrote, or null. */
function problem(steps: unknown[]): string | null {
  for (const [i, raw] of steps.entries()) {
    const s = raw as Record<string, unknown>;
    if (!s || !STEP_KINDS.has(s.kind as string)) return `step ${i} has an unknown kind`;
    if ('path' in s && !cleanPath(s.path)) return `step ${i} has a path that is not absolute and normalised`;
    if (s.kind === 'exec' && !argvOk(s.argv)) return `step ${i} runs a program gpuvirt does not run`;
    for (const u of (s.undo ?? []) as Record<string, unknown>[]) {
      if (!u || !UNDO_KINDS.has(u.kind as string)) return `step ${i} has an unknown undo`;
      if ('path' in u && !cleanPath(u.path)) return `step ${i}'s undo has a path that is not absolute and normalised`;
      if (u.kind === 'run' && (!argvOk(u.argv) || (u.onlyIf !== undefined && !argvOk(u.onlyIf)))) return `step ${i}'s undo runs a program gpuvirt does not run`;
      if (u.kind === 'restore-mig' && !migUndoOk(u)) return `step ${i}'s undo names no GPU or GPU instance`;
      if (u.kind === 'restore-vgpu-type' && !vgpuUndoOk(u)) return `step ${i}'s undo names no PCI address or vGPU type id`;
      if (u.kind === 'restore-attr' && !attrUndoOk(u)) {
        return `step ${i}'s undo writes an attribute gpuvirt does not write`;
      }
    }
  }
  return null;
}

export function readJournal(host: Host): FoundJournal | null {
  const text = host.readText(JOURNAL);
  if (text === null) return null;
  let j: Journal;
  try {
    j = JSON.parse(text) as Journal;
  } catch (err) {
    throw invalid((err as Error).message);
  }
  if (j?.format !== 1 || typeof j.command !== 'string' || !Array.isArray(j.steps) || !Array.isArray(j.before)) throw invalid('unknown layout');
  const why = problem(j.steps);
  if (why) throw invalid(why);
  const progress = Number((host.readText(PROGRESS) ?? '').trim());
  // Without a readable progress file every step may have started: undo them all (undos are idempotent).
  const started = Number.isInteger(progress) && progress >= -1 && progress < j.steps.length ? progress : j.steps.length - 1;
  return { journal: j, started };
}

export function interruptedError(found: FoundJournal): GpuvirtError {
  const { journal, started } = found;
  return new GpuvirtError(
    'E_INTERRUPTED',
    `an earlier \`gpuvirt ${journal.command}\` (pid ${journal.pid}, ${journal.startedAt}) ${journal.rollbackIncomplete ? 'could not finish its rollback' : `was interrupted at step ${started + 1} of ${journal.steps.length}`}`,
    { exitCode: ExitCode.failed, hint: '`gpuvirt recover` shows what it changed and undoes it' },
  );
}
