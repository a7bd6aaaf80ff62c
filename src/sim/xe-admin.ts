// xe's sriov_admin profile attributes (drivers/gpu/drm/xe/xe_sriov_pf_sysfs.c, 6.19):
// exec_quantum_ms and preempt_timeout_us of pf/ and vfN/ parse with kstrtou32(buf, 0) (EINVAL
// on anything else, ERANGE past u32) and read back as "%u\n"; sched_priority takes one of the
// words its file lists (__sysfs_match_string, EINVAL otherwise) and reads back as the list with
// the chosen word in brackets. A VF's sched_priority is read-only (mode 0444, refused before
// ->store). The GuC's own refusal (EIO) is left to injected failures.
import * as nodePath from 'node:path';
import { readAttr } from '../host/host.js';
import type { Kern } from './drivers.js';
import { chomp, fail } from './state.js';

const PROFILE = /\/sriov_admin\/(pf|vf[1-9]\d*)\/profile\/(exec_quantum_ms|preempt_timeout_us|sched_priority)$/;

export function isXeProfileStore(file: string): boolean {
  return PROFILE.test(file);
}

/** kstrtou32 with base 0: decimal, 0x hex or 0 octal, one trailing newline allowed. */
function kstrtou32(text: string): number {
  const t = text.replace(/^\+/, '');
  let n: number;
  if (/^0x[0-9a-f]+$/i.test(t)) n = parseInt(t.slice(2), 16);
  else if (/^0[0-7]*$/.test(t)) n = parseInt(t, 8);
  else if (/^[1-9]\d*$/.test(t)) n = Number(t);
  else fail('EINVAL');
  if (!Number.isSafeInteger(n) || n > 0xffffffff) fail('ERANGE');
  return n;
}

export function writeXeProfile(k: Kern, file: string, value: string): void {
  const name = nodePath.basename(file);
  const text = chomp(value);
  if (name !== 'sched_priority') {
    k.tree.rewrite(file, `${kstrtou32(text)}\n`);
    return;
  }
  // profile_vf_attr_is_visible: a VF's sched_priority is 0444, so the open for writing fails.
  if (/\/vf\d+\/profile\/sched_priority$/.test(file)) fail('EACCES');
  const words = (readAttr(k.tree.host, file) ?? '').split(/\s+/).filter(Boolean).map((w) => w.replace(/^\[|\]$/g, ''));
  if (!words.includes(text)) fail('EINVAL');
  k.tree.rewrite(file, `${words.map((w) => (w === text ? `[${w}]` : w)).join(' ')}\n`);
}
