// What setup changes when the user names nothing: exactly what doctor found missing, and
// nothing else (host-facts B: Intel needs intel_iommu=on unless the kernel turns VT-d on by
// default; AMD needs no parameter; iommu=pt only on request).
import { paramValue, parseCmdline, type KernelParam } from '../detect/cmdline.js';
import { iommuActive } from '../doctor/checks.js';
import type { HostFacts } from '../doctor/facts.js';
import type { ParamChange } from './params.js';
import type { InitramfsKind } from '../boot/initramfs.js';

export interface Recommendation {
  change: ParamChange;
  vfioModules: boolean;
  /** Why each part is recommended, or why something is not. */
  notes: string[];
  /** What stands in the way that setup cannot change (firmware, missing modules), with what to do. */
  cannot: string[];
}

const OFF_KEYS = ['intel_iommu', 'amd_iommu', 'iommu'];

function has(params: readonly KernelParam[] | null, key: string, value: string): boolean {
  const v = paramValue(params ?? [], key);
  return typeof v === 'string' && v.split(',').includes(value);
}

export function recommend(f: HostFacts, vfioAtBoot: boolean, initramfs: InitramfsKind): Recommendation {
  const notes: string[] = [];
  const cannot: string[] = [];
  const add: KernelParam[] = [];
  const remove: string[] = [];
  const configured = f.configuredParams ?? [];
  for (const key of OFF_KEYS) {
    for (const p of [...f.cmdline.params, ...configured]) {
      if (p.key.replace(/-/g, '_') === key && p.value?.split(',').includes('off') && !remove.includes(`${key}=${p.value}`)) remove.push(`${key}=${p.value}`);
    }
  }
  if (remove.length) notes.push(`${remove.join(' ')} turns the IOMMU off: removed`);
  const units = f.iommu.units.length > 0;
  const noFirmware = f.firmware.dmar === 'absent' && f.firmware.ivrs === 'absent' && !units;
  if (noFirmware) cannot.push('the firmware advertises no IOMMU (no ACPI DMAR or IVRS table): enable VT-d / AMD-Vi in the firmware setup; no kernel parameter can replace it');
  if (f.firmware.dmar === 'no-acpi' && !units) {
    cannot.push('no ACPI tables are visible (a container, or a VM without them), and no IOMMU is active: passthrough needs one, which only the machine itself, or its hypervisor as a virtual IOMMU, can provide');
  }
  if (f.cpu.vendor === 'intel' && !noFirmware && !iommuActive(f) && !has(configured, 'intel_iommu', 'on')) {
    add.push({ key: 'intel_iommu', value: 'on' });
    notes.push(`intel_iommu=on: this kernel${f.intelIommuDefaultOn === 'n' ? ' (CONFIG_INTEL_IOMMU_DEFAULT_ON is not set)' : ''} leaves VT-d off unless told`);
  }
  if (f.cpu.vendor === 'amd') {
    const ivrs = f.firmware.ivrs === 'present' || (units && f.firmware.ivrs !== 'absent') ? 'the IVRS table exists' : f.firmware.ivrs === 'unreadable' ? 'the firmware has the IVRS table (readable only by root)' : null;
    if (ivrs) notes.push(`AMD: no IOMMU parameter is needed (AMD-Vi is on when ${ivrs}; \`amd_iommu=on\` is not a kernel option)`);
  }
  if (has(configured, 'amd_iommu', 'on')) notes.push('`amd_iommu=on` in the configuration does nothing; `--remove-param amd_iommu=on` drops it');
  const installed = f.modules.every((m) => m.loaded || m.available);
  if (!installed) cannot.push(`the vfio modules are not installed for kernel ${f.kernel ?? '?'}: install the kernel's modules package first (see doctor's vfio.modules)`);
  else if (!vfioAtBoot) {
    notes.push(initramfs === 'none'
      ? 'vfio, vfio_iommu_type1, vfio_pci: loaded at boot (modules-load.d); no initramfs generator (initramfs-tools, dracut, mkinitcpio) was found, so no initramfs changes and a GPU driver loaded from one could still take the GPU first'
      : `vfio, vfio_iommu_type1, vfio_pci: loaded at boot and in the initramfs (${initramfs}), so vfio-pci is there before any GPU driver`);
  }
  return { change: { add, remove }, vfioModules: installed && !vfioAtBoot, notes, cannot };
}

/** Parses `--param KEY[=VALUE]`; refuses what cannot be written safely into a bootloader file. */
export function parseParamArg(text: string): KernelParam | { error: string } {
  if (!/^[A-Za-z0-9_.-]+(=[A-Za-z0-9_.,:=/+@%-]*)?$/.test(text)) {
    return { error: `--param ${JSON.stringify(text)}: a kernel parameter is KEY or KEY=VALUE without spaces, quotes or shell characters` };
  }
  const [p] = parseCmdline(text);
  return p!;
}
