// The mediated devices `release` gives back: those gpuvirt recorded as made by `apply` (or named
// by UUID). Each running one is removed (its undo creates it again with the same UUID and type),
// and the mdevctl definition gpuvirt made is undefined (its undo defines it again). One a VM
// holds is refused, as `mdev remove` refuses it.
import type { Host } from '../host/host.js';
import type { Fact } from '../change/facts.js';
import type { Refusal } from '../change/types.js';
import type { Step } from '../mutate/steps.js';
import type { GpuvirtState, MdevRecord } from '../state.js';
import { mdevDevice, mdevHeldRefusals, mdevRemoveSteps, parentAndType } from './change.js';
import { hasMdevctl, MDEVCTL_DIR, mdevctlConfig, mdevDefinitions, mdevUndefineSteps } from './persist.js';

export interface MdevReleaseView extends MdevRecord {
  /** The device exists now (false: gone, e.g. after a reboot without mdevctl). */
  present: boolean;
}

export interface MdevRelease {
  view: MdevReleaseView[];
  steps: Step[];
  refusals: Refusal[];
  warnings: string[];
  expect: { fact: Fact; value: string | null }[];
}

/** Which recorded mdevs a release takes: --all and parent addresses take those `apply` made; a UUID names one. */
export function mdevReleaseTargets(state: GpuvirtState, req: { all: boolean; addresses: readonly string[]; uuids: readonly string[] }): { records: MdevRecord[]; warnings: string[] } {
  const all = Object.values(state.mdevs ?? {}).sort((a, b) => (a.uuid < b.uuid ? -1 : 1));
  const byApply = (r: MdevRecord) => r.command === 'apply';
  const records = all.filter((r) => req.uuids.includes(r.uuid) || (byApply(r) && (req.all || req.addresses.includes(r.parent))));
  const warnings = req.uuids.filter((u) => !state.mdevs?.[u]).map((u) => `gpuvirt has no record of a mediated device ${u}: \`gpuvirt mdev remove ${u}\` removes any mediated device`);
  if (req.all) {
    for (const r of all.filter((x) => !byApply(x))) warnings.push(`mediated device ${r.uuid} was made by \`${r.command}\`: \`gpuvirt ${r.command.split(' ')[0]} remove ${r.uuid}\` removes it`);
  }
  return { records, warnings };
}

export function planMdevRelease(host: Host, records: readonly MdevRecord[]): MdevRelease {
  const out: MdevRelease = { view: [], steps: [], refusals: [], warnings: [], expect: [] };
  const mdevctl = hasMdevctl(host);
  for (const r of records) {
    const present = host.exists(mdevDevice(r.uuid));
    out.view.push({ ...r, present });
    if (present) {
      const live = parentAndType(host, r.uuid);
      out.steps.push(...mdevRemoveSteps(r.uuid, live.parent ?? r.parent, live.type ?? r.type));
      out.refusals.push(...mdevHeldRefusals(host, r.uuid, live.parent ?? r.parent));
      out.expect.push({ fact: { kind: 'exists', path: mdevDevice(r.uuid) }, value: 'no' });
    }
    const defined = mdevDefinitions(host, r.uuid);
    if (!defined.length) continue;
    if (!r.persisted) {
      out.warnings.push(`mdevctl defines ${r.uuid}, and gpuvirt did not: it is left defined and is created again at boot (\`gpuvirt mdev remove ${r.uuid}\` undefines it)`);
    } else if (!mdevctl) {
      out.warnings.push(`mdevctl defines ${r.uuid} (${MDEVCTL_DIR}) but is not installed to undefine it: it may be created again at boot`);
    } else {
      out.steps.push(...mdevUndefineSteps(host, r.uuid));
      out.expect.push(...defined.map((d) => ({ fact: { kind: 'exists' as const, path: mdevctlConfig(d.parent, r.uuid) }, value: 'no' })));
    }
  }
  return out;
}
