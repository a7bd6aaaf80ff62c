// Property: the sharing verdict never offers a strategy whose requirements the host's facts
// contradict, never calls impossible what the host shows working, and never says "after"
// without naming the change. The requirements below are written from the kernel and vendor
// rules (shared host-facts A2/E, fleet-and-vendor-facts), independently of verdict.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FAMILIES } from '../../src/sharing/families.js';
import type { IntelFacts, ModuleFacts } from '../../src/sharing/intel.js';
import { judgeSharing, type GpuSharingFacts, type StrategyVerdict } from '../../src/sharing/verdict.js';

const addr = fc.constantFrom('0000:41:00.0', '0000:00:02.0', '0000:03:00.0');
const driver = fc.constantFrom(null, 'nvidia', 'i915', 'xe', 'gim', 'amdgpu', 'vfio-pci', 'ast', 'nouveau');
const mode = fc.constantFrom('Enabled' as const, 'Disabled' as const, 'N/A' as const);

const moduleFacts = (name: string): fc.Arbitrary<ModuleFacts> =>
  fc.record({
    name: fc.constant(name),
    file: fc.constantFrom(null, `kernel/drivers/gpu/drm/${name}/${name}.ko.zst`, `updates/dkms/${name}.ko`),
    origin: fc.constantFrom('in-tree' as const, 'dkms' as const, 'missing' as const),
    loaded: fc.boolean(),
    version: fc.constant(null),
    taint: fc.constantFrom(null, '', 'O', 'OE'),
    params: fc.option(fc.subarray(['max_vfs', 'enable_guc', 'enable_gvt'])),
    signed: fc.option(fc.boolean()),
  });

const intel: fc.Arbitrary<IntelFacts> = fc.record({
  modules: fc.tuple(moduleFacts('i915'), moduleFacts('xe')),
  dkms: fc.array(fc.record({ name: fc.constant('i915-sriov-dkms'), version: fc.constant('2024.12.02'), builtForKernel: fc.boolean() }), { maxLength: 2 }),
  secureBoot: fc.option(fc.boolean()),
});

const vf = fc.record({
  index: fc.nat(31),
  address: fc.constant('0000:41:00.4'),
  driver: fc.constant('nvidia'),
  creatable: fc.array(fc.record({ id: fc.constantFrom('1152', '1060'), name: fc.constantFrom('NVIDIA L40S-8Q', 'NVIDIA H100-1-10C'), migBacked: fc.boolean() }), { maxLength: 3 }),
  current: fc.option(fc.constantFrom('1152', '1063')),
  gpuInstanceId: fc.option(fc.nat(14)),
});

const facts: fc.Arbitrary<GpuSharingFacts> = fc.record({
  address: addr,
  vendorId: fc.constantFrom('10de', '1002', '8086', '1a03'),
  classId: fc.constantFrom('030000', '030200', '120000'),
  driver,
  physfn: fc.option(addr),
  isolation: fc.constantFrom('clean' as const, 'shared' as const, 'unknown' as const),
  host: fc.record({
    iommuActive: fc.boolean(),
    firmwareIommu: fc.constantFrom('present' as const, 'absent' as const, 'unknown' as const),
    cpuVendor: fc.constantFrom('intel', 'amd'),
    vfioAvailable: fc.boolean(),
    kernel: fc.option(fc.constantFrom(515, 605, 608, 612, 619)),
    cmdline: fc.subarray(['intel_iommu', 'i915.enable_guc', 'i915.max_vfs', 'module_blacklist', 'xe.max_vfs']),
    sriovManage: fc.boolean(),
  }),
  sriov: fc.option(fc.record({
    totalVfs: fc.constantFrom(0, 4, 7, 8, 32),
    numVfs: fc.constantFrom(0, 2, 7),
    driversAutoprobe: fc.option(fc.boolean()),
    vfDrivers: fc.array(fc.constantFrom(null, 'vfio-pci', 'i915', 'nvidia'), { maxLength: 4 }),
  })),
  rows: fc.shuffledSubarray([...FAMILIES], { maxLength: 8 }),
  mdevTypes: fc.array(fc.record({ id: fc.constantFrom('nvidia-222', 'i915-GVTg_V5_4'), name: fc.option(fc.string()), available: fc.option(fc.nat(16)), migBacked: fc.constant(false) }), { maxLength: 3 }),
  vendorVfio: fc.option(fc.array(vf, { minLength: 1, maxLength: 4 })),
  mig: fc.option(fc.oneof(
    fc.record({ known: fc.constant(true as const), current: mode, pending: mode, devices: fc.array(fc.record({ gpuInstanceId: fc.nat(14), computeInstanceId: fc.nat(7), multiprocessors: fc.constant(null), memoryMiB: fc.constant(null) }), { maxLength: 3 }) }),
    fc.record({ known: fc.constant(false as const), reason: fc.constant('no nvidia-smi') }),
  )),
  intel: fc.option(intel),
  xeProfiles: fc.constant(null),
}).map((f) => {
  // As rowsFor() gives them: the device's own vendor, at most one row per mechanism.
  const seen = new Set<string>();
  const rows = f.rows.filter((r) => r.vendorId === f.vendorId && !seen.has(r.mechanism) && seen.add(r.mechanism));
  return { ...f, rows };
});

const RENDER = new Set(['i915', 'xe', 'amdgpu', 'radeon', 'nouveau', 'nvidia']);
const rowSays = (f: GpuSharingFacts, m: string, supported: boolean) => f.rows.some((r) => r.mechanism === m && r.supported === supported);

/** What the facts must show for a strategy to be usable now. */
function nowAllowed(f: GpuSharingFacts, s: StrategyVerdict): string | null {
  switch (s.strategy) {
    case 'passthrough':
      if (!f.host.iommuActive) return 'no active IOMMU';
      if (f.isolation === 'shared') return 'the group holds other devices';
      if (!f.host.vfioAvailable) return 'no vfio-pci module';
      return null;
    case 'sriov': {
      if (!f.sriov || f.sriov.totalVfs === 0) return 'no VFs offered';
      if (!f.host.iommuActive) return 'no active IOMMU';
      if (!f.driver) return 'no PF driver';
      if (f.vendorId === '10de' && (f.driver !== 'nvidia' || !f.host.sriovManage)) return 'NVIDIA needs its vGPU driver and sriov-manage';
      const gim = f.rows.some((r) => r.mechanism === 'sriov' && r.driver === 'gim');
      if (f.vendorId === '1002' && gim && f.driver !== 'gim') return 'this AMD GPU makes VFs only under gim';
      const i915 = f.intel?.modules.find((m) => m.name === 'i915');
      if (f.vendorId === '8086' && f.intel && f.driver === 'i915' && i915 && i915.origin !== 'dkms') return 'stock i915 cannot create VFs';
      return null;
    }
    case 'vendor-vfio':
      return f.vendorVfio?.length ? null : 'no VF has nvidia/creatable_vgpu_types';
    case 'mdev':
      return f.mdevTypes.length ? null : 'no mdev types';
    case 'mig':
      return f.mig?.known && f.mig.current === 'Enabled' ? null : 'MIG mode is not on';
    case 'virtio-gpu':
      if (f.classId.startsWith('12')) return 'an accelerator has no graphics engine';
      return f.driver && RENDER.has(f.driver) ? null : 'no host render driver';
  }
}

/** What the host shows working, which "impossible" may never deny. */
function impossibleAllowed(f: GpuSharingFacts, s: StrategyVerdict): string | null {
  switch (s.strategy) {
    case 'sriov': return f.sriov && f.sriov.totalVfs > 0 ? 'the device offers VFs' : null;
    case 'vendor-vfio': return f.vendorVfio ? 'VFs list vGPU types' : null;
    case 'mdev': return f.mdevTypes.length ? 'mdev types exist' : null;
    case 'mig': return f.mig?.known && f.mig.current === 'Enabled' ? 'MIG mode is on' : null;
    default: return null;
  }
}

describe('sharing verdict (property)', () => {
  it('never offers now what the facts contradict, never denies what the host shows, always names the change', () => {
    fc.assert(
      fc.property(facts, (f) => {
        const verdicts = judgeSharing(f);
        expect(new Set(verdicts.map((x) => x.strategy)).size).toBe(verdicts.length);
        for (const s of verdicts) {
          if (s.status === 'now') expect(nowAllowed(f, s), `${s.strategy} now: ${s.summary}`).toBeNull();
          if (s.status === 'impossible') expect(impossibleAllowed(f, s), `${s.strategy} impossible: ${s.summary}`).toBeNull();
          if (s.status === 'after') expect(s.changes.length, `${s.strategy} after: ${s.summary}`).toBeGreaterThan(0);
          // only a family row (or the driver's own N/A) may rule a mechanism out
          if (s.status === 'impossible' && s.strategy !== 'passthrough' && s.strategy !== 'virtio-gpu') {
            const byRow = rowSays(f, s.strategy === 'mdev' ? 'gvt-g' : s.strategy, false) || (s.strategy === 'mdev' && rowSays(f, 'mdev', false));
            const byHost = (s.strategy === 'sriov' && !f.sriov) || (s.strategy === 'mig' && f.mig?.known === true && f.mig.current === 'N/A');
            expect(byRow || byHost, `${s.strategy} impossible without a row or a host fact: ${s.summary}`).toBe(true);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('the property can fail: a verdict offering passthrough without an IOMMU is caught', () => {
    const f = fc.sample(facts, { numRuns: 1, seed: 7 })[0]!;
    const bad: StrategyVerdict = { strategy: 'passthrough', status: 'now', summary: '', command: null, changes: [], source: null };
    expect(nowAllowed({ ...f, host: { ...f.host, iommuActive: false } }, bad)).toBe('no active IOMMU');
  });
});
