// UEFI firmware for the QEMU target, chosen the way libvirt chooses it: from the firmware
// descriptors every distribution installs (QEMU docs/interop/firmware.json). Debian/Ubuntu,
// Fedora and Arch keep OVMF under different names; the descriptors name them. Pure: the
// command reads the files through the Host and passes their text in.

/** Where descriptors live, in QEMU's search order: a file in /etc overrides one of the same name. */
export const FIRMWARE_DIRS = ['/etc/qemu/firmware', '/usr/share/qemu/firmware'];

export interface FirmwareDescriptor {
  name: string;
  code: string;
  /** The VARS template copied per VM (null: a stateless or combined image). */
  varsTemplate: string | null;
  machines: string[];
  features: string[];
}

export interface Firmware {
  code: string;
  varsTemplate: string | null;
  /** SMM and a secure pflash: what a Secure Boot build needs to keep its variables safe. */
  smm: boolean;
  secureBoot: boolean;
  /** The descriptor it came from, or null for the fallback. */
  descriptor: string | null;
}

/** Debian's 4M builds, for when no descriptor can be read (offline, or a root without them). */
export const FALLBACK_FIRMWARE = {
  plain: { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
  secure: { code: '/usr/share/OVMF/OVMF_CODE_4M.ms.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd' },
};

/** One descriptor's text, or null when it is not a raw pflash UEFI build for x86_64. */
export function parseDescriptor(name: string, text: string): FirmwareDescriptor | null {
  let d: Record<string, any>;
  try {
    d = JSON.parse(text) as Record<string, any>;
  } catch {
    return null;
  }
  const m = d.mapping as Record<string, any> | undefined;
  if (!Array.isArray(d['interface-types']) || !d['interface-types'].includes('uefi')) return null;
  if (m?.device !== 'flash' || (m.mode !== undefined && m.mode !== 'split')) return null;
  const exe = m.executable as { filename?: string; format?: string } | undefined;
  if (!exe?.filename || (exe.format ?? 'raw') !== 'raw') return null;
  const tpl = m['nvram-template'] as { filename?: string; format?: string } | undefined;
  const targets = Array.isArray(d.targets) ? (d.targets as { architecture?: string; machines?: string[] }[]) : [];
  const machines = targets.filter((t) => t.architecture === 'x86_64').flatMap((t) => t.machines ?? []);
  if (!machines.length) return null;
  return { name, code: exe.filename, varsTemplate: tpl?.filename ?? null, machines, features: Array.isArray(d.features) ? d.features : [] };
}

/** Descriptor files by name, /etc first, in the order QEMU and libvirt read them (by file name). */
export function mergeDescriptorDirs(dirs: { dir: string; files: Record<string, string> }[]): { name: string; text: string }[] {
  const byName = new Map<string, string>();
  for (const { files } of dirs) for (const [n, t] of Object.entries(files)) if (n.endsWith('.json') && !byName.has(n)) byName.set(n, t);
  return [...byName.keys()].sort().map((name) => ({ name, text: byName.get(name)! }));
}

const glob = (g: string) => new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);

/**
 * The first descriptor (in file-name order) for this machine type that has Secure Boot with
 * enrolled keys when asked, and no Secure Boot otherwise.
 */
export function chooseFirmware(descriptors: readonly FirmwareDescriptor[], machine: 'q35' | 'i440fx', secureBoot: boolean): Firmware | null {
  const sample = machine === 'q35' ? 'pc-q35-99.0' : 'pc-i440fx-99.0';
  for (const d of descriptors) {
    if (!d.machines.some((m) => glob(m).test(sample))) continue;
    const sb = d.features.includes('secure-boot');
    if (secureBoot !== (sb && d.features.includes('enrolled-keys'))) continue;
    if (!secureBoot && sb) continue;
    if (d.features.includes('amd-sev-es') || d.features.includes('intel-tdx')) continue;
    return { code: d.code, varsTemplate: d.varsTemplate, smm: d.features.includes('requires-smm'), secureBoot, descriptor: d.name };
  }
  return null;
}
