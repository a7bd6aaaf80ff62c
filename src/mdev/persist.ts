// Mediated devices that survive a reboot, through mdevctl, the tool distributions ship for it
// (Debian: mdevctl). `mdevctl define --auto --uuid U --parent P --type T` writes
// /etc/mdevctl.d/P/U ({"mdev_type": T, "start": "auto", "attrs": []}), and mdevctl's udev rule
// starts the device whenever its parent appears; `mdevctl undefine --uuid U --parent P` removes
// that file. Neither touches a running device. mdevctl refuses to define a UUID already defined
// on that parent, so a definition that is there already is read, not redefined.
// Without mdevctl gpuvirt has no boot-time way of its own: it says so, and the QEMU script it
// generates creates a missing mdev before QEMU starts.
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import type { Refusal } from '../change/types.js';
import type { Undo } from '../change/undo.js';
import type { Step } from '../mutate/steps.js';

export const MDEVCTL_DIR = '/etc/mdevctl.d';
export const mdevctlConfig = (parent: string, uuid: string) => `${MDEVCTL_DIR}/${parent}/${uuid}`;

export const hasMdevctl = (host: Host) => paths.binDirs.some((d) => host.exists(`${d}/mdevctl`));

export const NO_MDEVCTL = 'mdevctl is not installed (Debian: apt install mdevctl): gpuvirt makes mediated devices persistent through it. '
  + 'Without it the device is gone after a reboot; the QEMU script gpuvirt generates creates it again before QEMU starts, libvirt and Proxmox do not';

export interface MdevDefinition {
  parent: string;
  type: string | null;
  auto: boolean;
}

const ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

function readDefinition(host: Host, parent: string, uuid: string): MdevDefinition | null {
  const text = host.readText(mdevctlConfig(parent, uuid));
  if (text === null) return null;
  try {
    const j = JSON.parse(text) as { mdev_type?: unknown; start?: unknown };
    return { parent, type: typeof j.mdev_type === 'string' ? j.mdev_type : null, auto: j.start === 'auto' };
  } catch {
    return { parent, type: null, auto: false };
  }
}

/** Every parent mdevctl has a definition of this UUID on. */
export function mdevDefinitions(host: Host, uuid: string): MdevDefinition[] {
  return (host.list(MDEVCTL_DIR) ?? []).filter((p) => ADDRESS.test(p)).flatMap((p) => readDefinition(host, p, uuid) ?? []);
}

const defineArgv = (uuid: string, parent: string, type: string, auto = true) => ['mdevctl', 'define', ...(auto ? ['--auto'] : []), '--uuid', uuid, '--parent', parent, '--type', type];

/** The steps that define the mdev with mdevctl (none when it is defined so already), and what stops them. */
export function mdevDefineSteps(host: Host, parent: string, type: string, uuid: string): { steps: Step[]; refusals: Refusal[] } {
  const path = mdevctlConfig(parent, uuid);
  const now = readDefinition(host, parent, uuid);
  if (now && now.type === type && now.auto) return { steps: [], refusals: [] };
  if (now) {
    return {
      steps: [],
      refusals: [{
        code: 'mdevctl-defined', address: parent, force: null,
        message: `mdevctl already defines ${uuid} on ${parent} (${now.type ?? 'unknown type'}, ${now.auto ? 'auto' : 'manual'} start): \`mdevctl undefine --uuid ${uuid} --parent ${parent}\` first, or \`mdevctl modify\` it`,
      }],
    };
  }
  // mdevctl leaves the parent's directory behind when it undefines: the undo removes what the define made.
  const dirs = [`${MDEVCTL_DIR}/${parent}`, MDEVCTL_DIR].filter((d) => !host.exists(d));
  const undo: Undo[] = [
    { kind: 'run', argv: ['mdevctl', 'undefine', '--uuid', uuid, '--parent', parent], title: `undefine ${uuid} in mdevctl`, unless: [{ fact: { kind: 'exists', path }, value: 'no' }] },
    ...(dirs.length ? [{ kind: 'restore-file' as const, path, content: null, mode: null, dirs }] : []),
  ];
  return {
    steps: [
      { kind: 'exec', argv: defineArgv(uuid, parent, type), title: `define ${uuid} with mdevctl, started whenever ${parent} appears`, undo },
      { kind: 'verify-exists', path, title: `mdevctl keeps ${uuid} in ${path}`, undo },
    ],
    refusals: [],
  };
}

/** The steps that undefine every mdevctl definition of the UUID; the undo defines each again as it was. */
export function mdevUndefineSteps(host: Host, uuid: string): Step[] {
  return mdevDefinitions(host, uuid).flatMap((d) => {
    const path = mdevctlConfig(d.parent, uuid);
    const undo: Undo[] = d.type === null ? [] : [{
      kind: 'run', argv: defineArgv(uuid, d.parent, d.type, d.auto), title: `define ${uuid} in mdevctl again`,
      unless: [{ fact: { kind: 'exists', path }, value: 'yes' }],
    }];
    return [
      { kind: 'exec', argv: ['mdevctl', 'undefine', '--uuid', uuid, '--parent', d.parent], title: `undefine ${uuid} in mdevctl: it is not started at boot any more`, undo },
      { kind: 'verify-not-exists', path, title: `mdevctl no longer keeps ${uuid}`, undo },
    ];
  });
}
