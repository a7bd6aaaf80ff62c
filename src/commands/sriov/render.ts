import type { Ctx } from '../../context.js';
import type { Outcome, Style } from '../../output.js';
import { renderChangeText } from '../../change/render.js';
import type { ChangeResult } from '../../change/types.js';
import { readPf } from '../../sriov/detect.js';
import type { SriovView } from '../../sriov/change.js';
import { explainErrno } from '../../sriov/vendors.js';
import { pfJson } from './status.js';

export type SriovChangeData = ChangeResult<SriovView>;

export function renderSriovChange(d: SriovChangeData, s: Style): string {
  const when = d.applied ? 'before this run' : 'now';
  const head = [`${s.bold(d.pf.address)}  ${d.pf.name}: ${d.pf.numVfs} of ${d.pf.totalVfs} VFs ${when} (${d.adapter} path)`];
  for (const n of d.notes) head.push(s.dim(`  note: ${n}`));
  if (d.vfProfile) head.push(`  each VF's xe profile: ${Object.entries(d.vfProfile).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  const nothing = d.action === 'enable' ? `Nothing to do: ${d.requested} VFs are already there.` : 'Nothing to do: no VFs are enabled.';
  let text = renderChangeText(d, s, head, nothing);
  if (d.hint) text += `  ${d.hint}\n`;
  if (d.applied?.ok && d.after) {
    text += `${d.after.address}: ${d.after.numVfs} of ${d.after.totalVfs} VFs now\n`;
    for (const vf of d.after.vfs) text += `  VF ${String(vf.index).padStart(2)}  ${vf.address}  driver ${vf.driver ?? 'none'} · group ${vf.iommuGroup ?? 'none'}\n`;
  }
  return text;
}

/** After the run: the kernel's errno explained, and the PF as the host shows it now. */
export function settle(ctx: Ctx, outcome: Outcome<SriovChangeData>): Outcome<SriovChangeData> {
  const d = outcome.data;
  if (!d.applied) return outcome;
  const live = readPf(ctx.host, d.pf.address);
  d.after = live ? pfJson(ctx, live) : null;
  const failed = d.applied.steps.find((x) => x.status === 'failed');
  if (failed && live) d.hint = explainErrno(failed.errno, live);
  return outcome;
}
