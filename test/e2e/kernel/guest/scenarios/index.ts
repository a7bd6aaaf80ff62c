// Every scenario, in the order the guest runs them. Read-only ones come first; each later one
// must leave the devices as it found them (checked by the framework after each).
import type { MachineName } from '../../topology.js';
import type { Scenario } from '../framework.js';
import { groundTruthIntel, groundTruthNone } from './ground-truth.js';
import { faultMidPlan, faultRelease, foreignOverride } from './faults.js';
import { boot, doctor, list } from './inspect.js';
import { bootVga, bridged, gpuSlot, noIommu, pciStub } from './passthrough.js';
import { bootSnapshot } from './snapshot.js';
import { killSweep } from './kill.js';
import { singleGpu } from './singlegpu.js';
import { nestedEdu, nestedGpuSlot, nestedL2, nestedNotViable, nestedVf, nestedXVga } from './nested.js';
import { hostConfigCycle, hostConfigLate } from './host-config.js';
import { sriovCycle, sriovFaultBind, sriovFaultPfDriver, sriovNoIommu, sriovVfio } from './sriov.js';

export const SCENARIOS: readonly Scenario[] = [
  bootSnapshot, boot, doctor, list,
  noIommu, bootVga, faultMidPlan,
  gpuSlot, bridged, pciStub,
  faultRelease, foreignOverride,
  singleGpu,
  sriovCycle, sriovVfio, sriovFaultBind, sriovFaultPfDriver, sriovNoIommu,
  // gpuvirt's generated QEMU scripts run by a QEMU inside the guest (one L2 boot, ~1 min; three
  // L2 firmware runs on the boot VGA, 10-40 s).
  nestedEdu, nestedNotViable, nestedGpuSlot, nestedXVga, nestedVf, nestedL2,
  hostConfigCycle,
  // The table's rows are quick and set up their own state; the kill sweep is the longest scenario.
  groundTruthIntel, groundTruthNone,
  killSweep,
  // Removes and rescans the SR-IOV PF (new IOMMU group numbers): last.
  hostConfigLate,
];

/** GPUVIRT_E2E_ONLY: the indexes in SCENARIOS of the scenarios whose id contains one of `words`
 *  (case-insensitive), for the guest's `gpuvirt_e2e.only=` (a scenario id has spaces). */
export function scenarioIndexes(words: readonly string[]): number[] {
  const w = words.map((x) => x.trim().toLowerCase()).filter(Boolean);
  return SCENARIOS.flatMap((s, i) => (w.some((x) => s.id.toLowerCase().includes(x)) ? [i] : []));
}

/** The scenarios `machine` runs, in order; `only`: just these indexes (scenarioIndexes). */
export function scenariosFor(machine: MachineName, only: readonly number[] | null = null): Scenario[] {
  return SCENARIOS.filter((s, i) => s.machines.includes(machine) && (only === null || only.includes(i)));
}
