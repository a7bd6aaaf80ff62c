// doctor's verdicts: pure functions of HostFacts. Each check has a stable id (part of the
// JSON contract), a status, a one-line summary and, when something is wrong, the exact remedy
// for this host's bootloader. Kernel facts: shared host-facts sections A4 and B.
import { cmdlineRemedy } from '../boot/bootloader.js';
import { paramValue, pendingChanges } from '../detect/cmdline.js';
import type { HostFacts } from './facts.js';
import { judgeReset } from '../reset/judge.js';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface Check {
  id: string;
  status: CheckStatus;
  summary: string;
  remedy: string | null;
}

const check = (id: string, status: CheckStatus, summary: string, remedy: string | null = null): Check => ({ id, status, summary, remedy });

/**
 * The fix for a command-line problem: the gpuvirt command that makes it, where gpuvirt can edit
 * this host's bootloader, then the same change by hand.
 */
function cmdlineFix(f: HostFacts, change: { add?: string[]; remove?: string[] }, args: string[]): string {
  const hand = cmdlineRemedy(f.boot, change);
  return f.boot.kind === 'unknown' ? hand : `run \`gpuvirt setup ${args.join(' ')}\`, then reboot; by hand: ${hand}`;
}

const removeArgs = (params: string[]) => params.flatMap((p) => ['--remove-param', p]);

export function iommuActive(f: HostFacts): boolean {
  return f.iommu.units.length > 0 && f.iommu.groupCount > 0;
}

/** The CPU's own virtualization flag: vmx on Intel, svm on AMD (an emulated CPU model may show the other). */
function hasVirt(f: HostFacts): 'vmx' | 'svm' | null {
  if (f.cpu.vendor === 'intel') return f.cpu.vmx ? 'vmx' : null;
  if (f.cpu.vendor === 'amd') return f.cpu.svm ? 'svm' : null;
  return f.cpu.vmx ? 'vmx' : f.cpu.svm ? 'svm' : null;
}

function cpuVirtualization(f: HostFacts): Check {
  const id = 'cpu.virtualization';
  const flag = hasVirt(f);
  if (flag === 'vmx') return check(id, 'pass', 'Intel VT-x is available (vmx)');
  if (flag === 'svm') return check(id, 'pass', 'AMD-V is available (svm)');
  // The kernel creates /dev/kvm only once a KVM backend initialised: KVM works whatever the flags say.
  if (f.kvmDevice) return check(id, 'pass', `no ${f.cpu.vmx || f.cpu.svm ? 'matching ' : ''}vmx/svm CPU flag, but /dev/kvm is present, so KVM works here (a hypervisor that offers KVM without the flag: nested or paravirtual, e.g. PVM)`);
  if (f.cpu.vmx || f.cpu.svm) {
    return check(id, 'fail', `this ${f.cpu.vendor === 'intel' ? 'Intel' : 'AMD'} CPU reports ${f.cpu.vmx ? 'vmx' : 'svm'}, the other vendor's flag: an emulated CPU model, which KVM cannot use`,
      'on the hypervisor, give this VM the host CPU model (host-passthrough) with nested virtualization');
  }
  if (f.cpu.hypervisor) {
    return check(id, 'fail', 'no vmx/svm CPU flag: this host is a virtual machine without nested virtualization',
      'enable nested virtualization for this VM on its hypervisor (kvm_intel/kvm_amd `nested=1` there, CPU model host-passthrough)');
  }
  return check(id, 'fail', 'no vmx/svm CPU flag: hardware virtualization is off in firmware or absent',
    'enable Intel Virtualization Technology (VT-x) or AMD SVM Mode in the firmware setup, then power the machine off and on');
}

function kvmDevice(f: HostFacts): Check {
  const id = 'kvm.device';
  if (f.kvmDevice) return check(id, 'pass', '/dev/kvm is present');
  const flag = hasVirt(f);
  const mod = flag === 'vmx' ? 'kvm_intel' : flag === 'svm' ? 'kvm_amd' : null;
  return check(id, 'fail', '/dev/kvm is missing: KVM is not loaded',
    mod ? `load KVM: \`modprobe ${mod}\` (if it fails, \`dmesg | grep -i kvm\` tells whether firmware disabled it)` : 'enable hardware virtualization first (see cpu.virtualization)');
}

function firmwareTable(f: HostFacts): 'DMAR' | 'IVRS' | null {
  if (f.firmware.dmar === 'present') return 'DMAR';
  if (f.firmware.ivrs === 'present') return 'IVRS';
  return null;
}

const FIRMWARE_REMEDY = 'enable VT-d (Intel) or IOMMU / AMD-Vi (AMD) in the firmware setup; some boards hide it under "Chipset" or "North Bridge"';

function iommuFirmware(f: HostFacts): Check {
  const id = 'iommu.firmware';
  const table = firmwareTable(f);
  if (table) return check(id, 'pass', `firmware advertises an IOMMU (ACPI ${table} table: ${table === 'DMAR' ? 'Intel VT-d' : 'AMD-Vi'})`);
  if (f.iommu.units.length) return check(id, 'pass', `the kernel runs IOMMU ${f.iommu.units.join(', ')}, so the firmware advertises one`);
  if (f.firmware.dmar === 'unreadable') {
    return check(id, 'skip', 'the ACPI tables are readable only by root', 'run `sudo gpuvirt doctor` to check the DMAR/IVRS tables');
  }
  if (f.firmware.dmar === 'no-acpi') {
    return check(id, 'warn', 'no ACPI tables visible (a container, or a platform without ACPI): cannot tell whether the firmware has an IOMMU',
      'run gpuvirt on the machine itself, not in a container');
  }
  return check(id, 'fail', 'firmware does not advertise an IOMMU (no ACPI DMAR or IVRS table)', FIRMWARE_REMEDY);
}

function offParams(f: HostFacts): string[] {
  const off: string[] = [];
  for (const key of ['intel_iommu', 'amd_iommu', 'iommu']) {
    const v = paramValue(f.cmdline.params, key);
    if (typeof v === 'string' && v.split(',').includes('off')) off.push(`${key}=${v}`);
  }
  return off;
}

function iommuEnabled(f: HostFacts): Check {
  const id = 'iommu.enabled';
  if (iommuActive(f)) return check(id, 'pass', `IOMMU active: ${f.iommu.groupCount} groups (${f.iommu.units.join(', ')})`);
  const summary = f.iommu.units.length ? 'IOMMU units exist but the kernel made no IOMMU groups' : 'no IOMMU is active in the kernel (no /sys/class/iommu entries, no IOMMU groups)';
  const off = offParams(f);
  if (off.length) return check(id, 'fail', `${summary}: the command line turns it off`, cmdlineFix(f, { remove: off }, removeArgs(off)));
  if (f.firmware.dmar === 'absent' && f.firmware.ivrs === 'absent') return check(id, 'fail', summary, FIRMWARE_REMEDY);
  if (f.firmware.dmar === 'no-acpi') {
    return check(id, 'fail', summary, 'passthrough needs an IOMMU: on a virtual machine give it a virtual IOMMU (QEMU `-device intel-iommu,intremap=on`); in a container it is not possible');
  }
  if (f.cpu.vendor === 'intel' || f.firmware.dmar === 'present') {
    return check(id, 'fail', `${summary}: this kernel leaves Intel VT-d off unless told`, cmdlineFix(f, { add: ['intel_iommu=on'] }, ['--iommu']));
  }
  if (f.cpu.vendor === 'amd') {
    return check(id, 'fail', `${summary}, although AMD-Vi is on by default when the IVRS table exists`,
      '`dmesg | grep -i AMD-Vi` shows why the kernel did not start it; check that the firmware IOMMU option is Enabled, not Auto');
  }
  return check(id, 'fail', summary, FIRMWARE_REMEDY);
}

function cmdlineIommu(f: HostFacts): Check {
  const id = 'cmdline.iommu';
  if (f.cmdline.running === null) return check(id, 'skip', 'the running command line (/proc/cmdline) is not readable');
  const pt = paramValue(f.cmdline.params, 'iommu') === 'pt' ? '; iommu=pt (optional) keeps host devices on identity mapping' : '';
  const off = offParams(f);
  if (off.length) return check(id, 'fail', `the command line turns the IOMMU off (${off.join(' ')})`, cmdlineFix(f, { remove: off }, removeArgs(off)));
  if (f.cpu.vendor === 'intel') {
    const v = paramValue(f.cmdline.params, 'intel_iommu');
    if (typeof v === 'string' && v.split(',').includes('on')) return check(id, 'pass', `intel_iommu=${v} is set${pt}`);
    if (iommuActive(f)) return check(id, 'pass', `no intel_iommu=on needed: this kernel turns VT-d on by default${pt}`);
    const why = f.intelIommuDefaultOn === 'n' ? ' (CONFIG_INTEL_IOMMU_DEFAULT_ON is not set in this kernel)' : '';
    const remedy = cmdlineFix(f, { add: ['intel_iommu=on'] }, ['--iommu']);
    if (!firmwareTable(f) && f.firmware.dmar !== 'unreadable') {
      // The firmware is the first problem (iommu.firmware fails); the parameter is needed after it.
      return check(id, 'warn', `intel_iommu=on is missing too${why}; it is needed once the firmware IOMMU is on`, remedy);
    }
    return check(id, 'fail', `intel_iommu=on is missing${why}`, remedy);
  }
  if (f.cpu.vendor === 'amd') {
    const v = paramValue(f.cmdline.params, 'amd_iommu');
    if (v === 'on') {
      return check(id, 'warn', '`amd_iommu=on` is not a kernel option and does nothing: AMD-Vi is on whenever the IVRS table exists',
        cmdlineFix(f, { remove: ['amd_iommu=on'] }, removeArgs(['amd_iommu=on'])));
    }
    if (!iommuActive(f) && f.firmware.ivrs !== 'present') {
      return check(id, 'skip', 'no IVRS table, so no AMD-Vi for a parameter to turn on (see iommu.firmware)');
    }
    return check(id, 'pass', `no parameter needed: AMD-Vi is on by default when the IVRS table exists${pt}`);
  }
  return check(id, 'skip', 'no IOMMU parameter rules for this CPU vendor');
}

function interruptRemapping(f: HostFacts): Check {
  const id = 'iommu.interrupt-remapping';
  if (!iommuActive(f)) return check(id, 'skip', 'needs an active IOMMU');
  if (f.iommu.remappedInterrupts) return check(id, 'pass', 'interrupt remapping is active (IR- interrupt chips in /proc/interrupts)');
  if (f.iommu.remappedInterrupts === null) {
    return f.iommu.ecapInterruptRemapping
      ? check(id, 'pass', 'the IOMMU supports interrupt remapping (ecap IR bit)')
      : check(id, 'skip', '/proc/interrupts is not readable');
  }
  if (f.iommu.allowUnsafeInterrupts) {
    return check(id, 'warn', 'no interrupt remapping; vfio_iommu_type1 allow_unsafe_interrupts=1 lets VFIO assign devices anyway',
      'a guest could inject interrupts into the host: enable interrupt remapping (x2APIC) in the firmware if the platform has it');
  }
  return check(id, 'fail', 'no interrupt remapping: VFIO will refuse to assign devices',
    'enable x2APIC / interrupt remapping in the firmware; if the platform has none, accept the risk with `options vfio_iommu_type1 allow_unsafe_interrupts=1` in /etc/modprobe.d/vfio.conf');
}

function vfioModules(f: HostFacts): Check {
  const id = 'vfio.modules';
  const names = f.modules.map((m) => m.name).join(', ');
  if (f.modules.every((m) => m.loaded)) return check(id, 'pass', `${names} are loaded`);
  const missing = f.modules.filter((m) => !m.loaded && !m.available).map((m) => m.name);
  if (missing.length === 0) {
    const unloaded = f.modules.filter((m) => !m.loaded).map((m) => m.name);
    return check(id, 'pass', `${unloaded.join(', ')} available for kernel ${f.kernel ?? '?'} (loaded on demand)`);
  }
  if (!f.modulesListed) {
    return check(id, 'fail', `${missing.join(', ')} not loaded, and kernel ${f.kernel ?? '?'} has no module list (modules.dep) to find them in`,
      'install the modules of the running kernel, or a kernel built with CONFIG_VFIO_PCI');
  }
  return check(id, 'fail', `${missing.join(', ')} not found for kernel ${f.kernel ?? '?'}`,
    'install the modules package of the running kernel (e.g. linux-modules-extra-$(uname -r) on Ubuntu), or a kernel built with CONFIG_VFIO_PCI');
}

function bootPending(f: HostFacts): Check {
  const id = 'boot.pending';
  if (f.configuredParams === null || f.cmdline.running === null) {
    return check(id, 'skip', `the configured command line is unknown (bootloader: ${f.boot.kind})`);
  }
  const diffs = pendingChanges(f.cmdline.params, f.configuredParams);
  if (!diffs.length) return check(id, 'pass', `the running command line matches ${f.boot.configFile}`);
  return check(id, 'warn', `the next boot changes the command line: ${diffs.join(' ')}`, 'reboot to apply the configured command line');
}

function gpuIsolation(f: HostFacts): Check {
  const id = 'gpu.isolation';
  if (!f.gpus.length) return check(id, 'skip', 'no GPU found');
  if (!iommuActive(f)) return check(id, 'skip', 'isolation needs an active IOMMU');
  const clean = f.gpus.filter((g) => g.isolation === 'clean');
  const usable = clean.filter((g) => g.bootVga !== true);
  if (usable.length) return check(id, 'pass', `${usable.length} of ${f.gpus.length} GPU functions can be passed through without taking other devices: ${list(usable.map((g) => g.address))}`);
  if (clean.length) {
    return check(id, 'warn', `only the boot GPU ${clean[0]!.address} is isolated`, `passing the boot GPU takes the host's screen with it: \`gpuvirt singlegpu <vm> ${clean[0]!.address}\` hands it to a libvirt VM and gives the desktop back when the VM stops; or add a second GPU, or run the host headless`);
  }
  return check(id, 'warn', `every GPU shares its IOMMU group, or a group of its own slot's other functions, with other devices: ${list(f.gpus.map((g) => g.address))}`,
    `move the card to a CPU-attached slot (chipset slots usually share a group), or pass the whole group: \`gpuvirt passthrough ${(f.gpus.find((g) => g.bootVga !== true) ?? f.gpus[0]!).address} --force\``);
}

function gpuReset(f: HostFacts): Check {
  const id = 'gpu.reset';
  // VFs are reset through their PF (FLR); every physical GPU is judged, the boot GPU too (single-GPU passthrough).
  const pfs = f.gpus.filter((g) => g.physfn === null);
  if (!pfs.length) return check(id, 'skip', 'no GPU found');
  const judged = pfs.map((g) => ({ g, r: judgeReset(g, f.vendorReset) }));
  const label = (g: HostFacts['gpus'][number]) => `${g.address}${g.bootVga ? ' (boot GPU)' : ''}`;
  const setup = judged.filter((x) => x.r.verdict === 'needs-setup');
  const install = judged.filter((x) => x.r.verdict === 'needs-vendor-reset');
  // A boot GPU without a reset method (a BMC's, an iGPU) stays with the host; the GPU list shows its state.
  const none = judged.filter((x) => x.r.verdict === 'none' && x.g.bootVga !== true);
  if (!setup.length && !install.length && !none.length) {
    const hostOnly = judged.filter((x) => x.r.verdict === 'none');
    const candidates = judged.filter((x) => x.r.verdict !== 'none');
    const kept = hostOnly.length ? `the boot GPU ${hostOnly.map((x) => x.g.address).join(', ')} has no reset method and stays with the host` : '';
    if (!candidates.length) return check(id, 'skip', kept);
    const can = `every GPU a VM can take can be reset: ${list(candidates.map((x) => `${label(x.g)}: ${x.r.verdict === 'vendor-reset' ? 'vendor-reset' : x.r.methods.join(' ')}`))}`;
    return check(id, 'pass', kept ? `${can}; ${kept}` : can);
  }
  const parts = [
    ...[...setup, ...install].map((x) => `${label(x.g)} is AMD ${x.r.family!.family}, which does not reset cleanly${x.r.verdict === 'needs-setup' ? '' : f.vendorReset === 'absent' ? ' and vendor-reset is not installed' : ' and whether vendor-reset is installed is unknown'}`),
    ...(none.length ? [`no reset method on ${list(none.map((x) => label(x.g)))}`] : []),
  ];
  const remedies = [
    ...(install.length ? ['install vendor-reset for this kernel (github.com/gnif/vendor-reset, `dkms install .`), then run `gpuvirt setup --reset`'] : []),
    ...(setup.length ? ['run `gpuvirt setup --reset` (loads vendor-reset if needed and selects device_specific, now and at every boot)'] : []),
    ...(none.length ? ['a GPU with no reset method cannot be reset between VMs: expect to reboot the host after its VM stops'] : []),
  ];
  return check(id, 'warn', `${parts.join('; ')}: the GPU may not work again after its first VM stops`, remedies.join('; '));
}

function list(items: string[], max = 4): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}

export function runChecks(f: HostFacts): Check[] {
  return [cpuVirtualization, kvmDevice, iommuFirmware, iommuEnabled, cmdlineIommu, interruptRemapping, vfioModules, bootPending, gpuIsolation, gpuReset].map((c) => c(f));
}
