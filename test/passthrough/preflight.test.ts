import { describe, expect, it } from 'vitest';
import { blocking, preflight } from '../../src/passthrough/preflight.js';
import type { Member, PassSet } from '../../src/passthrough/resolve.js';
import type { DeviceUsage } from '../../src/detect/usage.js';

function member(address: string, over: Partial<Member> = {}): Member {
  return {
    address, vendorId: '10de', deviceId: '2204', subsystemVendorId: null, subsystemDeviceId: null, classId: '030000',
    driver: 'nvidia', iommuGroup: 14, physfn: null, driverOverride: null, bootVga: false, driverModule: 'nvidia', sriovVfs: 0, mdevs: 0, reason: 'requested', ...over,
  };
}
const idle = (address: string): DeviceUsage => ({ address, blockDevices: [], mounts: [], swaps: [], net: [], holders: [] });
const set = (members: Member[], groupPeers: Member[] = []): PassSet => ({ members, groupPeers, bridges: [] });
const codes = (r: { code: string }[]) => r.map((x) => x.code);

describe('passthrough preflight', () => {
  it('a clean GPU slot passes', () => {
    const s = set([member('0000:01:00.0'), member('0000:01:00.1', { classId: '040300', reason: 'slot' })]);
    expect(preflight({ set: s, usage: [idle('0000:01:00.0'), idle('0000:01:00.1')], target: 'vfio-pci' }, false).refusals).toEqual([]);
  });

  it('refuses vfio-pci without an IOMMU, even with --force; pci-stub needs no IOMMU', () => {
    const s = set([member('0000:01:00.0', { iommuGroup: null })]);
    const r = preflight({ set: s, usage: [], target: 'vfio-pci' }, true).refusals;
    expect(codes(r)).toEqual(['no-iommu']);
    expect(blocking(r, true)).toHaveLength(1);
    expect(preflight({ set: s, usage: [], target: 'pci-stub' }, false).refusals).toEqual([]);
  });

  it('a group peer outside the slot is refused, and taken with --force', () => {
    const usb = member('0000:0c:00.0', { classId: '0c0330', driver: 'xhci_hcd', reason: 'group' });
    const s = set([member('0000:0b:00.0')], [usb]);
    const plain = preflight({ set: s, usage: [], target: 'vfio-pci' }, false);
    expect(codes(plain.refusals)).toEqual(['shared-group']);
    expect(plain.refusals[0]!.message).toContain('0000:0c:00.0');
    expect(plain.refusals[0]!.force).toContain('take 0000:0c:00.0 too');
    expect(plain.forcedPeers).toEqual([]);
    const forced = preflight({ set: s, usage: [], target: 'vfio-pci' }, true);
    expect(forced.forcedPeers.map((p) => p.address)).toEqual(['0000:0c:00.0']);
    expect(blocking(forced.refusals, true)).toEqual([]);
  });

  it('refuses the boot GPU while a host driver drives it', () => {
    const r = preflight({ set: set([member('0000:00:02.0', { bootVga: true, driver: 'i915' })]), usage: [], target: 'vfio-pci' }, false).refusals;
    expect(codes(r)).toEqual(['boot-vga']);
    expect(r[0]!.force).toContain('screen goes dark');
  });

  it('refuses storage holding the root filesystem (never forceable) or other mounts (forceable)', () => {
    const nvme = member('0000:3d:00.0', { classId: '010802', driver: 'nvme' });
    const usage: DeviceUsage = { ...idle(nvme.address), blockDevices: ['nvme0n1', 'nvme0n1p2'], mounts: [{ source: '/dev/nvme0n1p2', mountpoint: '/' }, { source: '/dev/nvme0n1p1', mountpoint: '/boot/efi' }] };
    const r = preflight({ set: set([nvme]), usage: [usage], target: 'vfio-pci' }, true).refusals;
    expect(codes(r)).toEqual(['root-filesystem', 'mounted-storage']);
    expect(codes(blocking(r, true))).toEqual(['root-filesystem']);
  });

  it('refuses a NIC with the default route, and a device held open, naming the holder', () => {
    const nic = member('0000:03:00.0', { classId: '020000', driver: 'igb' });
    const usage: DeviceUsage = { ...idle(nic.address), net: [{ name: 'enp3s0', defaultRoute: true, addressed: true }], holders: [{ pid: 812, comm: 'nvidia-persiste', file: '/dev/nvidia0' }] };
    const r = preflight({ set: set([nic]), usage: [usage], target: 'vfio-pci' }, false).refusals;
    expect(codes(r)).toEqual(['network', 'in-use']);
    expect(r[0]!.message).toContain('default route');
    expect(r[1]!.message).toContain('nvidia-persiste (pid 812)');
  });
});
