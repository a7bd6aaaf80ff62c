// The host config applied again at every boot. `host apply --persist` records which config this
// host keeps: a copy of the file in /etc/gpuvirt/host.yaml and one systemd unit,
// gpuvirt-host.service, whose ExecStart names the config. At boot the unit runs `host apply
// --boot`, which waits (bounded) for the devices and the PF drivers, applies through the change
// engine, logs to the journal through stdout/stderr, and never reboots: when the kernel command
// line still differs it exits with its own status. The unit has no Restart=: every retry is
// the bounded wait inside one run, so a host that cannot reach its state fails once per boot.
import type { Host } from '../host/host.js';
import type { Step } from '../mutate/steps.js';
import type { Undo } from '../change/undo.js';
import { unsafeValue } from '../validate.js';
import { paths } from '../host/paths.js';
import type { GpuvirtState } from '../state.js';
import { VGPU_UNIT } from '../vgpu/persist.js';

export const HOST_STATE = '/etc/gpuvirt/host.yaml';
export const HOST_UNIT_NAME = 'gpuvirt-host.service';
export const HOST_UNIT = `/etc/systemd/system/${HOST_UNIT_NAME}`;
/** Where `systemctl enable` links the unit (its WantedBy=). */
export const HOST_UNIT_WANTS = `/etc/systemd/system/multi-user.target.wants/${HOST_UNIT_NAME}`;
/** The files generated from the record that act before any unit can (early.ts writes them). */
export const EARLY_FILES = [paths.persist.udevRule, paths.persist.modprobe, paths.persist.initramfsToolsHook, paths.persist.dracut, paths.persist.mkinitcpio, paths.sriovPersist.udevRule, paths.sriovPersist.gimOptions];
/** The units of an earlier gpuvirt, which kept NVIDIA VFs and their vGPU types its own way. */
export const LEGACY_UNITS = [paths.sriovPersist.nvidiaUnit, VGPU_UNIT];

/**
 * Whether the host keeps anything at boot that gpuvirt wrote: the record, its unit, an early
 * file, or what an earlier version kept (state.json flags and vGPU records, its units). Asked
 * first, so the record's reader (YAML, the schema) is loaded only where there is something to read.
 */
export function keepsAnything(host: Host, state: GpuvirtState): boolean {
  if ([HOST_STATE, HOST_UNIT, ...EARLY_FILES, ...LEGACY_UNITS].some((f) => host.exists(f))) return true;
  return Object.values(state.devices).some((d) => d.persisted) || Object.values(state.sriov ?? {}).some((r) => r.persisted) || Object.keys(state.vgpu ?? {}).length > 0;
}

/** How long the unit waits for devices and PF drivers before it gives up for this boot. */
export const BOOT_WAIT_SECONDS = 120;

const CONFIG_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/**
 * The unit. `gpuvirt` is found on systemd's own search path (/usr/local/bin, /usr/bin, ...; systemd
 * 239 and later), so the deb, the executable and npm installs all work. Ordered after modules
 * and the udev coldplug (the PF drivers), and before the VM managers start guests.
 */
export function hostUnit(configName: string): string {
  // The name lands in ExecStart: only what a config name may hold, and never a `%` specifier.
  if (!CONFIG_NAME.test(configName)) throw unsafeValue('the config name', configName, 'letters, digits, "_", "." and "-"', HOST_UNIT);
  return [
    '# Written by gpuvirt (gpuvirt host apply --persist); `gpuvirt host unpersist` removes it.',
    '[Unit]',
    `Description=Apply gpuvirt host config ${configName} (${HOST_STATE})`,
    'After=systemd-modules-load.service systemd-udev-trigger.service local-fs.target',
    'Before=libvirtd.service virtqemud.service pve-guests.service',
    `ConditionPathExists=${HOST_STATE}`,
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=gpuvirt host apply --boot -f ${HOST_STATE} -c ${configName} --wait-ready ${BOOT_WAIT_SECONDS}`,
    // The wait above, the change and its rollback fit in this; the unit is never restarted.
    `TimeoutStartSec=${BOOT_WAIT_SECONDS + 180}`,
    'SyslogIdentifier=gpuvirt-host',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

const reload: Step = { kind: 'exec', argv: ['systemctl', 'daemon-reload'], title: 'reload systemd units', undo: [{ kind: 'run', argv: ['systemctl', 'daemon-reload'], title: 'reload systemd units', late: true }] };
const enable = ['systemctl', 'enable', HOST_UNIT_NAME];
const disable = ['systemctl', 'disable', HOST_UNIT_NAME];

/** The config this host re-applies at boot, as recorded: null when none is. */
export function persistedConfig(host: Host): { config: string | null; unit: boolean; file: boolean; enabled: boolean } {
  const unit = host.readText(HOST_UNIT);
  const name = unit?.match(/^ExecStart=.* -c (\S+)/m)?.[1] ?? null;
  return { config: name, unit: unit !== null, file: host.readText(HOST_STATE) !== null, enabled: host.readLink(HOST_UNIT_WANTS) !== null };
}

/** Steps that record `text` (the config file) and `configName` as what this host applies at boot. */
export function planHostPersist(host: Host, text: string, configName: string): Step[] {
  const unit = hostUnit(configName);
  const steps: Step[] = [];
  if (host.readText(HOST_STATE) !== text) steps.push({ kind: 'file', path: HOST_STATE, content: text, mode: 0o644, title: `record the host config in ${HOST_STATE}` });
  const unitChanges = host.readText(HOST_UNIT) !== unit;
  if (unitChanges) steps.push({ kind: 'file', path: HOST_UNIT, content: unit, mode: 0o644, title: `write ${HOST_UNIT} (apply config ${configName} at boot)` }, reload);
  if (host.readLink(HOST_UNIT_WANTS) === null) {
    // systemctl disable leaves the .wants directory enable made: the undo takes it too when empty.
    const wants = HOST_UNIT_WANTS.slice(0, HOST_UNIT_WANTS.lastIndexOf('/'));
    const undo: Undo[] = [{ kind: 'run', argv: disable, title: `disable ${HOST_UNIT_NAME}` }, { kind: 'restore-file', path: HOST_UNIT_WANTS, content: null, mode: null, ...(host.exists(wants) ? {} : { dirs: [wants] }) }];
    steps.push({ kind: 'exec', argv: enable, title: `apply config ${configName} at every boot (enable ${HOST_UNIT_NAME})`, undo });
  }
  return steps;
}

/** Steps that stop the boot-time apply: the unit disabled and removed, the recorded file removed. */
export function planHostUnpersist(host: Host): Step[] {
  const now = persistedConfig(host);
  const steps: Step[] = [];
  if (now.enabled) steps.push({ kind: 'exec', argv: disable, title: `stop applying a host config at boot (disable ${HOST_UNIT_NAME})`, undo: [{ kind: 'run', argv: enable, title: `enable ${HOST_UNIT_NAME} again` }] });
  if (now.unit) steps.push({ kind: 'remove-file', path: HOST_UNIT, title: `remove ${HOST_UNIT}` }, reload);
  if (now.file) steps.push({ kind: 'remove-file', path: HOST_STATE, title: `remove ${HOST_STATE}` });
  return steps;
}
