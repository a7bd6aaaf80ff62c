// Which initramfs generator the host uses, and the command that rebuilds its images.
// Facts: shared host-facts section C (initramfs-tools, dracut.conf(5), mkinitcpio).
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';

export type InitramfsKind = 'initramfs-tools' | 'dracut' | 'mkinitcpio' | 'none';

export interface Initramfs {
  kind: InitramfsKind;
  reason: string;
  /** The rebuild command for every installed kernel, or null when there is no generator. */
  rebuild: string[] | null;
}

function hasProgram(host: Host, name: string): boolean {
  return paths.binDirs.some((d) => host.exists(`${d}/${name}`));
}

export function detectInitramfs(host: Host): Initramfs {
  // A generator counts only with both its configuration and its program: Debian keeps
  // /etc/initramfs-tools around after switching to dracut, for instance.
  if (host.exists(paths.initramfsTools) && hasProgram(host, 'update-initramfs')) {
    return { kind: 'initramfs-tools', reason: `${paths.initramfsTools} and update-initramfs exist`, rebuild: ['update-initramfs', '-u', '-k', 'all'] };
  }
  if (paths.dracutConf.some((p) => host.exists(p)) && hasProgram(host, 'dracut')) {
    return { kind: 'dracut', reason: 'dracut and its configuration exist', rebuild: ['dracut', '--regenerate-all', '--force'] };
  }
  if (host.exists(paths.mkinitcpioConf) && hasProgram(host, 'mkinitcpio')) {
    return { kind: 'mkinitcpio', reason: `${paths.mkinitcpioConf} and mkinitcpio exist`, rebuild: ['mkinitcpio', '-P'] };
  }
  return { kind: 'none', reason: 'no initramfs-tools, dracut or mkinitcpio found', rebuild: null };
}
