// What a GPU's reset means for passthrough: the methods the kernel offers (reset_method), its
// family's known behaviour (families.ts) and whether vendor-reset is there and selected. Pure.
import { resetFamily, type ResetFamily } from './families.js';

/** The vendor-reset module for the running kernel: loaded, installed (in modules.dep), absent, or unknown (no module list). */
export type VendorResetState = 'loaded' | 'installed' | 'absent' | 'unknown';

export type ResetVerdict =
  /** The kernel can reset it and nothing known says that breaks it. */
  | 'ok'
  /** A reset-bug family with device_specific first: vendor-reset does the reset. */
  | 'vendor-reset'
  /** A reset-bug family whose reset_method does not start with device_specific. */
  | 'needs-setup'
  /** A reset-bug family and no vendor-reset for this kernel. */
  | 'needs-vendor-reset'
  /** No reset method at all: the kernel cannot reset it. */
  | 'none';

export interface GpuReset {
  methods: string[];
  family: Pick<ResetFamily, 'family' | 'cards' | 'behaviour' | 'source'> | null;
  vendorReset: VendorResetState;
  /** device_specific is the first method the kernel tries. */
  selected: boolean;
  verdict: ResetVerdict;
  summary: string;
  /** The gpuvirt command that fixes it, where one exists. */
  command: string | null;
}

export const RESET_COMMAND = 'gpuvirt setup --reset';

export function judgeReset(gpu: { vendorId: string; deviceId: string; resetMethods: string[] }, vendorReset: VendorResetState): GpuReset {
  const fam = resetFamily(gpu.vendorId, gpu.deviceId);
  const methods = gpu.resetMethods;
  const selected = methods[0] === 'device_specific';
  const family = fam && { family: fam.family, cards: fam.cards, behaviour: fam.behaviour, source: fam.source };
  const base = { methods, family, vendorReset, selected };
  const shown = methods.length ? methods.join(', ') : 'none';
  if (fam?.vendorReset) {
    const bug = `AMD ${fam.family} (${fam.cards}) ${fam.behaviour}`;
    if (selected && vendorReset === 'loaded') return { ...base, verdict: 'vendor-reset', summary: `reset by vendor-reset (device_specific first; methods: ${shown})`, command: null };
    if (vendorReset === 'absent' || vendorReset === 'unknown') {
      const why = vendorReset === 'absent' ? 'vendor-reset is not installed for this kernel' : 'whether vendor-reset is installed is unknown (no modules.dep)';
      return { ...base, verdict: 'needs-vendor-reset', summary: `${bug}; ${why} (reset methods: ${shown})`, command: null };
    }
    const what = vendorReset === 'installed' ? 'vendor-reset is installed but not loaded' : 'vendor-reset is loaded but device_specific is not selected';
    return { ...base, verdict: 'needs-setup', summary: `${bug}; ${what} (reset methods: ${shown})`, command: RESET_COMMAND };
  }
  if (!methods.length) return { ...base, verdict: 'none', summary: 'no reset method: the kernel cannot reset it between VMs', command: null };
  return { ...base, verdict: 'ok', summary: `reset methods: ${shown}`, command: null };
}

/** The GPUs `setup --reset` selects device_specific for: physical functions of a family vendor-reset knows. */
export function needsDeviceSpecific(gpu: { vendorId: string; deviceId: string; physfn: string | null }): boolean {
  return gpu.physfn === null && resetFamily(gpu.vendorId, gpu.deviceId)?.vendorReset === true;
}
