// Every scenario, in the order the guest runs them. Read-only ones come first; each later one
// must leave the devices as it found them (checked by the framework after each).
// SR-IOV scenarios go here once `gpuvirt sriov` exists.
import type { MachineName } from '../../topology.js';
import type { Scenario } from '../framework.js';
import { faultMidPlan, faultRelease, foreignOverride } from './faults.js';
import { boot, doctor, list } from './inspect.js';
import { bootVga, bridged, gpuSlot, noIommu, pciStub } from './passthrough.js';

export const SCENARIOS: readonly Scenario[] = [
  boot, doctor, list,
  noIommu, bootVga, faultMidPlan,
  gpuSlot, bridged, pciStub,
  faultRelease, foreignOverride,
];

export function scenariosFor(machine: MachineName): Scenario[] {
  return SCENARIOS.filter((s) => s.machines.includes(machine));
}
