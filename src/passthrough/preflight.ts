// Passthrough preflight: the reasons not to take a set of devices away from the host, decided
// from facts alone. Each refusal says what --force would do; some cannot be forced.
import type { DeviceUsage } from '../detect/usage.js';
import type { PassthroughDriver } from '../state.js';
import type { Member, PassSet } from './resolve.js';

export interface Refusal {
  code: 'no-iommu' | 'shared-group' | 'boot-vga' | 'root-filesystem' | 'mounted-storage' | 'network' | 'in-use' | 'sriov-pf' | 'mdev-parent';
  address: string;
  message: string;
  /** What --force would do, or null when --force cannot override it. */
  force: string | null;
}

export interface PreflightInput {
  set: PassSet;
  usage: DeviceUsage[];
  target: PassthroughDriver;
}

function usageRefusals(u: DeviceUsage): Refusal[] {
  const out: Refusal[] = [];
  const root = u.mounts.find((m) => m.mountpoint === '/');
  if (root) {
    out.push({ code: 'root-filesystem', address: u.address, message: `${u.address} holds the root filesystem (${root.source} on /)`, force: null });
  }
  const others = u.mounts.filter((m) => m.mountpoint !== '/').map((m) => `${m.source} on ${m.mountpoint}`).concat(u.swaps.map((s) => `swap ${s}`));
  if (others.length) {
    out.push({ code: 'mounted-storage', address: u.address, message: `${u.address} holds mounted storage: ${others.join(', ')}`,
      force: 'take it anyway: the host loses those filesystems at once (unmount them first instead)' });
  }
  for (const n of u.net.filter((x) => x.defaultRoute || x.addressed)) {
    out.push({ code: 'network', address: u.address,
      message: `${u.address} is network interface ${n.name}, which ${n.defaultRoute ? 'carries the default route' : 'has an address'}`,
      force: `take it anyway: the host loses ${n.name}${n.defaultRoute ? ' and with it the default route (a remote session drops)' : ''}` });
  }
  if (u.holders.length) {
    const who = u.holders.map((h) => `${h.comm} (pid ${h.pid}) has ${h.file} open`).join(', ');
    out.push({ code: 'in-use', address: u.address, message: `${u.address} is in use: ${who}`,
      force: 'unbind it anyway: the unbind may wait until those processes close the device (stop them first instead)' });
  }
  return out;
}

function memberRefusals(m: Member, target: PassthroughDriver): Refusal[] {
  const out: Refusal[] = [];
  if (target === 'vfio-pci' && m.iommuGroup === null) {
    out.push({ code: 'no-iommu', address: m.address,
      message: `${m.address} has no IOMMU group: no IOMMU is active, so vfio-pci cannot take it (the kernel would leave it with no driver)`,
      force: null });
  }
  if (m.sriovVfs > 0 && m.driver !== target) {
    out.push({ code: 'sriov-pf', address: m.address,
      message: `${m.address} is an SR-IOV PF with ${m.sriovVfs} VFs: unbinding it removes every VF (a VM using one loses it)`,
      force: `unbind it anyway: its ${m.sriovVfs} VFs disappear (\`gpuvirt sriov disable\` removes them first, with its own checks)` });
  }
  if (m.mdevs > 0 && m.driver !== target) {
    out.push({ code: 'mdev-parent', address: m.address,
      message: `${m.address} is the parent of ${m.mdevs} mediated device(s) (vGPUs): unbinding it destroys them, and a VM using one loses it`,
      force: `unbind it anyway: its ${m.mdevs} mediated device(s) are destroyed (\`gpuvirt mdev remove\` removes them first, one by one)` });
  }
  if (m.bootVga && m.driver && m.driver !== target) {
    out.push({ code: 'boot-vga', address: m.address,
      message: `${m.address} is the boot GPU and ${m.driver} drives the host console or display on it`,
      force: 'take it anyway: the host screen goes dark until the device is released (use SSH or a serial console)' });
  }
  return out;
}

/**
 * Every refusal at once: those of the set, and those of the group peers --force would take
 * too (so nobody decides on --force without knowing that a peer holds the root disk).
 */
export function preflight(input: PreflightInput, force: boolean): { refusals: Refusal[]; forcedPeers: Member[] } {
  const refusals: Refusal[] = [];
  const { members, groupPeers } = input.set;
  for (const m of members) refusals.push(...memberRefusals(m, input.target));
  for (const p of groupPeers) {
    refusals.push({ code: 'shared-group', address: p.address,
      message: `${p.address} [${p.classId.slice(0, 4)}] (driver ${p.driver ?? 'none'}) shares IOMMU group ${p.iommuGroup} with the device and is not part of its slot`,
      force: `take ${p.address} too: VFIO hands out the whole group` });
    refusals.push(...memberRefusals(p, input.target));
  }
  for (const u of input.usage) if ([...members, ...groupPeers].some((m) => m.address === u.address)) refusals.push(...usageRefusals(u));
  return { refusals, forcedPeers: force ? groupPeers : [] };
}

/** Refusals that stop the run: all of them without --force, only the unforceable ones with it. */
export function blocking(refusals: readonly Refusal[], force: boolean): Refusal[] {
  return refusals.filter((r) => !force || r.force === null);
}
