// Host-wide facts for doctor: CPU, KVM, firmware and kernel IOMMU state, modules, command
// line. Each reader takes the Host and returns plain data; nothing here decides a verdict.
import { type Host, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { errnoOf } from '../errors.js';
import { type KernelParam, parseCmdline } from './cmdline.js';

export type CpuVendor = 'intel' | 'amd' | 'other' | 'unknown';

export interface CpuFacts {
  vendor: CpuVendor;
  model: string | null;
  vmx: boolean;
  svm: boolean;
  /** Running under a hypervisor (the `hypervisor` cpuid flag). */
  hypervisor: boolean;
}

/** What readCpu looks at: the first processor's block of /proc/cpuinfo, well inside this. */
const CPUINFO_HEAD = 16 * 1024;

/**
 * The first value of each field in cpuinfo text; undefined when the text is only the start of
 * the file (`partial`) and a field is not there whole: a later line may hold it.
 */
function cpuFields(text: string, partial: boolean): { vendorId: string | null; flags: string | null; model: string | null } | undefined {
  const out: (string | null)[] = [];
  for (const name of ['vendor_id', 'flags', 'model name']) {
    const m = new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text);
    // A line that runs to the end of a partial text may go on past it.
    if (partial && (!m || m.index + m[0].length >= text.length)) return undefined;
    out.push(m?.[1]?.trim() ?? null);
  }
  return { vendorId: out[0]!, flags: out[1]!, model: out[2]! };
}

/**
 * The first processor's fields, as a search of the whole file finds them; only the start of
 * the file is read when it holds them all (x86: its first block): a 512-CPU host's cpuinfo is
 * megabytes, which procfs makes up at each read.
 */
export function readCpu(host: Host): CpuFacts {
  let fields: ReturnType<typeof cpuFields>;
  if (host.readChunk) {
    try {
      const head = host.readChunk(paths.procCpuinfo, 0, CPUINFO_HEAD);
      // Trimmed as readAttr trims the whole file (only at the start when there is more).
      if (head) {
        const partial = head.byteLength >= CPUINFO_HEAD;
        const text = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('utf8');
        fields = cpuFields(partial ? text.trimStart() : text.trim(), partial);
      }
    } catch {
      // read as a whole below, which says what is wrong
    }
  }
  fields ??= cpuFields(readAttr(host, paths.procCpuinfo) ?? '', false)!;
  const { vendorId, model } = fields;
  const flags = new Set((fields.flags ?? '').split(/\s+/));
  const vendor: CpuVendor =
    vendorId === 'GenuineIntel' ? 'intel' : vendorId === 'AuthenticAMD' || vendorId === 'HygonGenuine' ? 'amd' : vendorId ? 'other' : 'unknown';
  return { vendor, model, vmx: flags.has('vmx'), svm: flags.has('svm'), hypervisor: flags.has('hypervisor') };
}

/** `present`/`absent` for a table, `unreadable` when listing needs root, `no-acpi` without ACPI in sysfs. */
export type AcpiState = 'present' | 'absent' | 'unreadable' | 'no-acpi';

export interface FirmwareIommu {
  dmar: AcpiState;
  ivrs: AcpiState;
}

export function readFirmwareIommu(host: Host): FirmwareIommu {
  let tables: string[] | null;
  try {
    tables = host.list(paths.acpiTables);
  } catch (err) {
    const state: AcpiState = errnoOf(err) === 'EACCES' || errnoOf(err) === 'EPERM' ? 'unreadable' : 'no-acpi';
    return { dmar: state, ivrs: state };
  }
  if (tables === null) return { dmar: 'no-acpi', ivrs: 'no-acpi' };
  return { dmar: tables.includes('DMAR') ? 'present' : 'absent', ivrs: tables.includes('IVRS') ? 'present' : 'absent' };
}

export interface KernelIommu {
  /** Entries of /sys/class/iommu: dmar0, ivhd0, ... */
  units: string[];
  groupCount: number;
  /** Interrupts the kernel routes through interrupt remapping (`IR-` chips in /proc/interrupts). */
  remappedInterrupts: boolean | null;
  /** The Intel ecap register's IR bit (hardware support), per unit that exposes it. */
  ecapInterruptRemapping: boolean | null;
  allowUnsafeInterrupts: boolean | null;
}

/** The IOMMU units and how many groups the kernel made: whether it isolates devices at all (list). */
export function readIommuGroups(host: Host): Pick<KernelIommu, 'units' | 'groupCount'> {
  const units = host.list(paths.classIommu) ?? [];
  const groups = (host.list(paths.iommuGroups) ?? []).filter((g) => /^\d+$/.test(g));
  return { units, groupCount: groups.length };
}

export function readKernelIommu(host: Host): KernelIommu {
  const { units, groupCount } = readIommuGroups(host);
  const interrupts = readAttr(host, paths.procInterrupts);
  let ecap: boolean | null = null;
  for (const unit of units) {
    const raw = readAttr(host, paths.intelIommuEcap(unit));
    if (raw === null || !/^(0x)?[0-9a-f]+$/i.test(raw)) continue;
    // ecap bit 3 = IR, Interrupt Remapping support (VT-d spec 11.4.3; intel iommu.h ecap_ir_support).
    const ir = (BigInt(`0x${raw.replace(/^0x/i, '')}`) >> 3n) & 1n;
    ecap = (ecap ?? false) || ir === 1n;
  }
  const unsafe = readAttr(host, paths.moduleParam('vfio_iommu_type1', 'allow_unsafe_interrupts'));
  return {
    units,
    groupCount,
    remappedInterrupts: interrupts === null ? null : /\bIR-/.test(interrupts),
    ecapInterruptRemapping: ecap,
    allowUnsafeInterrupts: unsafe === null ? null : unsafe === 'Y' || unsafe === '1',
  };
}

export interface ModuleState {
  name: string;
  loaded: boolean;
  /** Built into the kernel image (modules.builtin). */
  builtin: boolean;
  /** A .ko for it exists for the running kernel (modules.dep). */
  available: boolean;
}

const modName = (file: string) => (file.split('/').pop() ?? '').replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_');

export function readModules(host: Host, release: string | null, names: readonly string[]): ModuleState[] {
  const loaded = new Set(
    (readAttr(host, paths.procModules) ?? '').split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean),
  );
  const dep = release ? readAttr(host, paths.modulesDep(release)) : null;
  const builtin = release ? readAttr(host, paths.modulesBuiltin(release)) : null;
  const available = new Set((dep ?? '').split('\n').map((l) => modName(l.split(':')[0] ?? '')));
  const builtins = new Set((builtin ?? '').split('\n').map(modName));
  return names.map((name) => ({
    name,
    loaded: loaded.has(name) || (builtins.has(name) && host.exists(paths.sysModule(name))),
    builtin: builtins.has(name),
    available: available.has(name) || builtins.has(name),
  }));
}

export interface CmdlineFacts {
  running: string | null;
  params: KernelParam[];
}

export function readRunningCmdline(host: Host): CmdlineFacts {
  const running = readAttr(host, paths.procCmdline);
  return { running, params: running ? parseCmdline(running) : [] };
}

/** A `CONFIG_X` value from the running kernel's config (boot/config-<release>), or null. */
export function readKernelConfig(host: Host, release: string | null, option: string): string | null {
  if (!release) return null;
  const text = readAttr(host, paths.kernelConfig(release));
  if (text === null) return null;
  const set = new RegExp(`^${option}=(.*)$`, 'm').exec(text);
  if (set) return set[1]!;
  return new RegExp(`^# ${option} is not set$`, 'm').test(text) ? 'n' : null;
}
