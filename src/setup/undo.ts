// `setup --undo`: every file of the last setup back byte for byte from its backup (or removed
// when setup created it), then the bootloader's tool again, with the inverse change where
// the tool itself holds the command line (grubby, kernelstub).
import type { Ctx } from '../context.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import { detectBootloader } from '../boot/bootloader.js';
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import type { Step } from '../mutate/steps.js';
import type { ChangePlan } from '../change/types.js';
import type { SetupView } from './change.js';
import { rerun } from './cmdline-edit.js';
import { diffs } from './diff.js';
import { backupPath, lastSetup, manifestPath, sha256, type SetupManifest } from './manifest.js';
import { paramText } from './params.js';

function inverseCommand(m: SetupManifest, argv: string[]): string[] {
  const added = m.change.add.map(paramText).join(' ');
  const addedKeys = m.change.add.map((p) => p.key).join(' ');
  const removed = m.change.remove.join(' ');
  if (argv[0] === 'grubby') return ['grubby', '--update-kernel=ALL', ...(removed ? [`--args=${removed}`] : []), ...(addedKeys ? [`--remove-args=${addedKeys}`] : [])];
  if (argv[0] === 'kernelstub' && argv[1] === '-a') return ['kernelstub', '-d', added];
  if (argv[0] === 'kernelstub' && argv[1] === '-d') return ['kernelstub', '-a', removed];
  return argv;
}

export async function planUndo(ctx: Ctx): Promise<ChangePlan<SetupView>> {
  const m = lastSetup(ctx.host);
  if (!m) {
    throw new GpuvirtError('E_NOTHING_TO_UNDO', 'no setup to undo: gpuvirt has no record of one on this host', { exitCode: ExitCode.failed });
  }
  const changes: { path: string; before: string | null; after: string | null }[] = [];
  const changed: string[] = [];
  for (const f of m.files) {
    const now = ctx.host.readText(f.path);
    if (now !== null && sha256(now) !== f.afterSha256) changed.push(f.path);
    const original = f.existed ? ctx.host.readText(backupPath(m.runId, f.path)) : null;
    if (f.existed && original === null) throw new GpuvirtError('E_BACKUP_MISSING', `the backup of ${f.path} from ${m.runId} is missing`, { exitCode: ExitCode.failed });
    if (now !== original) changes.push({ path: f.path, before: now, after: original });
  }
  const steps: Step[] = changes.map((c) => (c.after === null
    ? { kind: 'remove-file', path: c.path, title: `remove ${c.path} (setup created it)` }
    : { kind: 'file', path: c.path, content: c.after, title: `restore ${c.path}` }));
  for (const r of m.resetMethods ?? []) {
    // Only a reset_method still as setup left it goes back; the GPU may be gone or set since.
    if (!/\/reset_method$/.test(r.path) || !ctx.host.exists(r.path) || readAttr(ctx.host, r.path) !== 'device_specific') continue;
    steps.push({ kind: 'write', path: r.path, value: r.value, title: `give ${r.path.split('/').at(-2)} its reset methods back`, undo: [{ kind: 'restore-attr', path: r.path, value: 'device_specific' }] });
  }
  for (const argv of m.commands) steps.push({ kind: 'exec', argv: inverseCommand(m, argv), title: `run ${argv[0]} again`, undo: [rerun(argv)] });
  if (steps.length) {
    const undone: SetupManifest = { ...m, undone: (ctx.clock?.() ?? new Date()).toISOString() };
    steps.push({ kind: 'file', path: manifestPath(m.runId), content: `${JSON.stringify(undone, null, 2)}\n`, mode: 0o600, title: `mark setup ${m.runId} as undone` });
  }
  const boot = detectBootloader(ctx.host, readAttr(ctx.host, paths.osrelease));
  return {
    view: {
      action: 'undo', bootloader: { kind: boot.kind, reason: `undoing setup ${m.runId}` },
      change: { add: m.change.remove, remove: m.change.add.map(paramText) }, vfioModules: false, reset: [], notes: [],
      files: await diffs(changes),
    },
    steps,
    refusals: changed.length ? [{ code: 'changed-since', message: `changed since setup ${m.runId}: ${changed.join(', ')}`, force: 'restore them anyway: those later edits are lost' }] : [],
    question: 'Restore these files?',
  };
}
