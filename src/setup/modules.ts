// Loading the vfio modules at boot: systemd's modules-load.d for the running system, and the
// initramfs generator's own module list so vfio-pci is there before any GPU driver.
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import type { Initramfs } from '../boot/initramfs.js';
import type { FileChange } from './grub.js';

export const VFIO_BOOT_MODULES = ['vfio', 'vfio_iommu_type1', 'vfio_pci'];
const HEADER = '# Written by gpuvirt setup --vfio-modules; `gpuvirt setup --undo` restores the previous state.\n';

const listed = (text: string | null, mod: string) =>
  (text ?? '').split('\n').some((l) => l.replace(/#.*/, '').trim().split(/\s+/)[0]?.replace(/-/g, '_') === mod);

/** True when something already loads vfio_pci at boot (any modules-load.d file, /etc/modules or the initramfs list). */
export function vfioLoadedAtBoot(host: Host): boolean {
  const files = [
    ...(host.list(paths.modulesLoadDir) ?? []).filter((n) => n.endsWith('.conf')).map((n) => `${paths.modulesLoadDir}/${n}`),
    paths.etcModules,
    paths.initramfsToolsModules,
  ];
  return files.some((f) => listed(host.readText(f), 'vfio_pci'));
}

function appendMissing(text: string | null, mods: readonly string[]): string | null {
  const missing = mods.filter((m) => !listed(text, m));
  if (!missing.length) return null;
  const base = text ?? '';
  return `${base}${base === '' || base.endsWith('\n') ? '' : '\n'}${missing.join('\n')}\n`;
}

export function planVfioModules(host: Host, initramfs: Initramfs): FileChange[] {
  const changes: FileChange[] = [];
  const add = (path: string, after: string | null) => {
    const before = host.readText(path);
    if (after !== null && after !== before) changes.push({ path, before, after });
  };
  add(paths.setupFiles.modulesLoad, `${HEADER}${VFIO_BOOT_MODULES.join('\n')}\n`);
  switch (initramfs.kind) {
    case 'initramfs-tools':
      add(paths.initramfsToolsModules, appendMissing(host.readText(paths.initramfsToolsModules), VFIO_BOOT_MODULES));
      break;
    case 'dracut':
      add(paths.setupFiles.dracut, `${HEADER}force_drivers+=" ${VFIO_BOOT_MODULES.join(' ')} "\n`);
      break;
    case 'mkinitcpio':
      add(paths.setupFiles.mkinitcpio, `${HEADER}MODULES+=(${VFIO_BOOT_MODULES.join(' ')})\n`);
      break;
    case 'none':
      break;
  }
  return changes;
}
