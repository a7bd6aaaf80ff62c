// Human output shared by passthrough and release: the devices a change takes or gives back.
import type { Style } from '../output.js';

export interface DeviceView {
  address: string;
  reason: string;
  classId: string;
  name: string;
  driver: string | null;
  iommuGroup: number | null;
}

const REASON: Record<string, string> = { requested: 'named', slot: 'same slot', group: 'same IOMMU group', managed: 'taken together' };

/** The devices a passthrough or release changes, with their driver, group and why they are in the set. */
export function renderDevices(d: { action: 'passthrough' | 'release'; devices: DeviceView[]; bridges?: string[]; target?: string }, s: Style): string[] {
  const out = [s.bold(d.action === 'passthrough' ? `Devices for ${d.target ?? 'passthrough'}:` : 'Devices to release:')];
  for (const v of d.devices) {
    out.push(`  ${v.address}  ${v.name} [${v.classId.slice(0, 4)}]`);
    out.push(s.dim(`      driver ${v.driver ?? 'none'} · group ${v.iommuGroup ?? 'none'} · ${REASON[v.reason] ?? v.reason}`));
  }
  if (d.bridges?.length) out.push(s.dim(`  bridges in the group stay with their driver: ${d.bridges.join(', ')}`));
  return out;
}
