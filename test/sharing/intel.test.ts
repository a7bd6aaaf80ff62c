// Intel driver facts read from the fixture machines: which i915 the kernel loads, DKMS builds,
// Secure Boot, the module signature, and xe's sriov_admin profiles.
import { describe, expect, it } from 'vitest';
import { FsHost } from '../../src/host/fs-host.js';
import { readIntelFacts, readXeProfiles } from '../../src/sharing/intel.js';

const FIXTURES = new URL('../fixtures/sysfs/', import.meta.url).pathname;
const host = (m: string) => new FsHost(FIXTURES + m);
const KERNEL = '6.8.12-4-pve';

describe('Intel driver facts', () => {
  it('stock i915: in-tree module, loaded, no max_vfs; DKMS registered but built only for the old kernel', () => {
    const f = readIntelFacts(host('intel-adl-stock-i915'), KERNEL);
    expect(f.modules[0]).toMatchObject({ name: 'i915', origin: 'in-tree', loaded: true, file: 'kernel/drivers/gpu/drm/i915/i915.ko', taint: '', signed: true }); // loaded without the E taint
    expect(f.modules[0]!.params).toEqual(['enable_guc', 'enable_gvt']);
    expect(f.dkms).toEqual([{ name: 'i915-sriov-dkms', version: '2024.12.02', builtForKernel: false }]);
    expect(f.secureBoot).toBe(false);
  });

  it('i915-sriov-dkms: updates/dkms module, out-of-tree taint, its version, max_vfs, signed', () => {
    const f = readIntelFacts(host('intel-adl-i915-sriov'), KERNEL);
    expect(f.modules[0]).toMatchObject({ origin: 'dkms', loaded: true, file: 'updates/dkms/i915.ko', version: '2024.12.02', taint: 'O', signed: true });
    expect(f.modules[0]!.params).toContain('max_vfs');
    expect(f.dkms[0]!.builtForKernel).toBe(true);
    expect(f.secureBoot).toBe(true);
  });

  it('Secure Boot on, DKMS module unsigned and not loaded', () => {
    const f = readIntelFacts(host('intel-adl-secure-boot'), KERNEL);
    expect(f.modules[0]).toMatchObject({ origin: 'dkms', loaded: false, signed: false, params: null });
    expect(f.secureBoot).toBe(true);
    expect(f.modules[1]).toMatchObject({ name: 'xe', origin: 'missing' });
  });

  it('no EFI variable: Secure Boot unknown', () => {
    expect(readIntelFacts(host('intel-xe-sriov'), '6.14.0-24-generic').secureBoot).toBeNull();
  });

  it('xe sriov_admin: the PF and every VF slot, the selected priority out of the choice list', () => {
    const p = readXeProfiles(host('intel-xe-sriov-admin'), '0000:03:00.0')!;
    expect(p.map((x) => x.fn)).toEqual(['pf', 'vf1', 'vf2', 'vf3', 'vf4']);
    expect(p[0]).toEqual({ fn: 'pf', execQuantumMs: 0, preemptTimeoutUs: 0, schedPriority: 'high' });
    expect(p[1]).toEqual({ fn: 'vf1', execQuantumMs: 20, preemptTimeoutUs: 40000, schedPriority: 'normal' });
    expect(readXeProfiles(host('intel-xe-sriov'), '0000:03:00.0')).toBeNull();
  });
});
