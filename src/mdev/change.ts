// Mediated devices as changes (Documentation/driver-api/vfio-mediated-device.rst): writing a
// UUID to a type's `create` makes /sys/bus/mdev/devices/<uuid>; writing 1 to its `remove`
// destroys it. Each has the other as its undo.
import { type Host, linkName } from '../host/host.js';
import { paths } from '../host/paths.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import type { Step } from '../mutate/steps.js';
import type { ChangePlan, Refusal } from '../change/types.js';
import type { Undo } from '../change/undo.js';
import { findHolders, type Holder } from '../detect/usage.js';
import { readState, recordOnlySteps, type GpuvirtState, type MdevRecord } from '../state.js';
import { hasMdevctl, MDEVCTL_DIR, mdevctlConfig, mdevDefineSteps, mdevDefinitions, mdevUndefineSteps, NO_MDEVCTL } from './persist.js';
import { readMdevTypes } from './types.js';

export const mdevCreatePath = (parent: string, type: string) => `${paths.mdevBus}/${parent}/mdev_supported_types/${type}/create`;
export const mdevDevice = (uuid: string) => `${paths.mdevDevices}/${uuid}`;

export interface MdevView {
  action: 'create' | 'remove';
  uuid: string;
  parent: string | null;
  type: string | null;
}

/** Who makes an mdev, for gpuvirt's record of it (status lists it; release and mdev remove drop it). */
export interface MdevMaker {
  command: MdevRecord['command'];
  profile: string | null;
  since: string;
}

/** Processes with the mediated device's VFIO device open (its IOMMU group, or its vfio-dev cdev): a VM using it. */
export function mdevHolders(host: Host, uuid: string): Holder[] {
  const group = linkName(host, `${mdevDevice(uuid)}/iommu_group`);
  const cdevs = (host.list(`${mdevDevice(uuid)}/vfio-dev`) ?? []).map((n) => `/dev/vfio/devices/${n}`);
  return findHolders(host, [...(group === null ? [] : [paths.devVfioGroup(Number(group))]), ...cdevs]);
}

/** A VM holding the mdev: removing it would block in vfio until the VM lets go. --force cannot change that. */
export function mdevHeldRefusals(host: Host, uuid: string, parent: string | null): Refusal[] {
  return mdevHolders(host, uuid).map((h) => ({
    code: 'mdev-held', ...(parent ? { address: parent } : {}), force: null,
    message: `mediated device ${uuid} is in use by a VM: ${h.comm} (pid ${h.pid}) holds ${h.file} open; the kernel would block its removal until it lets go: stop the VM first`,
  }));
}

/** The state update that records an mdev (kept as it was when already recorded, persisted once defined). */
export function recordMdev(uuid: string, parent: string, type: string, persisted: boolean, maker: MdevMaker): (s: GpuvirtState) => GpuvirtState {
  return (s) => {
    const known = s.mdevs?.[uuid];
    (s.mdevs ??= {})[uuid] = known ? { ...known, persisted: known.persisted || persisted } : { uuid, parent, type, persisted, command: maker.command, profile: maker.profile, since: maker.since };
    return s;
  };
}

export const forgetMdevs = (uuids: readonly string[]) => (s: GpuvirtState): GpuvirtState => {
  for (const u of uuids) delete s.mdevs?.[u];
  if (s.mdevs && !Object.keys(s.mdevs).length) delete s.mdevs;
  return s;
};

/** The steps that create one mdev, with the undo that removes it. */
export function mdevCreateSteps(parent: string, type: string, uuid: string): Step[] {
  const undo = [{ kind: 'remove-mdev' as const, uuid }];
  return [
    { kind: 'write', path: mdevCreatePath(parent, type), value: uuid, title: `create ${type} instance ${uuid} on ${parent}`, undo },
    { kind: 'verify-exists', path: mdevDevice(uuid), title: `${uuid} exists`, undo },
  ];
}

/** The mdevctl part of `--persist`: its steps, or why it cannot be done. */
function persistPart(host: Host, parent: string, typeId: string, uuid: string): { steps: Step[]; refusals: Refusal[] } {
  if (!hasMdevctl(host)) return { steps: [], refusals: [{ code: 'no-mdevctl', address: parent, message: NO_MDEVCTL, force: null }] };
  return mdevDefineSteps(host, parent, typeId, uuid);
}

export function planMdevCreate(host: Host, parent: string, typeId: string, uuid: string, persist = false, maker: MdevMaker | null = null): ChangePlan<MdevView> {
  const type = readMdevTypes(host, parent).find((t) => t.id === typeId);
  if (!type) {
    throw new GpuvirtError('E_NO_MDEV_TYPE', `${parent} offers no mediated device type ${typeId}`, { exitCode: ExitCode.unsupported, hint: `\`gpuvirt mdev types ${parent}\` lists what it offers` });
  }
  if (host.exists(mdevDevice(uuid))) throw new GpuvirtError('E_MDEV_EXISTS', `a mediated device ${uuid} already exists`, { exitCode: ExitCode.usage, hint: 'pick another --uuid, or leave it out for a random one' });
  const refusals: Refusal[] = type.availableInstances === 0
    ? [{ code: 'mdev-full', address: parent, message: `${typeId} on ${parent} has no instances left`, force: null }]
    : [];
  const persisted = persist ? persistPart(host, parent, typeId, uuid) : { steps: [], refusals: [] };
  return {
    view: { action: 'create', uuid, parent, type: typeId },
    steps: [...mdevCreateSteps(parent, typeId, uuid), ...persisted.steps], refusals: [...refusals, ...persisted.refusals],
    blockedExit: refusals.length ? ExitCode.busy : ExitCode.unsupported,
    question: `Create ${typeId} on ${parent}?`,
    expect: [{ fact: { kind: 'exists', path: mdevDevice(uuid) }, value: 'yes' }],
    ...(maker ? { state: recordMdev(uuid, parent, typeId, persisted.steps.length > 0, maker) } : {}),
  };
}

/**
 * The parent is the device directory the mdev sits in (/sys/bus/mdev/devices/<uuid> links
 * there); the type is the last part of mdev_type, which the kernel links relatively
 * (../mdev_supported_types/<type>), so the link names no parent.
 */
export function parentAndType(host: Host, uuid: string): { parent: string | null; type: string | null } {
  const type = (host.readLink(`${mdevDevice(uuid)}/mdev_type`) ?? '').split('/').pop() || null;
  const dir = (host.readLink(mdevDevice(uuid)) ?? '').split('/');
  const parent = dir.length >= 2 ? dir[dir.length - 2]! : '';
  return { type, parent: /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(parent) ? parent : null };
}

/** The steps that remove a running mdev; re-creating the same UUID of the same type is the way back if the removal half-fails. */
export function mdevRemoveSteps(uuid: string, parent: string | null, type: string | null): Step[] {
  const undo: Undo[] = parent && type ? [{ kind: 'create-mdev', uuid, parent, type }] : [];
  return [
    { kind: 'write', path: `${mdevDevice(uuid)}/remove`, value: '1', title: `remove mediated device ${uuid}`, undo },
    { kind: 'verify-not-exists', path: mdevDevice(uuid), title: `${uuid} is gone`, undo },
  ];
}

/**
 * Removes the running device and every mdevctl definition of it, so it does not come back at
 * boot. A device mdevctl defines but that is not running is only undefined. gpuvirt's record
 * of it goes too; a recorded device that is gone and undefined leaves only its record to drop.
 * A device a VM holds is refused.
 */
export function planMdevRemove(host: Host, uuid: string): ChangePlan<MdevView> {
  const defined = mdevDefinitions(host, uuid);
  const running = host.exists(mdevDevice(uuid));
  const record = readState(host).mdevs?.[uuid];
  const state = forgetMdevs([uuid]);
  if (!running && !defined.length) {
    if (!record) throw new GpuvirtError('E_NOT_FOUND', `no mediated device ${uuid}`, { exitCode: ExitCode.notFound });
    return {
      view: { action: 'remove', uuid, parent: record.parent, type: record.type }, steps: recordOnlySteps(host, state),
      warnings: [`${uuid} is gone and mdevctl does not define it: only gpuvirt's record of it is dropped`],
      question: `Drop gpuvirt's record of ${uuid}?`,
    };
  }
  const warnings = defined.length && !hasMdevctl(host) ? [`mdevctl defines ${uuid} (${MDEVCTL_DIR}) but is not installed to undefine it: it may be created again at boot`] : [];
  const undefine = hasMdevctl(host) ? mdevUndefineSteps(host, uuid) : [];
  if (!running) {
    const d = defined[0]!;
    return {
      view: { action: 'remove', uuid, parent: d.parent, type: d.type }, steps: undefine, warnings, state,
      question: `Undefine ${uuid} in mdevctl?`,
      expect: defined.map((x) => ({ fact: { kind: 'exists' as const, path: mdevctlConfig(x.parent, uuid) }, value: 'no' })),
    };
  }
  const { parent, type } = parentAndType(host, uuid);
  return {
    view: { action: 'remove', uuid, parent, type },
    steps: [...mdevRemoveSteps(uuid, parent, type), ...undefine],
    refusals: mdevHeldRefusals(host, uuid, parent),
    warnings, state,
    question: `Remove ${uuid}?`,
    expect: [{ fact: { kind: 'exists', path: mdevDevice(uuid) }, value: 'no' }],
  };
}
