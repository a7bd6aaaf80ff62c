// Single cases of the sharing verdict that no fixture machine shows.
import { describe, expect, it } from 'vitest';
import { rowsFor } from '../../src/sharing/families.js';
import { judgeSharing, type GpuSharingFacts } from '../../src/sharing/verdict.js';

const base: GpuSharingFacts = {
  address: '0000:00:02.0', vendorId: '8086', classId: '030000', driver: 'i915', physfn: null, isolation: 'clean',
  host: { iommuActive: true, firmwareIommu: 'present', cpuVendor: 'intel', vfioAvailable: true, kernel: 608, cmdline: ['intel_iommu', 'i915.enable_guc', 'i915.max_vfs', 'module_blacklist'], sriovManage: false },
  sriov: { totalVfs: 7, numVfs: 2, driversAutoprobe: true, vfDrivers: ['i915', 'i915'] },
  rows: rowsFor('8086', '4680'), mdevTypes: [], vendorVfio: null, mig: null,
  intel: { modules: [{ name: 'i915', file: 'updates/dkms/i915.ko', origin: 'dkms', loaded: true, version: null, taint: 'O', params: ['max_vfs'], signed: true }, { name: 'xe', file: null, origin: 'missing', loaded: false, version: null, taint: null, params: null, signed: null }], dkms: [], secureBoot: false },
  xeProfiles: null,
};
const get = (f: GpuSharingFacts, s: string) => judgeSharing(f).find((x) => x.strategy === s)!;

describe('sharing verdict cases', () => {
  it('Intel VFs bound to i915 are on the host, not kept off it', () => {
    expect(get(base, 'sriov').summary).toContain('2 VF(s) are on a host driver');
  });

  it('NVIDIA VFs on nvidia are where they belong', () => {
    const f: GpuSharingFacts = { ...base, vendorId: '10de', driver: 'nvidia', rows: rowsFor('10de', '26b9'), intel: null, host: { ...base.host, sriovManage: true }, sriov: { totalVfs: 32, numVfs: 32, driversAutoprobe: true, vfDrivers: ['nvidia', 'nvidia'] } };
    expect(get(f, 'sriov').summary).not.toContain('host driver');
  });

  it('MIG pending: after a GPU reset, with the command', () => {
    const f: GpuSharingFacts = { ...base, vendorId: '10de', driver: 'nvidia', rows: rowsFor('10de', '2331'), intel: null, mig: { known: true, current: 'Disabled', pending: 'Enabled', devices: [] } };
    expect(get(f, 'mig')).toMatchObject({ status: 'after', changes: [{ kind: 'command', command: 'nvidia-smi -i 0000:00:02.0 -r' }] });
  });

  it('GVT-g on a Gen9 iGPU: after i915.enable_gvt=1 and kvmgt', () => {
    const f: GpuSharingFacts = { ...base, rows: rowsFor('8086', '3e92'), sriov: null, intel: null };
    expect(get(f, 'mdev')).toMatchObject({ status: 'after', changes: [{ kind: 'kernel-param', what: 'i915.enable_gvt=1' }, { kind: 'module', what: 'kvmgt loaded at boot' }] });
  });

  it('an NVIDIA GPU the table does not know is unknown for vGPU, never impossible', () => {
    const f: GpuSharingFacts = { ...base, vendorId: '10de', driver: 'nvidia', rows: [], intel: null, sriov: null };
    expect([get(f, 'vendor-vfio').status, get(f, 'mdev').status]).toEqual(['unknown', 'unknown']);
  });
});
