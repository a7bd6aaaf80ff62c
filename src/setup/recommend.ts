// What setup changes when the user names nothing: exactly what doctor found missing, and
// nothing else (host-facts B: Intel needs intel_iommu=on unless the kernel turns VT-d on by
// default; AMD needs no parameter; iommu=pt only on request).
import { paramValue, parseCmdline, type KernelParam } from '../detect/cmdline.js';
import { iommuActive } from '../doctor/checks.js';
import type { HostFacts } from '../doctor/facts.js';
import type { ParamChange } from './params.js';

export interface Recommendation {
  change: ParamChange;
  vfioModules: boolean;
  /** Why each part is recommended, or why something is not. */
  notes: string[];
}

const OFF_KEYS = ['intel_iommu', 'amd_iommu', 'iommu'];

function has(params: readonly KernelParam[] | null, key: string, value: string): boolean {
  const v = paramValue(params ?? [], key);
  return typeof v === 'string' && v.split(',').includes(value);
}

export function recommend(f: HostFacts, vfioAtBoot: boolean): Recommendation {
  const notes: string[] = [];
  const add: KernelParam[] = [];
  const remove: string[] = [];
  const configured = f.configuredParams ?? [];
  for (const key of OFF_KEYS) {
    for (const p of [...f.cmdline.params, ...configured]) {
      if (p.key.replace(/-/g, '_') === key && p.value?.split(',').includes('off') && !remove.includes(`${key}=${p.value}`)) remove.push(`${key}=${p.value}`);
    }
  }
  if (remove.length) notes.push(`${remove.join(' ')} turns the IOMMU off: removed`);
  const noFirmware = f.firmware.dmar !== 'present' && f.firmware.ivrs !== 'present' && f.firmware.dmar !== 'unreadable' && !f.iommu.units.length;
  if (noFirmware) notes.push('the firmware advertises no IOMMU: enable VT-d / AMD-Vi in the firmware setup (setup cannot do that)');
  if (f.cpu.vendor === 'intel' && !noFirmware && !iommuActive(f) && !has(configured, 'intel_iommu', 'on')) {
    add.push({ key: 'intel_iommu', value: 'on' });
    notes.push(`intel_iommu=on: this kernel${f.intelIommuDefaultOn === 'n' ? ' (CONFIG_INTEL_IOMMU_DEFAULT_ON is not set)' : ''} leaves VT-d off unless told`);
  }
  if (f.cpu.vendor === 'amd') notes.push('AMD: no IOMMU parameter is needed (AMD-Vi is on whenever the IVRS table exists; `amd_iommu=on` is not a kernel option)');
  if (has(configured, 'amd_iommu', 'on')) notes.push('`amd_iommu=on` in the configuration does nothing; `--remove-param amd_iommu=on` drops it');
  const installed = f.modules.every((m) => m.loaded || m.available);
  if (!installed) notes.push(`the vfio modules are not installed for kernel ${f.kernel ?? '?'}: install the kernel's modules package first (see doctor's vfio.modules)`);
  else if (!vfioAtBoot) notes.push('vfio, vfio_iommu_type1, vfio_pci: loaded at boot and in the initramfs, so vfio-pci is there before any GPU driver');
  return { change: { add, remove }, vfioModules: installed && !vfioAtBoot, notes };
}

/** Parses `--param KEY[=VALUE]`; refuses what cannot be written safely into a bootloader file. */
export function parseParamArg(text: string): KernelParam | { error: string } {
  if (!/^[A-Za-z0-9_.-]+(=[A-Za-z0-9_.,:=/+@%-]*)?$/.test(text)) {
    return { error: `--param ${JSON.stringify(text)}: a kernel parameter is KEY or KEY=VALUE without spaces, quotes or shell characters` };
  }
  const [p] = parseCmdline(text);
  return p!;
}
