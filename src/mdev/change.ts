// Mediated devices as changes (Documentation/driver-api/vfio-mediated-device.rst): writing a
// UUID to a type's `create` makes /sys/bus/mdev/devices/<uuid>; writing 1 to its `remove`
// destroys it. Each has the other as its undo.
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import type { Step } from '../mutate/steps.js';
import type { ChangePlan, Refusal } from '../change/types.js';
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

export function planMdevCreate(host: Host, parent: string, typeId: string, uuid: string, persist = false): ChangePlan<MdevView> {
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
  };
}

/**
 * The parent is the device directory the mdev sits in (/sys/bus/mdev/devices/<uuid> links
 * there); the type is the last part of mdev_type, which the kernel links relatively
 * (../mdev_supported_types/<type>), so the link names no parent.
 */
function parentAndType(host: Host, uuid: string): { parent: string | null; type: string | null } {
  const type = (host.readLink(`${mdevDevice(uuid)}/mdev_type`) ?? '').split('/').pop() || null;
  const dir = (host.readLink(mdevDevice(uuid)) ?? '').split('/');
  const parent = dir.length >= 2 ? dir[dir.length - 2]! : '';
  return { type, parent: /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(parent) ? parent : null };
}

/**
 * Removes the running device and every mdevctl definition of it, so it does not come back at
 * boot. A device mdevctl defines but that is not running is only undefined.
 */
export function planMdevRemove(host: Host, uuid: string): ChangePlan<MdevView> {
  const defined = mdevDefinitions(host, uuid);
  const running = host.exists(mdevDevice(uuid));
  if (!running && !defined.length) throw new GpuvirtError('E_NOT_FOUND', `no mediated device ${uuid}`, { exitCode: ExitCode.notFound });
  const warnings = defined.length && !hasMdevctl(host) ? [`mdevctl defines ${uuid} (${MDEVCTL_DIR}) but is not installed to undefine it: it may be created again at boot`] : [];
  const undefine = hasMdevctl(host) ? mdevUndefineSteps(host, uuid) : [];
  if (!running) {
    const d = defined[0]!;
    return {
      view: { action: 'remove', uuid, parent: d.parent, type: d.type }, steps: undefine, warnings,
      question: `Undefine ${uuid} in mdevctl?`,
      expect: defined.map((x) => ({ fact: { kind: 'exists' as const, path: mdevctlConfig(x.parent, uuid) }, value: 'no' })),
    };
  }
  const { parent, type } = parentAndType(host, uuid);
  // Re-creating the same UUID of the same type is the way back if the removal half-fails.
  const undo = parent && type ? [{ kind: 'create-mdev' as const, uuid, parent, type }] : [];
  return {
    view: { action: 'remove', uuid, parent, type },
    steps: [
      { kind: 'write', path: `${mdevDevice(uuid)}/remove`, value: '1', title: `remove mediated device ${uuid}`, undo },
      { kind: 'verify-not-exists', path: mdevDevice(uuid), title: `${uuid} is gone`, undo },
      ...undefine,
    ],
    warnings,
    question: `Remove ${uuid}?`,
    expect: [{ fact: { kind: 'exists', path: mdevDevice(uuid) }, value: 'no' }],
  };
}
