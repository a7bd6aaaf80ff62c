// The early files of boot-time passthrough, per device address (so one of two identical GPUs
// can stay with the host), generated from the boot record (host.yaml, src/hostconfig/record.ts):
// a udev rule sets driver_override when the device appears, a softdep loads the passthrough
// driver before the host driver, and the initramfs carries both so the binding happens before
// any host driver in the initramfs can claim the device, before any unit could run. Every file
// is gpuvirt's own and generated whole from the list of recorded devices.
import { rerun } from '../setup/cmdline-edit.js';
import { paths } from '../host/paths.js';
import { HOST_STATE } from '../hostconfig/boot.js';
import type { Host } from '../host/host.js';
import type { Step } from '../mutate/steps.js';
import type { Initramfs } from '../boot/initramfs.js';
import type { PassthroughDriver } from '../state.js';
import { checkAddress, checkName, checkOneOf } from '../validate.js';

export interface PersistedDevice {
  address: string;
  target: PassthroughDriver;
  /** The host driver's module that must load after the passthrough driver. */
  originalModule: string | null;
}

const HEADER = `# Written by gpuvirt from its boot record ${HOST_STATE} (passthrough --persist, host apply --persist); \`gpuvirt host unpersist\` removes it.\n`;
const VFIO_MODULES = ['vfio', 'vfio_iommu_type1', 'vfio_pci'];

function modulesFor(devices: readonly PersistedDevice[]): string[] {
  for (const d of devices) checkOneOf(d.target, 'the passthrough driver', ['vfio-pci', 'pci-stub'] as const);
  const mods = devices.some((d) => d.target === 'vfio-pci') ? [...VFIO_MODULES] : [];
  if (devices.some((d) => d.target === 'pci-stub')) mods.push('pci_stub');
  return mods;
}

/**
 * The override is set while udev handles the device's add event, before its modalias loads a
 * host driver. A host driver that was already loaded (for another device) may have bound it
 * first during coldplug: then the RUN part unbinds it and lets the kernel re-probe, which
 * honours the override. `%k` is the device; `$$` is a literal `$` for the shell.
 */
function ruleLine(d: PersistedDevice): string {
  checkAddress(d.address, 'the device address', paths.persist.udevRule);
  checkOneOf(d.target, 'the passthrough driver', ['vfio-pci', 'pci-stub'] as const, paths.persist.udevRule);
  const dev = `${paths.pciDevices}/%k`;
  const fix = `[ -e ${dev}/driver ] || exit 0; case $$(readlink ${dev}/driver) in */${d.target}) exit 0;; esac; ` +
    `echo %k > ${dev}/driver/unbind; echo %k > ${paths.pciDriversProbe}`;
  return `ACTION=="add", SUBSYSTEM=="pci", KERNEL=="${d.address}", ATTR{driver_override}="${d.target}", RUN+="/bin/sh -c '${fix}'"`;
}

export function udevRule(devices: readonly PersistedDevice[]): string {
  return `${HEADER}# Only the named driver may bind these devices from the moment they appear.\n${devices.map(ruleLine).join('\n')}\n`;
}

export function modprobeConf(devices: readonly PersistedDevice[]): string {
  const pairs = new Map<string, Set<string>>();
  for (const d of devices) {
    if (!d.originalModule || d.originalModule === d.target.replace('-', '_')) continue;
    checkName(d.originalModule, `the module of ${d.address}'s driver`, paths.persist.modprobe);
    const pre = pairs.get(d.originalModule) ?? new Set<string>();
    pre.add(d.target === 'vfio-pci' ? 'vfio-pci' : 'pci-stub');
    pairs.set(d.originalModule, pre);
  }
  const lines = [...pairs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([mod, pre]) => `softdep ${mod} pre: ${[...pre].sort().join(' ')}`);
  return `${HEADER}# Load the passthrough driver before the host drivers of those devices.\n${lines.join('\n')}${lines.length ? '\n' : ''}`;
}

function initramfsFile(kind: Initramfs['kind'], devices: readonly PersistedDevice[]): { path: string; content: string; mode?: number } | null {
  const mods = modulesFor(devices);
  const files = [paths.persist.udevRule, paths.persist.modprobe];
  switch (kind) {
    case 'initramfs-tools':
      return {
        path: paths.persist.initramfsToolsHook,
        mode: 0o755,
        content: [
          '#!/bin/sh',
          HEADER.trimEnd(),
          '# Puts the passthrough driver and gpuvirt\'s udev rule into the initramfs.',
          'PREREQ="udev"',
          'prereqs() { echo "$PREREQ"; }',
          'case "$1" in prereqs) prereqs; exit 0 ;; esac',
          '. /usr/share/initramfs-tools/hook-functions',
          `manual_add_modules ${mods.join(' ')}`,
          'mkdir -p "${DESTDIR}/lib/udev/rules.d"',
          `cp ${paths.persist.udevRule} "\${DESTDIR}/lib/udev/rules.d/"`,
          '',
        ].join('\n'),
      };
    case 'dracut':
      return { path: paths.persist.dracut, content: `${HEADER}force_drivers+=" ${mods.join(' ')} "\ninstall_items+=" ${files.join(' ')} "\n` };
    case 'mkinitcpio':
      return { path: paths.persist.mkinitcpio, content: `${HEADER}MODULES+=(${mods.join(' ')})\nFILES+=(${files.join(' ')})\n` };
    case 'none':
      return null;
  }
}

/** Steps that make gpuvirt's boot-time files match `devices` (none: remove them), then rebuild the initramfs. */
export function planPersist(host: Host, devices: readonly PersistedDevice[], initramfs: Initramfs): Step[] {
  const sorted = [...devices].sort((a, b) => (a.address < b.address ? -1 : 1));
  const wanted = new Map<string, { content: string; mode?: number } | null>();
  const every = [paths.persist.udevRule, paths.persist.modprobe, paths.persist.initramfsToolsHook, paths.persist.dracut, paths.persist.mkinitcpio];
  for (const p of every) wanted.set(p, null);
  if (sorted.length) {
    wanted.set(paths.persist.udevRule, { content: udevRule(sorted) });
    wanted.set(paths.persist.modprobe, { content: modprobeConf(sorted) });
    const extra = initramfsFile(initramfs.kind, sorted);
    if (extra) wanted.set(extra.path, { content: extra.content, mode: extra.mode });
  }
  const steps: Step[] = [];
  for (const [path, want] of wanted) {
    const now = host.readText(path);
    if (want === null && now !== null) steps.push({ kind: 'remove-file', path, title: `remove ${path}` });
    if (want !== null && now !== want.content) steps.push({ kind: 'file', path, content: want.content, mode: want.mode, title: `write ${path}` });
  }
  if (steps.length && initramfs.rebuild) {
    steps.push({ kind: 'exec', argv: initramfs.rebuild, title: `rebuild the initramfs (${initramfs.kind})`, undo: [rerun(initramfs.rebuild)] });
  }
  return steps;
}
