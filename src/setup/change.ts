// `gpuvirt setup` and `setup --undo` as changes: the bootloader files with their diffs and
// backups, the bootloader's own tool (run again on rollback, after its files are back), the
// read-back, and the manifest `--undo` needs, written as the last step so an interrupted setup
// leaves either a complete record or, after `gpuvirt recover`, none.
import type { Ctx } from '../context.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import { detectInitramfs } from '../boot/initramfs.js';
import type { KernelParam } from '../detect/cmdline.js';
import { normalizeKey } from '../detect/cmdline.js';
import { gatherFacts } from '../doctor/facts.js';
import type { Step } from '../mutate/steps.js';
import type { ChangePlan, Refusal } from '../change/types.js';
import { planCmdlineEdit, rerun } from './cmdline-edit.js';
import { diffs, type FileDiff } from './diff.js';
import type { FileChange } from './grub.js';
import { backupPath, manifestPath, sha256, type SetupManifest } from './manifest.js';
import { planVfioModules, vfioLoadedAtBoot } from './modules.js';
import { paramText, type ParamChange } from './params.js';
import { recommend } from './recommend.js';
import { planReset } from '../reset/change.js';

export interface SetupRequest {
  iommu: boolean;
  /** Select vendor-reset's device_specific reset for the reset-bug GPUs (src/reset/change.ts). */
  reset?: boolean;
  /** With reset: only these GPUs (a host config's devices with resetMethod). */
  resetOnly?: string[];
  vfioModules: boolean;
  params: KernelParam[];
  removeParams: string[];
}

export interface SetupView {
  action: 'setup' | 'undo';
  bootloader: { kind: string; reason: string };
  change: { add: string[]; remove: string[] };
  vfioModules: boolean;
  /** The GPUs whose reset_method is set to device_specific. */
  reset: { address: string; family: string; before: string[] }[];
  notes: string[];
  /** What keeps the host from passthrough that setup cannot change (firmware, missing modules); absent for --undo. */
  cannot?: string[];
  files: FileDiff[];
}

/** The kernel's ACS override is an out-of-tree patch; these kernels are known to carry it. */
const ACS_PATCHED = /-(pve|zen|vfio|acso)\b/;
/** Parameters the host needs to find and mount its root filesystem. */
const BOOT_CRITICAL = /^(root|rootflags|rootfstype|rootwait|boot_image|initrd|init|cryptdevice|resume|rd\..+|luks\..+|systemd\.mount-extra)$/;
const IOMMU_KEYS = new Set(['intel_iommu', 'amd_iommu', 'iommu']);

function validate(req: SetupRequest, kernel: string | null): void {
  for (const p of req.params) {
    if (normalizeKey(p.key) === 'amd_iommu' && p.value === 'on') {
      throw new GpuvirtError('E_NOT_A_PARAM', '`amd_iommu=on` is not a kernel option: the kernel ignores it ("AMD-Vi: Unknown option")', {
        exitCode: ExitCode.usage,
        hint: 'AMD-Vi is on whenever the firmware provides the IVRS table; nothing needs to be added',
      });
    }
    if (p.key === 'pcie_acs_override' && !ACS_PATCHED.test(kernel ?? '')) {
      throw new GpuvirtError('E_NO_ACS_PATCH', `kernel ${kernel ?? '?'} does not carry the ACS override patch: pcie_acs_override would do nothing`, {
        exitCode: ExitCode.unsupported,
        hint: 'only patched kernels (Proxmox -pve, -zen, linux-vfio) know it; and it breaks the isolation IOMMU groups promise',
      });
    }
  }
}

/** What the user asked that would stop the host booting, or turn passthrough off. */
function refusals(req: SetupRequest, configured: readonly KernelParam[]): { refusals: Refusal[]; notes: string[] } {
  const out: Refusal[] = [];
  const notes: string[] = [];
  for (const r of req.removeParams) {
    const key = normalizeKey(r.split('=')[0]!).toLowerCase();
    if (BOOT_CRITICAL.test(key)) {
      out.push({ code: 'boot-param', message: `removing ${r} takes away what the host needs to find or mount its root filesystem`, force: 'remove it anyway: the next boot may fail (keep a rescue medium at hand)' });
    }
  }
  for (const p of req.params) {
    const key = normalizeKey(p.key);
    if (IOMMU_KEYS.has(key) && p.value?.split(',').includes('off')) {
      out.push({ code: 'iommu-off', message: `${paramText(p)} turns the IOMMU off: passthrough stops working after the next boot`, force: 'turn it off anyway' });
    }
    const old = configured.find((c) => normalizeKey(c.key) === key);
    if (old && old.value !== p.value) notes.push(`${paramText(old)} is replaced by ${paramText(p)}`);
  }
  return { refusals: out, notes };
}

function fileSteps(changes: readonly FileChange[], runId: string): Step[] {
  const backups: Step[] = changes.flatMap((c) => (c.before === null ? [] : [{ kind: 'file', path: backupPath(runId, c.path), content: c.before, mode: 0o600, like: c.path, dirMode: 0o700, title: `keep a copy of ${c.path} for \`setup --undo\`` } as Step]));
  return [...backups, ...changes.map((c): Step => ({ kind: 'file', path: c.path, content: c.after, title: `${c.before === null ? 'create' : 'edit'} ${c.path}` }))];
}

export async function planSetup(ctx: Ctx, req: SetupRequest): Promise<ChangePlan<SetupView>> {
  const facts = gatherFacts(ctx.host);
  validate(req, facts.kernel);
  const initramfs = detectInitramfs(ctx.host);
  const rec = recommend(facts, vfioLoadedAtBoot(ctx.host), initramfs.kind);
  const chosen = req.iommu || req.vfioModules || Boolean(req.reset) || req.params.length > 0 || req.removeParams.length > 0;
  const change: ParamChange = chosen
    ? { add: [...(req.iommu ? rec.change.add : []), ...req.params], remove: [...(req.iommu ? rec.change.remove : []), ...req.removeParams] }
    : rec.change;
  const vfioModules = chosen ? req.vfioModules : rec.vfioModules;
  if (facts.boot.kind === 'unknown' && (change.add.length || change.remove.length)) {
    throw new GpuvirtError('E_NO_BOOTLOADER', `no bootloader gpuvirt can edit was found: add \`${change.add.map(paramText).join(' ')}\`${change.remove.length ? ` and remove \`${change.remove.join(' ')}\`` : ''} to the kernel command line yourself`, {
      exitCode: ExitCode.unsupported,
      hint: facts.boot.reason,
    });
  }
  const edit = change.add.length || change.remove.length
    ? planCmdlineEdit(ctx.host, facts.boot, facts.cmdline.running, change)
    : { changes: [], commands: [], verify: [] };
  const reset = chosen && !req.reset ? null : planReset(ctx.host, facts, Boolean(req.reset), req.resetOnly);
  const moduleChanges = vfioModules ? planVfioModules(ctx.host, initramfs) : [];
  const changes = [...edit.changes, ...moduleChanges, ...(reset?.rule ? [reset.rule] : [])];
  const rebuild: Step[] = moduleChanges.length && initramfs.rebuild ? [{ kind: 'exec', argv: initramfs.rebuild, title: `rebuild the initramfs (${initramfs.kind})`, undo: [rerun(initramfs.rebuild)] }] : [];
  const runId = (ctx.clock?.() ?? new Date()).toISOString().replace(/[:.]/g, '-');
  const steps = [...fileSteps(changes, runId), ...edit.commands, ...rebuild, ...edit.verify, ...(reset?.steps ?? [])];
  const resetWrites = (reset?.steps ?? []).flatMap((st) => (st.kind === 'write' ? [{ path: st.path, value: st.undo?.[0]?.kind === 'restore-attr' ? st.undo[0].value : '\n' }] : []));
  const asked = refusals({ ...req, params: change.add, removeParams: change.remove }, facts.configuredParams ?? []);
  const manifest: SetupManifest = {
    format: 1, command: 'setup', runId, createdAt: (ctx.clock?.() ?? new Date()).toISOString(), bootloader: facts.boot.kind, change,
    files: changes.map((c) => ({ path: c.path, existed: c.before !== null, afterSha256: sha256(c.after) })),
    commands: [...edit.commands, ...rebuild].flatMap((s) => (s.kind === 'exec' ? [s.argv] : [])), initramfsRebuilt: rebuild.length > 0,
    ...(resetWrites.length ? { resetMethods: resetWrites } : {}),
  };
  if (steps.length) steps.push({ kind: 'file', path: manifestPath(runId), content: `${JSON.stringify(manifest, null, 2)}\n`, mode: 0o600, dirMode: 0o700, title: 'record this setup for `setup --undo`' });
  const notes = [...(chosen ? rec.notes.filter((n) => !n.startsWith('vfio') || vfioModules) : rec.notes), ...asked.notes, ...(reset?.notes ?? [])];
  return {
    view: {
      action: 'setup', bootloader: { kind: facts.boot.kind, reason: facts.boot.reason },
      change: { add: change.add.map(paramText), remove: change.remove }, vfioModules, notes, cannot: rec.cannot, files: await diffs(changes),
      reset: (reset?.gpus ?? []).map((g) => ({ address: g.address, family: g.family, before: g.before })),
    },
    steps, refusals: [...asked.refusals, ...(reset?.refusals ?? [])],
    ...(reset?.expect.length ? { expect: reset.expect.map((e) => ({ fact: { kind: 'attr' as const, path: e.path }, value: e.value })) } : {}),
    question: 'Apply these changes to the boot configuration?',
  };
}
