// Attribute modes the kernel gives, whatever mode a fixture file has: git keeps only 0644 and
// 0755, so a checked-out fixture cannot say which attributes are read-only or write-only.
import * as nodePath from 'node:path';

/** Device attributes the kernel creates read-only (0444), whatever mode a fixture file has. */
export const READ_ONLY = new Set([
  'vendor', 'device', 'subsystem_vendor', 'subsystem_device', 'class', 'revision', 'modalias', 'irq',
  'boot_vga', 'sriov_totalvfs', 'sriov_offset', 'sriov_stride', 'sriov_vf_device', 'sriov_vf_total_msix',
  'local_cpus', 'local_cpulist', 'resource', 'current_link_speed', 'current_link_width',
  'max_link_speed', 'max_link_width', 'power_state', 'ari_enabled',
]);

/** Attributes the kernel creates write-only (0200). */
const WRITE_ONLY = new Set([
  'bind', 'unbind', 'new_id', 'remove_id', 'reset', 'remove', 'rescan', 'drivers_probe', 'sriov_vf_msix_count', 'create',
]);

/** Write-only by the kernel's own definition; a driver's (and a bus's) uevent is, a device's is not. */
export function isWriteOnly(path: string): boolean {
  const name = nodePath.basename(path);
  if (WRITE_ONLY.has(name)) return true;
  return name === 'uevent' && /^\/sys\/bus\/[^/]+(\/drivers\/[^/]+)?$/.test(nodePath.dirname(path));
}
