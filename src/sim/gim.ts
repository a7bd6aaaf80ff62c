// AMD's MxGPU host driver, GIM (out of tree: amd/MxGPU-Virtualization), as far as a host
// sees it: no .sriov_configure (sriov_numvfs answers ENOENT), VFs enabled by its probe from
// the vf_num parameter, and disabled by its remove, so `modprobe -r gim` takes them all.
// vf_num holds one count per GPU in the order GIM finds them (by address); a single value
// counts for every GPU. enabled_devices, when set, is the list of PFs it may take.
// The real legal counts depend on the model and partition mode; the simulation takes any count
// up to sriov_totalvfs and fails the probe (EINVAL) above it.
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { type Kern, matches } from './drivers.js';
import { disableVfs, enableVfs } from './sriov.js';
import { type PciId, PCI_ANY_ID, type SimErrno } from './state.js';

export const GIM = 'gim';

const param = (k: Kern, name: string) => readAttr(k.tree.host, paths.moduleParam(GIM, name)) ?? '';
const list = (text: string) => text.split(',').map((s) => s.trim()).filter(Boolean);

/** GIM's id table: the ids of the GPUs the machine had on gim (the simulation knows no other). */
export function gimDriverIds(k: Kern): PciId[] {
  const ids = new Map<string, PciId>();
  for (const [addr, driver] of Object.entries(k.state.native)) {
    if (driver !== GIM) continue;
    const dev = k.tree.identity(addr);
    ids.set(`${dev.vendor}:${dev.device}`, {
      vendor: dev.vendor, device: dev.device, subvendor: PCI_ANY_ID, subdevice: PCI_ANY_ID, class: 0, classMask: 0,
    });
  }
  return [...ids.values()];
}

function enabled(k: Kern, addr: string): boolean {
  const only = list(param(k, 'enabled_devices'));
  return only.length === 0 || only.includes(addr);
}

function vfCount(k: Kern, addr: string): number {
  const counts = list(param(k, 'vf_num')).map(Number);
  if (counts.length <= 1) return counts[0] ?? 0;
  const gpus = k.tree.devices().filter((a) => matches(k, a, GIM) && enabled(k, a)).sort();
  return counts[gpus.indexOf(addr)] ?? 0;
}

/** GIM's probe: refuses GPUs outside enabled_devices and counts over sriov_totalvfs. */
export function gimProbe(k: Kern, addr: string): SimErrno | null {
  if (!enabled(k, addr)) return 'ENODEV';
  const n = vfCount(k, addr);
  if (!Number.isInteger(n) || n < 0 || n > k.tree.int(paths.pciAttr(addr, 'sriov_totalvfs'))) return 'EINVAL';
  return null;
}

/** After a successful probe (the driver link is there): the VFs. */
export function gimBound(k: Kern, addr: string): void {
  const n = vfCount(k, addr);
  if (n > 0 && k.tree.int(paths.pciAttr(addr, 'sriov_numvfs')) === 0) enableVfs(k, addr, GIM, n);
}

/** GIM's remove: pci_disable_sriov first (it waits for VFs a VM holds open). */
export function gimRemove(k: Kern, addr: string): void {
  if (k.tree.int(paths.pciAttr(addr, 'sriov_numvfs')) > 0) disableVfs(k, addr);
}
