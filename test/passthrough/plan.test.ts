import { describe, expect, it } from 'vitest';
import { planBind, planRestore } from '../../src/passthrough/plan.js';
import { describeStep } from '../../src/mutate/steps.js';

const gpu = { address: '0000:01:00.0', driver: 'nvidia', driverOverride: null, iommuGroup: 14 };
const audio = { address: '0000:01:00.1', driver: 'snd_hda_intel', driverOverride: null, iommuGroup: 14 };

describe('planBind', () => {
  it('loads the driver once, then per device: unbind, override, probe, verify; then checks the VFIO group', () => {
    const steps = planBind([gpu, audio], 'vfio-pci', false);
    expect(steps.map(describeStep)).toEqual([
      'run modprobe vfio-pci',
      'write 0000:01:00.0 > /sys/bus/pci/drivers/nvidia/unbind',
      'write vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override',
      'write 0000:01:00.0 > /sys/bus/pci/drivers_probe',
      'check 0000:01:00.0 is bound to vfio-pci',
      'write 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind',
      'write vfio-pci > /sys/bus/pci/devices/0000:01:00.1/driver_override',
      'write 0000:01:00.1 > /sys/bus/pci/drivers_probe',
      'check 0000:01:00.1 is bound to vfio-pci',
      'check /dev/vfio/14 exists',
    ]);
  });

  it('never uses new_id, which would grab every identical device', () => {
    const steps = planBind([gpu, audio], 'vfio-pci', true);
    expect(steps.some((s) => 'path' in s && /new_id|vfio-pci\/bind/.test(s.path))).toBe(false);
  });

  it('skips devices already on the target, and a driverless device needs no unbind', () => {
    const steps = planBind([{ ...gpu, driver: 'vfio-pci' }, { ...audio, driver: null }], 'pci-stub', true);
    expect(steps.map(describeStep)).toEqual([
      'write 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/unbind',
      'write pci-stub > /sys/bus/pci/devices/0000:01:00.0/driver_override',
      'write 0000:01:00.0 > /sys/bus/pci/drivers_probe',
      'check 0000:01:00.0 is bound to pci-stub',
      'write pci-stub > /sys/bus/pci/devices/0000:01:00.1/driver_override',
      'write 0000:01:00.1 > /sys/bus/pci/drivers_probe',
      'check 0000:01:00.1 is bound to pci-stub',
    ]);
    expect(planBind([{ ...gpu, driver: 'vfio-pci' }], 'vfio-pci', true)).toEqual([]);
  });
});

describe('planRestore', () => {
  const bound = { ...gpu, driver: 'vfio-pci', driverOverride: 'vfio-pci' };

  it('unbinds, clears the override, binds the recorded driver and verifies', () => {
    const steps = planRestore([{ ...bound, want: 'nvidia', wantOverride: null, wantModule: 'nvidia' }], new Set(['nvidia', 'vfio-pci']));
    expect(steps.map(describeStep)).toEqual([
      'write 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/unbind',
      'write "\\n" (clear) > /sys/bus/pci/devices/0000:01:00.0/driver_override',
      'write 0000:01:00.0 > /sys/bus/pci/drivers/nvidia/bind',
      'check 0000:01:00.0 is bound to nvidia',
    ]);
  });

  it('loads the recorded module when its driver is gone, then probes', () => {
    const steps = planRestore([{ ...bound, want: 'snd_hda_intel', wantOverride: null, wantModule: 'snd_hda_intel' }], new Set(['vfio-pci']));
    expect(steps.map(describeStep)).toContain('run modprobe snd_hda_intel');
    expect(steps.map(describeStep)).toContain('write 0000:01:00.0 > /sys/bus/pci/drivers_probe');
  });

  it('does nothing for a device already in its recorded state; plans only what is left after a half-done change', () => {
    expect(planRestore([{ ...gpu, want: 'nvidia', wantOverride: null, wantModule: null }], new Set(['nvidia']))).toEqual([]);
    // unbound, override already set: only the override and the bind remain
    const half = planRestore([{ ...gpu, driver: null, driverOverride: 'vfio-pci', want: 'nvidia', wantOverride: null, wantModule: null }], new Set(['nvidia']));
    expect(half.map((s) => s.kind)).toEqual(['write', 'write', 'verify-driver']);
  });

  it('a foreign driver_override goes back only after the recorded driver is bound (the bind would fail with ENODEV)', () => {
    const steps = planRestore([{ ...bound, want: 'snd_hda_intel', wantOverride: 'someone-elses', wantModule: null }], new Set(['snd_hda_intel', 'vfio-pci']));
    expect(steps.map(describeStep)).toEqual([
      'write 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/unbind',
      'write snd_hda_intel > /sys/bus/pci/devices/0000:01:00.0/driver_override',
      'write 0000:01:00.0 > /sys/bus/pci/drivers/snd_hda_intel/bind',
      'check 0000:01:00.0 is bound to snd_hda_intel',
      'write someone-elses > /sys/bus/pci/devices/0000:01:00.0/driver_override',
    ]);
  });

  it("'default' clears the override and lets the kernel choose", () => {
    const steps = planRestore([{ ...bound, want: 'default', wantOverride: null, wantModule: null }], new Set());
    expect(steps.map(describeStep)).toEqual([
      'write 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/unbind',
      'write "\\n" (clear) > /sys/bus/pci/devices/0000:01:00.0/driver_override',
      'write 0000:01:00.0 > /sys/bus/pci/drivers_probe',
      'check 0000:01:00.0 is no longer bound to vfio-pci',
    ]);
  });
});
