// The kernel command line as the kernel parses it (lib/cmdline.c next_arg): words split on
// spaces, double quotes may group a value, and everything after a lone `--` goes to init.

export interface KernelParam {
  key: string;
  /** null for a bare flag such as `quiet`. */
  value: string | null;
}

export function parseCmdline(text: string): KernelParam[] {
  const params: KernelParam[] = [];
  const words = text.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
  for (const word of words) {
    if (word === '--') break;
    const unquoted = word.replace(/"/g, '');
    const eq = unquoted.indexOf('=');
    params.push(eq < 0 ? { key: unquoted, value: null } : { key: unquoted.slice(0, eq), value: unquoted.slice(eq + 1) });
  }
  return params;
}

/** The kernel treats `-` and `_` in parameter names alike. */
export function normalizeKey(key: string): string {
  return key.replace(/-/g, '_');
}

/** Last value given for a key (the kernel and modules take the last one), or undefined if absent. */
export function paramValue(params: readonly KernelParam[], key: string): string | null | undefined {
  const k = normalizeKey(key);
  let found: string | null | undefined;
  for (const p of params) if (normalizeKey(p.key) === k) found = p.value;
  return found;
}

export function formatParam(p: KernelParam): string {
  return p.value === null ? p.key : `${p.key}=${/\s/.test(p.value) ? `"${p.value}"` : p.value}`;
}

/** Parameters a bootloader adds by itself, which never appear in its configuration. */
const BOOTLOADER_ADDED = new Set(['BOOT_IMAGE', 'initrd', 'root', 'ro', 'rw', 'rootflags', 'rootfstype']);

/**
 * Parameters whose running value differs from the configured one: what a reboot would change.
 * Only keys the configuration mentions, or that it could have removed, are compared.
 */
export function pendingChanges(running: readonly KernelParam[], configured: readonly KernelParam[]): string[] {
  const diffs: string[] = [];
  const runKeys = new Map(running.map((p) => [normalizeKey(p.key), p.value]));
  const confKeys = new Map(configured.map((p) => [normalizeKey(p.key), p.value]));
  for (const [k, v] of confKeys) {
    if (!runKeys.has(k)) diffs.push(`+${formatParam({ key: k, value: v })}`);
    else if (runKeys.get(k) !== v) diffs.push(`~${formatParam({ key: k, value: v })}`);
  }
  for (const [k, v] of runKeys) {
    if (confKeys.has(k) || BOOTLOADER_ADDED.has(k)) continue;
    if (IOMMU_RELATED.test(k)) diffs.push(`-${formatParam({ key: k, value: v })}`);
  }
  return diffs;
}

/** Keys gpuvirt cares about enough to report their removal from the configuration. */
const IOMMU_RELATED = /^(intel_iommu|amd_iommu|iommu|iommu\..*|vfio.*|pcie_acs_override|pci_stub\.ids|modprobe\.blacklist|module_blacklist|rd\.driver\..*|video|initcall_blacklist|kvm.*)$/;
