// Changing the configured kernel command line with the bootloader this host boots with.
// File edits are returned as FileChange (shown as diffs, written atomically with backups);
// the bootloader's own tool runs afterwards, and a verify step reads the result back.
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import type { Bootloader } from '../boot/bootloader.js';
import type { Step } from '../mutate/steps.js';
import type { Undo } from '../change/undo.js';
import { planGrubEdit, type FileChange } from './grub.js';
import { applyChange, paramText, splitWords, type ParamChange } from './params.js';

/** A bootloader tool run again on rollback, after the files it reads are back. */
export const rerun = (argv: string[]): Undo => ({ kind: 'run', argv, title: `run ${argv.join(' ')} again`, late: true });

export interface CmdlineEdit {
  changes: FileChange[];
  /** Programs to run after the files are written (update-grub, grubby, ...). */
  commands: Step[];
  verify: Step[];
}

/** Parameters a bootloader adds itself; kernel-install drops them when it seeds /etc/kernel/cmdline. */
const RUNTIME_ONLY = /^(BOOT_IMAGE|initrd)=/;

function editLine(before: string | null, seed: string, change: ParamChange): string | null {
  const text = before ?? `${seed}\n`;
  const [first = '', ...rest] = text.split('\n');
  const words = applyChange(splitWords(first), change);
  if (!words) return before === null ? text : null;
  return [words.join(' '), ...rest].join('\n');
}

function loaderEntries(host: Host, dir: string | null): string[] {
  if (!dir) return [];
  return (host.list(dir) ?? []).filter((n) => n.endsWith('.conf')).map((n) => `${dir}/${n}`);
}

/** systemd-boot entries: only the `options` lines change. */
function editEntry(text: string, change: ParamChange): string | null {
  let changed = false;
  const out = text.split('\n').map((line) => {
    const m = /^(options\s+)(.*)$/.exec(line);
    if (!m) return line;
    const words = applyChange(splitWords(m[2]!), change);
    if (!words) return line;
    changed = true;
    return `${m[1]}${words.join(' ')}`;
  });
  return changed ? out.join('\n') : null;
}

function grubCfg(host: Host): string | null {
  return paths.grubCfg.find((p) => host.exists(p)) ?? null;
}

function verifyText(path: string | null, change: ParamChange, what: string): Step[] {
  if (!path || (!change.add.length && !change.remove.length)) return [];
  return [{ kind: 'verify-text', path, contains: change.add.map(paramText), absent: change.remove, title: `${what} has the new parameters` }];
}

export function planCmdlineEdit(host: Host, boot: Bootloader, running: string | null, change: ParamChange): CmdlineEdit {
  const seed = splitWords(running ?? '').filter((w) => !RUNTIME_ONLY.test(w)).join(' ');
  const add = change.add.map(paramText).join(' ');
  const remove = change.remove.join(' ');
  switch (boot.kind) {
    case 'grub': {
      const fedora = boot.reason.includes('Fedora');
      const changes = planGrubEdit(host, fedora ? 'GRUB_CMDLINE_LINUX' : 'GRUB_CMDLINE_LINUX_DEFAULT', change);
      const cfg = grubCfg(host) ?? (fedora ? '/boot/grub2/grub.cfg' : '/boot/grub/grub.cfg');
      const cmd = fedora ? ['grub2-mkconfig', '-o', cfg] : ['update-grub'];
      return {
        changes,
        commands: changes.length ? [{ kind: 'exec', argv: cmd, title: 'regenerate grub.cfg', undo: [rerun(cmd)] }] : [],
        verify: changes.length ? verifyText(grubCfg(host), change, cfg) : [],
      };
    }
    case 'grub-bls': {
      // grubby edits every installed kernel's entry; GRUB_CMDLINE_LINUX is what new kernels get.
      const changes = planGrubEdit(host, 'GRUB_CMDLINE_LINUX', change);
      const argv = ['grubby', '--update-kernel=ALL', ...(add ? [`--args=${add}`] : []), ...(remove ? [`--remove-args=${remove}`] : [])];
      const addedKeys = change.add.map((p) => p.key).join(' ');
      const inverse = ['grubby', '--update-kernel=ALL', ...(remove ? [`--args=${remove}`] : []), ...(addedKeys ? [`--remove-args=${addedKeys}`] : [])];
      const entries = loaderEntries(host, boot.configFile);
      return {
        changes,
        commands: add || remove ? [{ kind: 'exec', argv, title: 'update every boot entry with grubby', undo: [rerun(inverse)] }] : [],
        verify: entries.flatMap((e) => verifyText(e, change, e)),
      };
    }
    case 'proxmox-boot-tool':
    case 'systemd-boot': {
      const changes: FileChange[] = [];
      const before = host.readText(paths.etcKernelCmdline);
      const after = editLine(before, seed, change);
      if (after !== null) changes.push({ path: paths.etcKernelCmdline, before, after });
      if (boot.kind === 'systemd-boot') {
        const dir = paths.loaderEntryDirs.find((d) => (host.list(d) ?? []).some((n) => n.endsWith('.conf'))) ?? null;
        for (const e of loaderEntries(host, dir)) {
          const text = host.readText(e) ?? '';
          const next = editEntry(text, change);
          if (next !== null) changes.push({ path: e, before: text, after: next });
        }
      }
      const refresh = ['proxmox-boot-tool', 'refresh'];
      const commands: Step[] = boot.kind === 'proxmox-boot-tool' && changes.length ? [{ kind: 'exec', argv: refresh, title: 'copy the new command line to every ESP', undo: [rerun(refresh)] }] : [];
      return { changes, commands, verify: verifyText(paths.etcKernelCmdline, change, paths.etcKernelCmdline) };
    }
    case 'kernelstub': {
      const commands: Step[] = [];
      if (add) commands.push({ kind: 'exec', argv: ['kernelstub', '-a', add], title: 'add the parameters with kernelstub', undo: [rerun(['kernelstub', '-d', add])] });
      if (remove) commands.push({ kind: 'exec', argv: ['kernelstub', '-d', remove], title: 'remove the parameters with kernelstub', undo: [rerun(['kernelstub', '-a', remove])] });
      return { changes: [], commands, verify: verifyText(paths.kernelstubConfig, change, paths.kernelstubConfig) };
    }
    case 'unknown':
      return { changes: [], commands: [], verify: [] };
  }
}
