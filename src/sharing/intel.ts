// Intel GPU driver facts for SR-IOV (read-only): which i915/xe module this kernel would load
// (modules.dep: in-tree `kernel/...` vs DKMS `updates/dkms/...`), the loaded module's version,
// taint and parameters (/sys/module/<m>/), whether a DKMS package is registered but not built
// for the running kernel, Secure Boot (the SecureBoot EFI variable), whether the module file
// carries a signature, and xe's sriov_admin profiles
// (Documentation/ABI/testing/sysfs-driver-intel-xe-sriov, 6.19).
// Facts: strongtz/i915-sriov-dkms README; shared fleet-and-vendor-facts "Intel".
import { type Host, listIfReadable, readAttr, readIfReadable } from '../host/host.js';
import { paths } from '../host/paths.js';

/** efivarfs file of the global SecureBoot variable (EFI_GLOBAL_VARIABLE GUID, UEFI spec 3.3). */
export const SECURE_BOOT_VAR = `${paths.efiDir}/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c`;
/** Where DKMS keeps its packages: <name>/<version>/{source,<kernel>/<arch>/module}. */
export const DKMS_DIR = '/var/lib/dkms';
/** The tail a signed module file ends with (scripts/sign-file.c, module_signature.h). */
const SIG_MAGIC = '~Module signature appended~\n';

export type ModuleOrigin = 'in-tree' | 'dkms' | 'other' | 'missing';

export interface ModuleFacts {
  name: string;
  /** Path under lib/modules/<release>/ that modprobe would load, from modules.dep. */
  file: string | null;
  origin: ModuleOrigin;
  loaded: boolean;
  version: string | null;
  /** /sys/module/<m>/taint: O out of tree, E unsigned. */
  taint: string | null;
  /** Parameters the loaded module accepts; null when it is not loaded. */
  params: string[] | null;
  /** true/false from the module file's signature trailer; null when it cannot be told (compressed, unreadable). */
  signed: boolean | null;
}

export interface DkmsPackage {
  name: string;
  version: string;
  /** Built (or installed) for the running kernel. */
  builtForKernel: boolean;
}

export interface IntelFacts {
  modules: ModuleFacts[];
  dkms: DkmsPackage[];
  secureBoot: boolean | null;
}

function depFile(dep: string | null, name: string): string | null {
  if (!dep) return null;
  for (const line of dep.split('\n')) {
    const file = line.slice(0, line.indexOf(':'));
    const base = (file.split('/').pop() ?? '').replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_');
    if (base === name) return file;
  }
  return null;
}

function signatureOf(host: Host, release: string, file: string): boolean | null {
  if (!file.endsWith('.ko')) return null;
  const text = readIfReadable(host, `${paths.modulesDep(release).replace(/\/modules\.dep$/, '')}/${file}`);
  return text === null ? null : text.endsWith(SIG_MAGIC);
}

/**
 * `checkFile`: read the module file for its signature trailer when the module is not loaded (a
 * whole .ko, megabytes: only worth it when Secure Boot may be refusing it).
 */
export function readModuleFacts(host: Host, release: string | null, name: string, dep: string | null, checkFile = true): ModuleFacts {
  const file = depFile(dep, name);
  const origin: ModuleOrigin = !file ? 'missing' : file.startsWith('kernel/') ? 'in-tree' : file.startsWith('updates/dkms/') ? 'dkms' : 'other';
  const dir = paths.sysModule(name);
  const loaded = host.exists(`${dir}/initstate`) || host.exists(`${dir}/refcnt`);
  const taint = loaded ? readAttr(host, `${dir}/taint`) : null;
  // A loaded module without a valid signature taints the kernel with E (TAINT_UNSIGNED_MODULE).
  const byTaint = taint === null ? null : !taint.includes('E');
  return {
    name, file, origin, loaded, taint,
    version: loaded ? readAttr(host, `${dir}/version`) : null,
    params: loaded ? listIfReadable(host, `${dir}/parameters`) ?? [] : null,
    signed: byTaint ?? (checkFile && file && release ? signatureOf(host, release, file) : null),
  };
}

export function readDkms(host: Host, release: string | null, names: readonly string[]): DkmsPackage[] {
  const out: DkmsPackage[] = [];
  for (const name of names) {
    for (const version of listIfReadable(host, `${DKMS_DIR}/${name}`) ?? []) {
      const built = release !== null && host.exists(`${DKMS_DIR}/${name}/${version}/${release}`);
      out.push({ name, version, builtForKernel: built });
    }
  }
  return out;
}

/** The SecureBoot variable: 4 attribute bytes, then 1 = on, 0 = off; null without EFI or when unreadable. */
export function readSecureBoot(host: Host): boolean | null {
  try {
    const bytes = host.readChunk?.(SECURE_BOOT_VAR, 0, 5);
    if (bytes) return bytes.length >= 5 ? bytes[4] === 1 : null;
    const text = host.readText(SECURE_BOOT_VAR);
    return text === null || text.length < 5 ? null : text.charCodeAt(4) === 1;
  } catch {
    return null;
  }
}

/** DKMS packages that provide i915/xe with SR-IOV (strongtz/i915-sriov-dkms and its renames). */
export const INTEL_DKMS = ['i915-sriov-dkms', 'xe-sriov-dkms'] as const;

export function readIntelFacts(host: Host, release: string | null): IntelFacts {
  const dep = release ? readAttr(host, paths.modulesDep(release)) : null;
  const secureBoot = readSecureBoot(host);
  return {
    modules: ['i915', 'xe'].map((m) => readModuleFacts(host, release, m, dep, secureBoot === true)),
    dkms: readDkms(host, release, INTEL_DKMS),
    secureBoot,
  };
}

export interface XeProfile {
  /** `pf`, `vf1`, `vf2`, … as sriov_admin names them (VFs 1-based). */
  fn: string;
  execQuantumMs: number | null;
  preemptTimeoutUs: number | null;
  /** The selected priority: the word in [brackets] of the choice list. */
  schedPriority: string | null;
}

/** xe's per-function scheduling profiles, or null when the PF has no sriov_admin. */
export function readXeProfiles(host: Host, pf: string): XeProfile[] | null {
  const dir = paths.pciAttr(pf, 'sriov_admin');
  const entries = listIfReadable(host, dir);
  if (!entries) return null;
  const fns = entries.filter((e) => e === 'pf' || /^vf\d+$/.test(e)).sort((a, b) => (a === 'pf' ? -1 : b === 'pf' ? 1 : Number(a.slice(2)) - Number(b.slice(2))));
  const int = (p: string) => {
    const v = readAttr(host, p);
    return v !== null && /^\d+$/.test(v) ? Number(v) : null;
  };
  return fns.map((fn) => {
    const prio = readAttr(host, `${dir}/${fn}/profile/sched_priority`);
    return {
      fn,
      execQuantumMs: int(`${dir}/${fn}/profile/exec_quantum_ms`),
      preemptTimeoutUs: int(`${dir}/${fn}/profile/preempt_timeout_us`),
      schedPriority: prio === null ? null : /\[(\w+)\]/.exec(prio)?.[1] ?? prio,
    };
  });
}
