import type { CommandDef } from './command.js';
import type { Style } from '../output.js';
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { detectBootloader } from '../boot/bootloader.js';
import { formatParam, normalizeKey, parseCmdline, type KernelParam } from '../detect/cmdline.js';

export interface CmdlineRow {
  key: string;
  running: string | null;
  configured: string | null;
  /** same; `next-boot`: only in the configuration; `this-boot`: only running (bootloader-added or pending removal); `changed`. */
  state: 'same' | 'next-boot' | 'this-boot' | 'changed';
}

export interface CmdlineData {
  running: string | null;
  configured: string | null;
  bootloader: { kind: string; reason: string; configFile: string | null };
  params: CmdlineRow[];
}

/** Last value per normalized key, in first-seen order. */
function byKey(params: readonly KernelParam[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of params) m.set(normalizeKey(p.key), formatParam(p));
  return m;
}

export function compareCmdlines(running: readonly KernelParam[], configured: readonly KernelParam[] | null): CmdlineRow[] {
  const run = byKey(running);
  const conf = byKey(configured ?? []);
  const keys = [...new Set([...run.keys(), ...conf.keys()])];
  return keys.map((key) => {
    const r = run.get(key) ?? null;
    const c = configured === null ? null : conf.get(key) ?? null;
    const state = configured === null || r === c ? 'same' : r === null ? 'next-boot' : c === null ? 'this-boot' : 'changed';
    return { key, running: r, configured: c, state };
  });
}

export function renderCmdline(d: CmdlineData, s: Style): string {
  const out = [s.bold(`Bootloader ${d.bootloader.kind}`) + s.dim(` (${d.bootloader.reason})`), `  running:    ${d.running ?? '(unreadable)'}`, `  configured: ${d.configured ?? '(unknown)'}${d.bootloader.configFile ? s.dim(`  [${d.bootloader.configFile}]`) : ''}`, ''];
  const w = Math.max(8, ...d.params.map((p) => (p.running ?? '').length));
  out.push(s.bold(`  ${'running'.padEnd(w)}  configured`));
  for (const p of d.params) {
    const mark = p.state === 'same' ? '' : p.state === 'next-boot' ? s.yellow('  (next boot)') : p.state === 'changed' ? s.yellow('  (changes at next boot)') : s.dim('  (this boot only)');
    out.push(`  ${(p.running ?? '-').padEnd(w)}  ${p.configured ?? '-'}${mark}`);
  }
  return `${out.join('\n')}\n`;
}

export const cmdline: CommandDef<Record<string, never>, CmdlineData> = {
  name: 'cmdline',
  summary: 'show the running and the configured kernel command line, side by side',
  help: 'Shows /proc/cmdline and the command line the bootloader will use next, parameter by parameter.\nParameters only running are usually added by the bootloader itself (BOOT_IMAGE, root, initrd).',
  linuxOnly: true,
  parse: () => ({}),
  async run(_opts, ctx) {
    const running = readAttr(ctx.host, paths.procCmdline);
    const boot = detectBootloader(ctx.host, readAttr(ctx.host, paths.osrelease));
    const params = compareCmdlines(parseCmdline(running ?? ''), boot.configured === null ? null : parseCmdline(boot.configured));
    return { ok: true, data: { running, configured: boot.configured, bootloader: { kind: boot.kind, reason: boot.reason, configFile: boot.configFile }, params }, warnings: [] };
  },
  render: (d, s) => renderCmdline(d, s),
};
