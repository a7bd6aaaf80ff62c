import { describe, expect, it } from 'vitest';
import { paramValue, parseCmdline, pendingChanges } from '../../src/detect/cmdline.js';

describe('parseCmdline', () => {
  it('splits words, keeps quoted values whole and stops at --', () => {
    const p = parseCmdline('BOOT_IMAGE=/vmlinuz root=UUID=ab-cd ro quiet "acpi_osi=Windows 2015" intel_iommu=on -- init-arg=1\n');
    expect(p).toEqual([
      { key: 'BOOT_IMAGE', value: '/vmlinuz' },
      { key: 'root', value: 'UUID=ab-cd' },
      { key: 'ro', value: null },
      { key: 'quiet', value: null },
      { key: 'acpi_osi', value: 'Windows 2015' },
      { key: 'intel_iommu', value: 'on' },
    ]);
  });

  it('takes the last value and treats - and _ in names alike', () => {
    const p = parseCmdline('intel_iommu=off intel-iommu=on vfio-pci.ids=10de:2204');
    expect(paramValue(p, 'intel_iommu')).toBe('on');
    expect(paramValue(p, 'vfio_pci.ids')).toBe('10de:2204');
    expect(paramValue(p, 'iommu')).toBeUndefined();
  });
});

describe('pendingChanges', () => {
  const running = parseCmdline('BOOT_IMAGE=/vmlinuz-6.8 root=/dev/sda1 ro quiet iommu=pt');
  it('is empty when the configuration is what is running', () => {
    expect(pendingChanges(running, parseCmdline('quiet iommu=pt'))).toEqual([]);
  });
  it('reports added, changed and removed IOMMU parameters, not bootloader-added ones', () => {
    expect(pendingChanges(running, parseCmdline('quiet intel_iommu=on'))).toEqual(['+intel_iommu=on', '-iommu=pt']);
    expect(pendingChanges(running, parseCmdline('quiet iommu=nopt'))).toEqual(['~iommu=nopt']);
  });
});
