// The host side of Looking Glass with the kvmfr module (looking-glass.io, "IVSHMEM with the KVMFR
// module"): `options kvmfr static_size_mb=N` makes /dev/kvmfr0 of N MiB when the module loads,
// modules-load.d loads it at boot, and a udev rule gives the device to the user running
// looking-glass-client and to a group QEMU is in (the kernel makes it root-only). gpuvirt writes
// its own three files, never the kvmfr.conf or 99-kvmfr.rules a user may have, and warns when
// another modprobe.d file sets kvmfr's options too. kvmfr itself is built from Looking Glass's
// source (DKMS): gpuvirt does not install or load it.
import type { Host } from '../host/host.js';
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import type { Step } from '../mutate/steps.js';
import { sizeMiB } from './derived.js';
import type { Profile } from './schema.js';

export const KVMFR_OPTIONS = '/etc/modprobe.d/gpuvirt-kvmfr.conf';
export const KVMFR_LOAD = '/etc/modules-load.d/gpuvirt-kvmfr.conf';
export const KVMFR_UDEV = '/etc/udev/rules.d/99-gpuvirt-kvmfr.rules';

const NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

export function kvmfrFiles(lg: NonNullable<Profile['lookingGlass']>): { path: string; content: string; what: string }[] {
  const mib = sizeMiB(lg.size);
  // Checked again here: these values end up in a udev rule and a modprobe.d line.
  if (!Number.isInteger(mib) || mib <= 0 || (lg.user !== undefined && !NAME.test(lg.user)) || !NAME.test(lg.group)) {
    throw new Error(`lookingGlass: not a size, user and group gpuvirt writes: ${lg.size} ${lg.user ?? ''} ${lg.group}`);
  }
  const owner = lg.user ? `OWNER="${lg.user}", ` : '';
  return [
    { path: KVMFR_OPTIONS, what: `kvmfr makes /dev/kvmfr0 of ${mib} MiB`, content: `# Written by gpuvirt apply: Looking Glass's shared memory, /dev/kvmfr0.\noptions kvmfr static_size_mb=${mib}\n` },
    { path: KVMFR_LOAD, what: 'load kvmfr at boot', content: '# Written by gpuvirt apply: Looking Glass\'s kvmfr module, loaded at boot.\nkvmfr\n' },
    {
      path: KVMFR_UDEV, what: `/dev/kvmfr0 for ${lg.user ? `${lg.user} and ` : ''}group ${lg.group}`,
      content: `# Written by gpuvirt apply: /dev/kvmfr0 for QEMU and looking-glass-client.\nSUBSYSTEM=="kvmfr", ${owner}GROUP="${lg.group}", MODE="0660"\n`,
    },
  ];
}

/** The file steps (only those whose file differs) and what the host shows about kvmfr. */
export function planLookingGlass(host: Host, profile: Profile): { steps: Step[]; warnings: string[] } {
  const lg = profile.lookingGlass;
  if (lg?.device !== 'kvmfr') return { steps: [], warnings: [] };
  const steps: Step[] = kvmfrFiles(lg)
    .filter((f) => host.readText(f.path) !== f.content)
    .map((f) => ({ kind: 'file', path: f.path, content: f.content, mode: 0o644, title: `Looking Glass: ${f.what} (${f.path})` }));
  const warnings: string[] = [];
  const mib = String(sizeMiB(lg.size));
  for (const name of host.list('/etc/modprobe.d') ?? []) {
    const path = `/etc/modprobe.d/${name}`;
    if (path !== KVMFR_OPTIONS && name.endsWith('.conf') && /^\s*options\s+kvmfr\s/m.test(host.readText(path) ?? '')) {
      warnings.push(`${path} sets kvmfr's options too: modprobe applies both, the later one last; remove it to keep ${KVMFR_OPTIONS}'s static_size_mb=${mib}`);
    }
  }
  if (!host.exists(paths.sysModule('kvmfr'))) {
    warnings.push('kvmfr is not loaded: it loads at the next boot, or now with `modprobe kvmfr` (Looking Glass\'s module, installed from its source with DKMS)');
  } else {
    const now = readAttr(host, paths.moduleParam('kvmfr', 'static_size_mb'));
    if (now !== null && now.split(',')[0] !== mib) warnings.push(`kvmfr is loaded with static_size_mb=${now}: /dev/kvmfr0 gets ${mib} MiB once it is loaded again (\`modprobe -r kvmfr; modprobe kvmfr\` with no VM using it, or a reboot)`);
    if (steps.some((s) => s.kind === 'file' && s.path === KVMFR_UDEV)) warnings.push('the udev rule applies to /dev/kvmfr0 when it appears: `udevadm trigger --subsystem-match=kvmfr` applies it now');
  }
  return { steps, warnings };
}
