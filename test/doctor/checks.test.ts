import { describe, expect, it } from 'vitest';
import { runChecks, type Check } from '../../src/doctor/checks.js';
import type { GpuFacts, HostFacts } from '../../src/doctor/facts.js';
import { parseCmdline } from '../../src/detect/cmdline.js';
import type { Bootloader } from '../../src/boot/bootloader.js';

const grub: Bootloader = { kind: 'grub', reason: '/etc/default/grub exists', configFile: '/etc/default/grub', configured: 'quiet intel_iommu=on' };

function gpu(over: Partial<GpuFacts> = {}): GpuFacts {
  return {
    address: '0000:01:00.0', vendorId: '10de', deviceId: '2204', subsystemVendorId: null, subsystemDeviceId: null,
    classId: '030000', driver: 'nvidia', iommuGroup: 14, physfn: null, bootVga: false, resetMethods: ['bus'],
    sriov: null, driverOverride: null, isolation: 'clean', blockingPeers: [], companions: [], ...over,
  };
}

/** A healthy Intel host; each test changes the one fact it is about. */
function facts(over: Partial<HostFacts> = {}): HostFacts {
  const running = 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet intel_iommu=on';
  return {
    kernel: '6.8.0',
    cpu: { vendor: 'intel', model: 'Intel Core', vmx: true, svm: false, hypervisor: false },
    kvmDevice: true,
    firmware: { dmar: 'present', ivrs: 'absent' },
    iommu: { units: ['dmar0'], groupCount: 20, remappedInterrupts: true, ecapInterruptRemapping: true, allowUnsafeInterrupts: false },
    cmdline: { running, params: parseCmdline(running) },
    boot: grub,
    configuredParams: parseCmdline(grub.configured!),
    intelIommuDefaultOn: 'n',
    modules: ['vfio', 'vfio_pci', 'vfio_iommu_type1'].map((name) => ({ name, loaded: true, builtin: false, available: true })),
    modulesListed: true,
    privileged: true,
    vendorReset: 'absent',
    gpus: [gpu()],
    ...over,
  };
}

const byId = (checks: Check[], id: string) => {
  const c = checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id}`);
  return c;
};
const status = (f: HostFacts, id: string) => byId(runChecks(f), id).status;

describe('doctor checks', () => {
  it('passes every check on a healthy host', () => {
    const checks = runChecks(facts());
    expect(checks.map((c) => [c.id, c.status])).toEqual([
      ['cpu.virtualization', 'pass'], ['kvm.device', 'pass'], ['iommu.firmware', 'pass'], ['iommu.enabled', 'pass'],
      ['cmdline.iommu', 'pass'], ['iommu.interrupt-remapping', 'pass'], ['vfio.modules', 'pass'], ['boot.pending', 'pass'],
      ['gpu.isolation', 'pass'], ['gpu.reset', 'pass'],
    ]);
    expect(checks.every((c) => c.remedy === null)).toBe(true);
  });

  it('cpu.virtualization fails without vmx/svm (and without /dev/kvm) and tells a VM from bare metal', () => {
    const noFlags = { vendor: 'intel' as const, model: null, vmx: false, svm: false, hypervisor: false };
    expect(byId(runChecks(facts({ cpu: noFlags, kvmDevice: false })), 'cpu.virtualization')).toMatchObject({ status: 'fail', remedy: expect.stringContaining('firmware setup') });
    expect(byId(runChecks(facts({ cpu: { ...noFlags, hypervisor: true }, kvmDevice: false })), 'cpu.virtualization').remedy).toContain('nested');
    expect(status(facts({ cpu: { ...noFlags, svm: true, vendor: 'amd' }, kvmDevice: false }), 'cpu.virtualization')).toBe('pass');
  });

  it('cpu.virtualization is judged by what works: /dev/kvm without the flag (nested, PVM) passes, with a note', () => {
    const noFlags = { vendor: 'intel' as const, model: null, vmx: false, svm: false, hypervisor: true };
    const c = byId(runChecks(facts({ cpu: noFlags, kvmDevice: true })), 'cpu.virtualization');
    expect(c).toMatchObject({ status: 'pass', remedy: null });
    expect(c.summary).toContain('/dev/kvm is present, so KVM works here');
    expect(status(facts({ cpu: noFlags, kvmDevice: true }), 'kvm.device')).toBe('pass');
    const wrongVendor = byId(runChecks(facts({ cpu: { ...noFlags, svm: true }, kvmDevice: true })), 'cpu.virtualization');
    expect(wrongVendor.status).toBe('pass');
    expect(status(facts({ cpu: { ...noFlags, svm: true }, kvmDevice: false }), 'cpu.virtualization')).toBe('fail');
  });

  it('kvm.device fails without /dev/kvm and names the module to load', () => {
    const c = byId(runChecks(facts({ kvmDevice: false })), 'kvm.device');
    expect(c.status).toBe('fail');
    expect(c.remedy).toContain('modprobe kvm_intel');
  });

  it('iommu.firmware: pass with DMAR or IVRS, fail without, skip when only root can tell', () => {
    const off = { units: [], groupCount: 0, remappedInterrupts: false, ecapInterruptRemapping: null, allowUnsafeInterrupts: null };
    expect(status(facts({ firmware: { dmar: 'absent', ivrs: 'present' } }), 'iommu.firmware')).toBe('pass');
    expect(status(facts({ firmware: { dmar: 'absent', ivrs: 'absent' }, iommu: off }), 'iommu.firmware')).toBe('fail');
    const unreadable = byId(runChecks(facts({ firmware: { dmar: 'unreadable', ivrs: 'unreadable' }, iommu: off })), 'iommu.firmware');
    expect(unreadable.status).toBe('skip');
    expect(unreadable.remedy).toContain('sudo');
    expect(status(facts({ firmware: { dmar: 'no-acpi', ivrs: 'no-acpi' }, iommu: off }), 'iommu.firmware')).toBe('warn');
  });

  describe('iommu.enabled and cmdline.iommu', () => {
    const off = { units: [], groupCount: 0, remappedInterrupts: false, ecapInterruptRemapping: null, allowUnsafeInterrupts: null };
    const cmd = (text: string) => ({ running: text, params: parseCmdline(text) });

    it('Intel with DMAR but no intel_iommu=on: both fail, remedy edits GRUB_CMDLINE_LINUX_DEFAULT and runs update-grub', () => {
      const f = facts({ iommu: off, cmdline: cmd('root=/dev/sda1 quiet') });
      for (const id of ['iommu.enabled', 'cmdline.iommu']) {
        const c = byId(runChecks(f), id);
        expect(c.status).toBe('fail');
        expect(c.remedy).toContain('intel_iommu=on');
        expect(c.remedy).toContain('GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub');
        expect(c.remedy).toContain('update-grub');
      }
      expect(byId(runChecks(f), 'cmdline.iommu').summary).toContain('CONFIG_INTEL_IOMMU_DEFAULT_ON');
    });

    it('Intel kernel that turns VT-d on by default needs no parameter', () => {
      expect(status(facts({ cmdline: cmd('root=/dev/sda1 quiet') }), 'cmdline.iommu')).toBe('pass');
    });

    it('an explicit off fails with a remedy that removes it', () => {
      const c = byId(runChecks(facts({ iommu: off, cmdline: cmd('intel_iommu=off') })), 'iommu.enabled');
      expect(c.status).toBe('fail');
      expect(c.remedy).toContain('remove `intel_iommu=off`');
    });

    it('AMD: no parameter needed; amd_iommu=on is flagged as a no-op, never recommended', () => {
      const amd = { vendor: 'amd' as const, model: null, vmx: false, svm: true, hypervisor: false };
      const base = { cpu: amd, firmware: { dmar: 'absent' as const, ivrs: 'present' as const }, iommu: { ...facts().iommu, units: ['ivhd0'] } };
      expect(status(facts({ ...base, cmdline: cmd('quiet') }), 'cmdline.iommu')).toBe('pass');
      const onParam = byId(runChecks(facts({ ...base, cmdline: cmd('quiet amd_iommu=on') })), 'cmdline.iommu');
      expect(onParam.status).toBe('warn');
      expect(onParam.summary).toContain('not a kernel option');
      expect(onParam.remedy).toContain('remove `amd_iommu=on`');
      const all = runChecks(facts({ ...base, iommu: off, cmdline: cmd('quiet') }));
      expect(all.map((c) => c.remedy ?? '').join(' ')).not.toContain('add `amd_iommu=on`');
    });

    it('systemd-boot and Proxmox remedies name their own file and command', () => {
      const f = (boot: Bootloader) => byId(runChecks(facts({ boot, iommu: off, cmdline: cmd('quiet') })), 'cmdline.iommu').remedy;
      expect(f({ kind: 'proxmox-boot-tool', reason: '', configFile: '/etc/kernel/cmdline', configured: 'quiet' })).toContain('proxmox-boot-tool refresh');
      expect(f({ kind: 'systemd-boot', reason: '', configFile: '/etc/kernel/cmdline', configured: 'quiet' })).toContain('/etc/kernel/cmdline');
      expect(f({ kind: 'grub-bls', reason: '', configFile: '/boot/loader/entries', configured: 'quiet' })).toContain('grubby --update-kernel=ALL --args="intel_iommu=on"');
      expect(f({ kind: 'kernelstub', reason: '', configFile: null, configured: 'quiet' })).toContain('kernelstub -a "intel_iommu=on"');
    });
  });

  it('interrupt remapping: fail without it, warn when unsafe interrupts are allowed, skip without IOMMU', () => {
    const ir = facts().iommu;
    expect(status(facts({ iommu: { ...ir, remappedInterrupts: false } }), 'iommu.interrupt-remapping')).toBe('fail');
    expect(status(facts({ iommu: { ...ir, remappedInterrupts: false, allowUnsafeInterrupts: true } }), 'iommu.interrupt-remapping')).toBe('warn');
    expect(status(facts({ iommu: { ...ir, units: [], groupCount: 0 } }), 'iommu.interrupt-remapping')).toBe('skip');
  });

  it('vfio.modules: pass when loaded or available, fail when missing', () => {
    const mods = (loaded: boolean, available: boolean) => ['vfio', 'vfio_pci', 'vfio_iommu_type1'].map((name) => ({ name, loaded, builtin: false, available }));
    expect(status(facts({ modules: mods(false, true) }), 'vfio.modules')).toBe('pass');
    const missing = byId(runChecks(facts({ modules: mods(false, false) })), 'vfio.modules');
    expect(missing.status).toBe('fail');
    expect(missing.summary).toContain('vfio_pci');
  });

  it('boot.pending warns when the configuration differs from the running command line', () => {
    const c = byId(runChecks(facts({ configuredParams: parseCmdline('quiet intel_iommu=on iommu=pt') })), 'boot.pending');
    expect(c.status).toBe('warn');
    expect(c.summary).toContain('+iommu=pt');
    expect(status(facts({ configuredParams: null }), 'boot.pending')).toBe('skip');
  });

  it('gpu.isolation and gpu.reset judge the GPUs', () => {
    expect(status(facts({ gpus: [] }), 'gpu.isolation')).toBe('skip');
    expect(status(facts({ gpus: [gpu({ isolation: 'shared' })] }), 'gpu.isolation')).toBe('warn');
    expect(byId(runChecks(facts({ gpus: [gpu({ bootVga: true })] })), 'gpu.isolation').summary).toContain('only the boot GPU');
    expect(byId(runChecks(facts({ gpus: [gpu({ bootVga: true })] })), 'gpu.isolation').remedy).toContain('`gpuvirt singlegpu <vm> 0000:01:00.0`');
    expect(status(facts({ gpus: [gpu({ resetMethods: [] })] }), 'gpu.reset')).toBe('warn');
  });

  describe('gpu.reset: one verdict per GPU, the boot GPU included, in consistent words', () => {
    const polaris = (over: Partial<GpuFacts> = {}) => gpu({ vendorId: '1002', deviceId: '67df', driver: 'amdgpu', ...over });
    it('a reset-bug family is never "can be reset" on the strength of its bus reset', () => {
      const c = byId(runChecks(facts({ gpus: [polaris({ resetMethods: ['flr', 'bus'] })] })), 'gpu.reset');
      expect(c.status).toBe('warn');
      expect(c.summary).toContain('AMD Polaris 10');
      expect(c.summary).toContain('vendor-reset is not installed');
      expect(c.remedy).toContain('gpuvirt setup --reset');
      expect(c.summary).not.toContain('can be reset');
    });
    it('vendor-reset installed or loaded without device_specific first: setup --reset is the fix', () => {
      for (const vendorReset of ['installed', 'loaded'] as const) {
        const c = byId(runChecks(facts({ vendorReset, gpus: [polaris({ resetMethods: ['bus', 'device_specific'] })] })), 'gpu.reset');
        expect(c.status).toBe('warn');
        expect(c.remedy).toMatch(/^run `gpuvirt setup --reset`/);
      }
    });
    it('device_specific first with vendor-reset loaded passes, and says vendor-reset does it', () => {
      const c = byId(runChecks(facts({ vendorReset: 'loaded', gpus: [polaris({ resetMethods: ['device_specific'] })] })), 'gpu.reset');
      expect(c).toMatchObject({ status: 'pass', remedy: null });
      expect(c.summary).toBe('every GPU a VM can take can be reset: 0000:01:00.0: vendor-reset');
    });
    it('a GPU without methods is named once and never counted as having one; the boot GPU is marked', () => {
      const c = byId(runChecks(facts({ gpus: [gpu({ resetMethods: [] }), gpu({ address: '0000:02:00.0', bootVga: true })] })), 'gpu.reset');
      expect(c.status).toBe('warn');
      expect(c.summary).toBe('no reset method on 0000:01:00.0: the GPU may not work again after its first VM stops');
      const ok = byId(runChecks(facts({ gpus: [gpu({ bootVga: true })] })), 'gpu.reset');
      expect(ok.summary).toBe('every GPU a VM can take can be reset: 0000:01:00.0 (boot GPU): bus');
    });
    it('a boot GPU without a reset method (a BMC) stays with the host: shown, not warned about', () => {
      const c = byId(runChecks(facts({ gpus: [gpu({ resetMethods: [], bootVga: true }), gpu({ address: '0000:02:00.0' })] })), 'gpu.reset');
      expect(c).toMatchObject({ status: 'pass', summary: 'every GPU a VM can take can be reset: 0000:02:00.0: bus; the boot GPU 0000:01:00.0 has no reset method and stays with the host' });
      expect(status(facts({ gpus: [gpu({ resetMethods: [], bootVga: true })] }), 'gpu.reset')).toBe('skip');
    });
    it('a reset-bug boot GPU (single-GPU passthrough) is warned about', () => {
      const c = byId(runChecks(facts({ vendorReset: 'loaded', gpus: [polaris({ bootVga: true })] })), 'gpu.reset');
      expect(c.status).toBe('warn');
      expect(c.summary).toContain('0000:01:00.0 (boot GPU) is AMD Polaris 10');
    });
  });

  it('every command-line fix names the gpuvirt command that makes it, then the change by hand', () => {
    const off = { units: [], groupCount: 0, remappedInterrupts: null, ecapInterruptRemapping: false, allowUnsafeInterrupts: false };
    const missing = runChecks(facts({ iommu: off, cmdline: { running: 'quiet', params: parseCmdline('quiet') } }));
    for (const id of ['iommu.enabled', 'cmdline.iommu']) expect(byId(missing, id).remedy).toMatch(/^run `gpuvirt setup --iommu`, then reboot; by hand: add `intel_iommu=on`/);
    const turnedOff = byId(runChecks(facts({ iommu: off, cmdline: { running: 'intel_iommu=off', params: parseCmdline('intel_iommu=off') } })), 'cmdline.iommu');
    expect(turnedOff.remedy).toMatch(/^run `gpuvirt setup --remove-param intel_iommu=off`/);
    const amd = byId(runChecks(facts({ cpu: { vendor: 'amd', model: 'AMD', vmx: false, svm: true, hypervisor: false }, cmdline: { running: 'amd_iommu=on', params: parseCmdline('amd_iommu=on') } })), 'cmdline.iommu');
    expect(amd.remedy).toMatch(/^run `gpuvirt setup --remove-param amd_iommu=on`/);
    // No bootloader gpuvirt can edit: only the change by hand.
    const unknown = byId(runChecks(facts({ iommu: off, boot: { kind: 'unknown', reason: '', configFile: null, configured: null }, cmdline: { running: 'quiet', params: parseCmdline('quiet') } })), 'cmdline.iommu');
    expect(unknown.remedy).not.toContain('gpuvirt setup');
    const shared = byId(runChecks(facts({ gpus: [gpu({ isolation: 'shared' })] })), 'gpu.isolation');
    expect(shared.remedy).toContain('`gpuvirt passthrough 0000:01:00.0 --force`');
  });
});
