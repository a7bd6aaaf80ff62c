// Which bootloader this host boots with, where its kernel command line is configured, and
// the exact words to change it. Facts: shared host-facts section C (pve-docs
// system-booting, systemd 90-loaderentry.install, kernelstub).
import { type Host, listIfReadable, readAttr, readIfReadable } from '../host/host.js';
import { paths } from '../host/paths.js';
import { parseShellAssignments } from './shell-vars.js';

export type BootloaderKind = 'grub' | 'grub-bls' | 'systemd-boot' | 'proxmox-boot-tool' | 'kernelstub' | 'unknown';

export interface Bootloader {
  kind: BootloaderKind;
  /** How the kind was decided, for the user to check. */
  reason: string;
  /** The file that holds the configured command line, if any. */
  configFile: string | null;
  /** The command line the next boot will use (as far as the config says), or null when unknown. */
  configured: string | null;
}

function firstLine(host: Host, path: string): string | null {
  const text = readAttr(host, path);
  return text === null ? null : (text.split('\n')[0] ?? '').trim();
}

function grubCmdline(host: Host, variables: readonly string[]): string | null {
  const text = readIfReadable(host, paths.etcDefaultGrub);
  if (text === null) return null;
  let vars = parseShellAssignments(text);
  // Debian and Ubuntu source /etc/default/grub.d/*.cfg after the main file.
  for (const name of listIfReadable(host, `${paths.etcDefaultGrub}.d`) ?? []) {
    if (!name.endsWith('.cfg')) continue;
    const extra = readIfReadable(host, `${paths.etcDefaultGrub}.d/${name}`);
    if (extra !== null) vars = parseShellAssignments(extra, vars);
  }
  return variables.map((v) => vars[v] ?? '').filter((s) => s.trim() !== '').join(' ').trim();
}

function loaderEntriesDir(host: Host): string | null {
  return paths.loaderEntryDirs.find((d) => (listIfReadable(host, d) ?? []).some((f) => f.endsWith('.conf'))) ?? null;
}

function loaderEntryOptions(host: Host, dir: string, release: string | null): string | null {
  const entries = (listIfReadable(host, dir) ?? []).filter((f) => f.endsWith('.conf'));
  const pick = entries.find((f) => release !== null && f.includes(release)) ?? entries[entries.length - 1];
  if (!pick) return null;
  const text = readIfReadable(host, `${dir}/${pick}`) ?? '';
  const opts = text.split('\n').filter((l) => /^options\s/.test(l)).map((l) => l.replace(/^options\s+/, '').trim());
  return opts.length ? opts.join(' ') : null;
}

export function detectBootloader(host: Host, release: string | null): Bootloader {
  const kernelCmdline = firstLine(host, paths.etcKernelCmdline);
  if (host.exists(paths.proxmoxBootUuids) && kernelCmdline !== null) {
    return {
      kind: 'proxmox-boot-tool',
      reason: `${paths.proxmoxBootUuids} and ${paths.etcKernelCmdline} exist (Proxmox VE, ESPs synced by proxmox-boot-tool)`,
      configFile: paths.etcKernelCmdline,
      configured: kernelCmdline,
    };
  }
  if (host.exists(paths.kernelstubConfig)) {
    return {
      kind: 'kernelstub',
      reason: `${paths.kernelstubConfig} exists (Pop!_OS kernelstub)`,
      configFile: paths.kernelstubConfig,
      configured: kernelstubOptions(host),
    };
  }
  const entries = loaderEntriesDir(host);
  const grub2 = paths.grub2Dirs.find((d) => host.exists(d));
  const grubText = readIfReadable(host, paths.etcDefaultGrub);
  // Fedora and RHEL patch GRUB to read BootLoaderSpec entries (GRUB_ENABLE_BLSCFG=true), edited
  // by grubby; /boot/grub2 alone is no sign: it may be on another partition, or not mounted.
  const os = readOsRelease(host);
  const blscfg = grubText !== null && parseShellAssignments(grubText).GRUB_ENABLE_BLSCFG === 'true';
  const evidence = [os.redhat && `ID=${os.id} in /etc/os-release`, blscfg && `GRUB_ENABLE_BLSCFG=true in ${paths.etcDefaultGrub}`, grub2 && `${grub2} exists`].filter(Boolean) as string[];
  if ((grub2 && entries) || (blscfg && (entries || os.redhat || grub2))) {
    return {
      kind: 'grub-bls',
      reason: `GRUB with BootLoaderSpec entries${entries ? ` in ${entries}` : ''}, managed by grubby (Fedora/RHEL): ${evidence.join(', ')}`,
      configFile: entries,
      configured: entries ? loaderEntryOptions(host, entries, release) : null,
    };
  }
  if (grubText !== null) {
    const fedora = grub2 !== undefined || os.redhat;
    return {
      kind: 'grub',
      reason: `${paths.etcDefaultGrub} exists${fedora ? ` (Fedora/RHEL layout: ${evidence.join(', ')})` : ''}`,
      configFile: paths.etcDefaultGrub,
      configured: grubCmdline(host, fedora ? ['GRUB_CMDLINE_LINUX'] : ['GRUB_CMDLINE_LINUX', 'GRUB_CMDLINE_LINUX_DEFAULT']),
    };
  }
  if (entries || kernelCmdline !== null) {
    return {
      kind: 'systemd-boot',
      reason: entries ? `loader entries in ${entries} and no GRUB configuration` : `${paths.etcKernelCmdline} exists and no GRUB configuration`,
      configFile: kernelCmdline !== null ? paths.etcKernelCmdline : entries,
      configured: kernelCmdline ?? (entries ? loaderEntryOptions(host, entries, release) : null),
    };
  }
  return { kind: 'unknown', reason: 'no GRUB, systemd-boot, Proxmox or kernelstub configuration found', configFile: null, configured: null };
}

/** The distribution from os-release(5): its ID, and whether it is of the Fedora/RHEL family (ID or ID_LIKE). */
function readOsRelease(host: Host): { id: string | null; redhat: boolean } {
  const text = paths.osRelease.map((p) => readIfReadable(host, p)).find((t) => t !== null) ?? '';
  const vars = parseShellAssignments(text);
  const id = vars.ID?.trim() || null;
  const family = [id ?? '', ...(vars.ID_LIKE ?? '').split(/\s+/)];
  return { id, redhat: family.some((x) => /^(fedora|rhel|centos|rocky|almalinux|ol|amzn)$/.test(x)) };
}

function kernelstubOptions(host: Host): string | null {
  try {
    const cfg = JSON.parse(readIfReadable(host, paths.kernelstubConfig) ?? 'null') as { user?: { kernel_options?: unknown } } | null;
    const opts = cfg?.user?.kernel_options;
    return Array.isArray(opts) ? opts.map(String).join(' ') : null;
  } catch {
    return null;
  }
}

/** The exact steps to add (or remove) kernel parameters with this bootloader. */
export function cmdlineRemedy(boot: Bootloader, change: { add?: string[]; remove?: string[] }): string {
  const add = (change.add ?? []).join(' ');
  const remove = (change.remove ?? []).join(' ');
  const what = [add && `add \`${add}\``, remove && `remove \`${remove}\``].filter(Boolean).join(' and ');
  switch (boot.kind) {
    case 'grub':
      return boot.reason.includes('Fedora')
        ? `${what} in GRUB_CMDLINE_LINUX in /etc/default/grub, run \`grub2-mkconfig -o /boot/grub2/grub.cfg\`, then reboot`
        : `${what} in GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, run \`update-grub\`, then reboot`;
    case 'grub-bls':
      return [add && `run \`grubby --update-kernel=ALL --args="${add}"\``, remove && `run \`grubby --update-kernel=ALL --remove-args="${remove}"\``]
        .filter(Boolean)
        .join(' and ') + ', then reboot';
    case 'proxmox-boot-tool':
      return `${what} on the single line of /etc/kernel/cmdline, run \`proxmox-boot-tool refresh\`, then reboot`;
    case 'systemd-boot':
      return `${what} in /etc/kernel/cmdline, run \`kernel-install add "$(uname -r)" "/lib/modules/$(uname -r)/vmlinuz"\` (or edit the \`options\` line of the entry in ${boot.configFile ?? '/boot/loader/entries'}), then reboot`;
    case 'kernelstub':
      return [add && `run \`kernelstub -a "${add}"\``, remove && `run \`kernelstub -d "${remove}"\``].filter(Boolean).join(' and ') + ', then reboot';
    case 'unknown':
      return `${what} on the kernel command line in your bootloader's configuration, then reboot`;
  }
}
