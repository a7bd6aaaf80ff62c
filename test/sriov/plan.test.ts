import { describe, expect, it } from 'vitest';
import { vfAddress, type PfInfo } from '../../src/sriov/detect.js';
import { planEnableSteps, planSriovRestore } from '../../src/sriov/plan.js';
import { planDisableFor, planEnableFor } from '../../src/sriov/vendor-plans.js';
import { chooseAdapter, explainErrno } from '../../src/sriov/vendors.js';
import { describeStep } from '../../src/mutate/steps.js';

function pf(over: Partial<PfInfo> = {}, sriov: Partial<PfInfo['sriov']> = {}): PfInfo {
  return {
    address: '0000:02:00.0', vendorId: '1b36', deviceId: '0010', subsystemVendorId: null, subsystemDeviceId: null, classId: '010802',
    driver: 'nvme', iommuGroup: 9, physfn: null, driverModule: 'nvme', offset: 1, stride: 1, vfs: [],
    sriov: { totalVfs: 4, numVfs: 0, vfDeviceId: '0010', driversAutoprobe: true, ...sriov }, ...over,
  };
}

describe('vfAddress', () => {
  it('adds First VF Offset and index × VF Stride to the routing ID, carrying into device and bus', () => {
    expect(vfAddress('0000:02:00.0', 1, 1, 0)).toBe('0000:02:00.1');
    expect(vfAddress('0000:02:00.0', 1, 1, 7)).toBe('0000:02:01.0');
    // igb under ARI: offset 128, stride 2 (real-kernel-findings: VFs at 07:10.0, 07:10.2)
    expect(vfAddress('0000:07:00.0', 128, 2, 0)).toBe('0000:07:10.0');
    expect(vfAddress('0000:07:00.0', 128, 2, 1)).toBe('0000:07:10.2');
    expect(vfAddress('0000:c1:00.0', 256, 1, 0)).toBe('0000:c2:00.0');
  });
});

describe('generic SR-IOV plans', () => {
  const req = { numVfs: 3, bind: null, vfioLoaded: true } as const;

  it('from zero: write the count, then wait for the VFs', () => {
    expect(planEnableSteps(pf(), req).map(describeStep)).toEqual([
      'write 3 > /sys/bus/pci/devices/0000:02:00.0/sriov_numvfs',
      'wait until 0000:02:00.0 has 3 VFs (at most 30 s)',
    ]);
  });

  it('a non-zero count is changed by writing 0 first (the kernel answers EBUSY otherwise)', () => {
    const steps = planEnableSteps(pf({}, { numVfs: 2 }), req).map(describeStep);
    expect(steps.slice(0, 3)).toEqual([
      'write 0 > /sys/bus/pci/devices/0000:02:00.0/sriov_numvfs',
      'wait until 0000:02:00.0 has 0 VFs (at most 30 s)',
      'write 3 > /sys/bus/pci/devices/0000:02:00.0/sriov_numvfs',
    ]);
  });

  it('--bind vfio-pci turns autoprobe off first, then binds each VF by address', () => {
    const steps = planEnableSteps(pf(), { numVfs: 2, bind: 'vfio-pci', vfioLoaded: false }).map(describeStep);
    expect(steps).toEqual([
      'write 0 > /sys/bus/pci/devices/0000:02:00.0/sriov_drivers_autoprobe',
      'write 2 > /sys/bus/pci/devices/0000:02:00.0/sriov_numvfs',
      'wait until 0000:02:00.0 has 2 VFs (at most 30 s)',
      'run modprobe vfio-pci',
      'write vfio-pci > /sys/bus/pci/devices/0000:02:00.1/driver_override',
      'write 0000:02:00.1 > /sys/bus/pci/drivers_probe',
      'check 0000:02:00.1 is bound to vfio-pci',
      'write vfio-pci > /sys/bus/pci/devices/0000:02:00.2/driver_override',
      'write 0000:02:00.2 > /sys/bus/pci/drivers_probe',
      'check 0000:02:00.2 is bound to vfio-pci',
    ]);
  });

  it('the same count is a no-op', () => {
    expect(planEnableSteps(pf({}, { numVfs: 3 }), req)).toEqual([]);
  });

  it('restore returns to the recorded count and autoprobe from any state', () => {
    const now = pf({}, { numVfs: 3, driversAutoprobe: false });
    expect(planSriovRestore(now, { numVfs: 0, driversAutoprobe: true }).map(describeStep)).toEqual([
      'write 0 > /sys/bus/pci/devices/0000:02:00.0/sriov_numvfs',
      'wait until 0000:02:00.0 has 0 VFs (at most 30 s)',
      'write 1 > /sys/bus/pci/devices/0000:02:00.0/sriov_drivers_autoprobe',
    ]);
    expect(planSriovRestore(pf(), { numVfs: 2, driversAutoprobe: true }).map(describeStep)).toEqual([
      'write 2 > /sys/bus/pci/devices/0000:02:00.0/sriov_numvfs',
      'wait until 0000:02:00.0 has 2 VFs (at most 30 s)',
    ]);
  });
});

describe('vendor paths', () => {
  it('chooses the adapter from the PF driver and vendor', () => {
    expect(chooseAdapter(pf({ driver: 'gim', vendorId: '1002' })).id).toBe('amd-gim');
    expect(chooseAdapter(pf({ driver: 'nvidia', vendorId: '10de', classId: '030200' })).id).toBe('nvidia');
    expect(chooseAdapter(pf({ driver: 'xe', vendorId: '8086', classId: '030000' })).id).toBe('intel');
    expect(chooseAdapter(pf()).id).toBe('generic');
  });

  it('GIM: reload the module with vf_num instead of writing sriov_numvfs', () => {
    const gim = pf({ driver: 'gim', vendorId: '1002', deviceId: '74a1', classId: '120000' }, { numVfs: 1, totalVfs: 8 });
    expect(planEnableFor('amd-gim', gim, { numVfs: 8, bind: null, vfioLoaded: true }).map(describeStep)).toEqual([
      'run modprobe -r gim',
      'run modprobe gim vf_num=8',
      'wait until 0000:02:00.0 has 8 VFs (at most 120 s)',
    ]);
    expect(planDisableFor('amd-gim', gim).map(describeStep)[0]).toBe('run modprobe -r gim');
  });

  it('NVIDIA: sriov-manage -e / -d', () => {
    const nv = pf({ driver: 'nvidia', vendorId: '10de' }, { totalVfs: 16 });
    expect(planEnableFor('nvidia', nv, { numVfs: 16, bind: null, vfioLoaded: true }).map(describeStep)[0]).toBe('run /usr/lib/nvidia/sriov-manage -e 0000:02:00.0');
    expect(planDisableFor('nvidia', pf({ driver: 'nvidia' }, { numVfs: 16 })).map(describeStep)[0]).toBe('run /usr/lib/nvidia/sriov-manage -d 0000:02:00.0');
  });

  it('every kernel errno of sriov_numvfs has a remedy', () => {
    const p = pf();
    expect(explainErrno('ERANGE', p)).toContain('sriov_totalvfs is 4');
    expect(explainErrno('ENOMEM', p)).toContain('pci=realloc');
    expect(explainErrno('ENOENT', pf({ driver: 'pci-stub' }))).toContain('pci-stub has no SR-IOV support');
    expect(explainErrno('EBUSY', p)).toContain('disable them first');
  });
});
