// xe's per-VF scheduling profile (kernel 6.19, Documentation/ABI/testing/sysfs-driver-intel-xe-sriov;
// drivers/gpu/drm/xe/xe_sriov_pf_sysfs.c): sriov_admin/vf<N>/profile/ (N 1-based, one directory
// per possible VF whether or not it is enabled) holds exec_quantum_ms and preempt_timeout_us,
// read-write u32s (kstrtou32, base 0; 0 = infinite, the default); sched_priority is read-only
// on VFs (the GuC lets only the PF's priority change). `sriov enable --vf-profile` writes the
// asked values to every VF it enables, each with the value it had as its undo.
import type { Host } from '../host/host.js';
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import type { Step } from '../mutate/steps.js';
import type { Fact } from '../change/facts.js';
import type { Refusal } from '../change/types.js';
import { usageError } from '../errors.js';

export const XE_VF_PROFILE_ATTRS = ['exec_quantum_ms', 'preempt_timeout_us'] as const;
export type XeVfProfileAttr = (typeof XE_VF_PROFILE_ATTRS)[number];
export type XeVfProfile = Partial<Record<XeVfProfileAttr, number>>;

const U32_MAX = 0xffffffff;

/** `exec_quantum_ms=20,preempt_timeout_us=40000` → the profile; a one-line usage error otherwise. */
export function parseXeVfProfile(text: string): XeVfProfile {
  const out: XeVfProfile = {};
  const parts = text.split(',').map((p) => p.trim()).filter(Boolean);
  if (!parts.length) throw usageError(`--vf-profile ${JSON.stringify(text)}: empty`, `e.g. --vf-profile ${XE_VF_PROFILE_ATTRS[0]}=20,${XE_VF_PROFILE_ATTRS[1]}=40000`);
  for (const part of parts) {
    const [key, value, ...rest] = part.split('=');
    if (key === 'sched_priority') {
      throw usageError('--vf-profile sched_priority: xe lets only the PF\'s scheduling priority change; a VF\'s is read-only', `a VF's profile takes ${XE_VF_PROFILE_ATTRS.join(' and ')}`);
    }
    if (!(XE_VF_PROFILE_ATTRS as readonly string[]).includes(key ?? '')) {
      throw usageError(`--vf-profile ${JSON.stringify(part)}: unknown setting`, `xe's VF profile has ${XE_VF_PROFILE_ATTRS.join(' and ')} (sriov_admin/vfN/profile/)`);
    }
    if (value === undefined || rest.length || !/^\d{1,10}$/.test(value) || Number(value) > U32_MAX) {
      throw usageError(`--vf-profile ${JSON.stringify(part)}: ${key} takes a whole number from 0 (no limit) to ${U32_MAX}`);
    }
    out[key as XeVfProfileAttr] = Number(value);
  }
  return out;
}

export const xeProfileAttr = (pf: string, vf: number, attr: string) => paths.pciAttr(pf, `sriov_admin/vf${vf}/profile/${attr}`);

/** A refusal when the PF offers no writable VF profile for every VF asked for. */
export function xeProfileRefusals(host: Host, pf: string, driver: string | null, numVfs: number, profile: XeVfProfile): Refusal[] {
  const where = `sriov_admin/vfN/profile`;
  if (driver !== 'xe' || !host.exists(paths.pciAttr(pf, 'sriov_admin'))) {
    return [{ code: 'no-sriov-admin', address: pf, force: null, message: `${pf} has no xe sriov_admin directory (${driver ?? 'no driver'}; it comes with the xe driver of kernel 6.19 and later): --vf-profile cannot be set` }];
  }
  const missing: string[] = [];
  for (let n = 1; n <= numVfs; n++) {
    for (const attr of Object.keys(profile)) if (!host.exists(xeProfileAttr(pf, n, attr))) missing.push(`vf${n}/profile/${attr}`);
  }
  return missing.length ? [{ code: 'no-sriov-admin', address: pf, force: null, message: `${pf}'s ${where} lacks ${missing.join(', ')}: this xe does not offer that setting` }] : [];
}

/** Writes of the profile to VFs 1..numVfs where they differ, each undone by its value now; and the facts to check after. */
export function planXeVfProfile(host: Host, pf: string, numVfs: number, profile: XeVfProfile): { steps: Step[]; expect: { fact: Fact; value: string | null }[] } {
  const steps: Step[] = [];
  const expect: { fact: Fact; value: string | null }[] = [];
  for (let n = 1; n <= numVfs; n++) {
    for (const attr of XE_VF_PROFILE_ATTRS) {
      const want = profile[attr];
      if (want === undefined) continue;
      const path = xeProfileAttr(pf, n, attr);
      const now = readAttr(host, path);
      expect.push({ fact: { kind: 'attr', path }, value: String(want) });
      if (now === String(want)) continue;
      steps.push({
        kind: 'write', path, value: String(want), title: `set ${attr} of VF ${n} of ${pf} to ${want}${want === 0 ? ' (no limit)' : ''}`,
        undo: now === null ? [] : [{ kind: 'restore-attr', path, value: now }],
      });
    }
  }
  return { steps, expect };
}
