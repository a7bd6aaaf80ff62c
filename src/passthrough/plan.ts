// Pure planning of driver changes. Binding uses driver_override + unbind + drivers_probe,
// never new_id (which grabs every identical device), and checks the driver link afterwards
// because drivers_probe reports success even when nothing bound (real-kernel-findings).
import { paths } from '../host/paths.js';
import type { Step } from '../mutate/steps.js';
import type { PassthroughDriver } from '../state.js';

export interface DeviceNow {
  address: string;
  driver: string | null;
  driverOverride: string | null;
  iommuGroup: number | null;
}

/** The module that provides a passthrough driver (modprobe accepts the dashed name). */
export const DRIVER_MODULE: Record<PassthroughDriver, string> = { 'vfio-pci': 'vfio-pci', 'pci-stub': 'pci-stub' };

export function planBind(devices: readonly DeviceNow[], target: PassthroughDriver, targetLoaded: boolean): Step[] {
  const todo = devices.filter((d) => d.driver !== target);
  if (!todo.length) return [];
  const steps: Step[] = [];
  if (!targetLoaded) {
    // drivers_probe does not load modules: the driver must be there before the probe.
    steps.push({ kind: 'exec', argv: ['modprobe', DRIVER_MODULE[target]], title: `load the ${target} driver` });
  }
  for (const d of todo) {
    if (d.driver) {
      steps.push({ kind: 'write', path: paths.pciDriverAttr(d.driver, 'unbind'), value: d.address, title: `unbind ${d.address} from ${d.driver}` });
    }
    steps.push({ kind: 'write', path: paths.pciAttr(d.address, 'driver_override'), value: target, title: `let only ${target} take ${d.address}` });
    steps.push({ kind: 'write', path: paths.pciDriversProbe, value: d.address, title: `probe ${d.address}` });
    steps.push({ kind: 'verify-driver', address: d.address, driver: target, title: `${d.address} is on ${target}` });
  }
  if (target === 'vfio-pci') {
    const groups = [...new Set(todo.map((d) => d.iommuGroup).filter((g): g is number => g !== null))].sort((a, b) => a - b);
    for (const g of groups) steps.push({ kind: 'verify-exists', path: paths.devVfioGroup(g), title: `VFIO group ${g} is ready` });
  }
  return steps;
}

export interface RestoreTarget extends DeviceNow {
  /** The driver to return to; null: leave unbound; 'default': whatever the kernel matches. */
  want: string | null | 'default';
  wantOverride: string | null;
  /** Module to load when `want` is not loaded. */
  wantModule: string | null;
}

/** Steps that bring each device back to `want`, whatever state it is in now (also the rollback). */
export function planRestore(devices: readonly RestoreTarget[], loadedDrivers: ReadonlySet<string>): Step[] {
  const steps: Step[] = [];
  const loading = new Set<string>();
  for (const d of devices) {
    const overrideNow = d.driverOverride ?? null;
    const settled = d.want !== 'default' && d.driver === d.want && overrideNow === d.wantOverride;
    if (settled) continue;
    if (d.driver && d.driver !== d.want) {
      steps.push({ kind: 'write', path: paths.pciDriverAttr(d.driver, 'unbind'), value: d.address, title: `unbind ${d.address} from ${d.driver}` });
    }
    // driver_override must allow the driver about to bind: a foreign override (naming another
    // driver) would make the bind fail with ENODEV, so it goes back only after the bind.
    const foreign = d.wantOverride !== null && typeof d.want === 'string' && d.wantOverride !== d.want && d.driver !== d.want;
    const overrideForBind = foreign ? d.want : d.wantOverride;
    if (overrideNow !== overrideForBind) {
      steps.push({ kind: 'write', path: paths.pciAttr(d.address, 'driver_override'), value: overrideForBind ?? '\n',
        title: overrideForBind ? `set ${d.address}'s driver_override to ${overrideForBind}` : `clear ${d.address}'s driver_override` });
    }
    if (d.want === 'default') {
      steps.push({ kind: 'write', path: paths.pciDriversProbe, value: d.address, title: `let the kernel pick a driver for ${d.address}` });
      if (d.driver) steps.push({ kind: 'verify-not-driver', address: d.address, not: d.driver, title: `${d.address} left ${d.driver}` });
      continue;
    }
    if (d.want === null || d.driver === d.want) {
      steps.push({ kind: 'verify-driver', address: d.address, driver: d.want, title: `${d.address} is on ${d.want ?? 'no driver'}` });
      continue;
    }
    if (loadedDrivers.has(d.want)) {
      steps.push({ kind: 'write', path: paths.pciDriverAttr(d.want, 'bind'), value: d.address, title: `bind ${d.address} to ${d.want}` });
    } else {
      const module = d.wantModule ?? d.want;
      if (!loading.has(module)) steps.push({ kind: 'exec', argv: ['modprobe', module], title: `load the ${d.want} driver` });
      loading.add(module);
      // Loading a module binds the devices it matches itself; the probe covers the rest.
      steps.push({ kind: 'write', path: paths.pciDriversProbe, value: d.address, title: `probe ${d.address}` });
    }
    steps.push({ kind: 'verify-driver', address: d.address, driver: d.want, title: `${d.address} is back on ${d.want}` });
    if (foreign) {
      steps.push({ kind: 'write', path: paths.pciAttr(d.address, 'driver_override'), value: d.wantOverride!, title: `set ${d.address}'s driver_override back to ${d.wantOverride}` });
    }
  }
  return steps;
}
