// Captures exactly what gpuvirt reads from a host, through the Host interface only, as archive
// entries at their real paths, so `--root <unpacked snapshot>` replays doctor and list byte for
// byte. Layout and rules: shared reference real-kernel-findings.md, "What a faithful sysfs
// snapshot needs". Nothing personal: no /proc/<pid>, mounts, network, block devices or hostnames.
import { posix } from 'node:path';
import { errnoOf } from '../errors.js';
import { listAddresses, readFunction } from '../detect/pci.js';
import { type Host, type HostStat, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { DKMS_DIR, INTEL_DKMS, SECURE_BOOT_VAR } from '../sharing/intel.js';

export type SnapshotEntry =
  | { kind: 'dir'; path: string; mode: number }
  | { kind: 'file'; path: string; mode: number; data: Uint8Array }
  | { kind: 'link'; path: string; target: string };

export interface Unreadable {
  path: string;
  errno: string;
}

export interface Manifest {
  format: 1;
  gpuvirtVersion: string;
  createdAt: string;
  kernel: string | null;
  /** Entries in the archive besides manifest.json. */
  files: number;
  links: number;
  dirs: number;
  /** Stored empty and never read: device memory, ROMs, VPD (and `config` when the host cannot give raw bytes). */
  skipped: string[];
  /** Entries whose read failed, left out of the archive. */
  unreadable: Unreadable[];
}

export interface Snapshot {
  /** Sorted by path, so every directory comes before what it holds. */
  entries: SnapshotEntry[];
  manifest: Manifest;
}

interface Rule {
  /** sysfs attributes: device memory skipped, write-only ones as 0200 placeholders, `config` cut to its header. */
  sysfs?: boolean;
  /** An empty file: only its name and mode matter. */
  empty?: boolean;
  /** Keeps only the lines gpuvirt reads of a text file. */
  filter?: (text: string) => string;
  /** Files and links to keep in a directory, by name. */
  only?: (name: string) => boolean;
  /** Subdirectories to capture too, by name and depth below the first directory. */
  descend?: (name: string, depth: number) => boolean;
}

/** Attributes the kernel only accepts writes on; reading them fails or has side effects. */
const WRITE_ONLY = new Set([
  'bind', 'unbind', 'new_id', 'remove_id', 'uevent', 'reset', 'remove', 'rescan', 'drivers_probe',
  'sriov_vf_msix_count', 'create',
]);
/** Reading these could touch the hardware (BARs, option ROM, VPD), and fails without root anyway. */
const DEVICE_MEMORY = /^(resource\d+(_wc)?|rom|vpd)$/;
/** The standard header every function has; capabilities (and serial numbers) start past it. */
const CONFIG_HEADER = 64;
const MAX_HOPS = 40;
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

function resolveLink(link: string, target: string): string {
  return posix.normalize(target.startsWith('/') ? target : posix.join(posix.dirname(link), target));
}

class Collector {
  private readonly entries = new Map<string, SnapshotEntry>();
  private readonly stats = new Map<string, HostStat | null>();
  private readonly targets = new Map<string, string | null>();
  private readonly realDirs = new Map<string, string | null>();
  private readonly failed = new Map<string, string>();
  readonly skipped: string[] = [];

  constructor(readonly host: Host) {}

  /** Runs one host read; a failure is recorded with its errno and gives null. */
  private attempt<T>(path: string, read: () => T): T | null {
    try {
      return read();
    } catch (err) {
      if (!this.failed.has(path)) this.failed.set(path, errnoOf(err) ?? 'EIO');
      return null;
    }
  }

  private stat(path: string): HostStat | null {
    if (!this.stats.has(path)) this.stats.set(path, this.attempt(path, () => this.lstat(path)));
    return this.stats.get(path) ?? null;
  }

  /** Host.stat, or the same answer from the other Host calls with the mode guessed from the name. */
  private lstat(path: string): HostStat | null {
    if (this.host.stat) return this.host.stat(path);
    if (this.host.readLink(path) !== null) return { kind: 'link', mode: 0o777 };
    if (this.host.isDirectory(path)) return { kind: 'dir', mode: 0o755 };
    if (!this.host.exists(path)) return null;
    const name = posix.basename(path);
    return { kind: 'file', mode: WRITE_ONLY.has(name) ? 0o200 : DEVICE_MEMORY.test(name) ? 0o600 : 0o644 };
  }

  private target(path: string): string | null {
    if (!this.targets.has(path)) this.targets.set(path, this.attempt(path, () => this.host.readLink(path)));
    return this.targets.get(path) ?? null;
  }

  /** The real path of directory `path`, each link on the way resolved; null when it leads to no directory. */
  private realDir(path: string, hops = 0): string | null {
    if (path === '/') return '/';
    const known = this.realDirs.get(path);
    if (known !== undefined) return known;
    let real: string | null = null;
    const parent = hops > MAX_HOPS ? null : this.realDir(posix.dirname(path), hops);
    if (parent !== null) {
      const here = posix.join(parent, posix.basename(path));
      const st = this.stat(here);
      const target = st?.kind === 'link' ? this.target(here) : null;
      if (st?.kind === 'dir') real = here;
      else if (target !== null) real = this.realDir(resolveLink(here, target), hops + 1);
    }
    this.realDirs.set(path, real);
    return real;
  }

  /** Records the directories and links that lead to directory `path`; its real path, or null. */
  private reach(path: string): string | null {
    if (path === '/') return '/';
    if (this.realDir(path) === null) return null;
    const here = posix.join(this.reach(posix.dirname(path))!, posix.basename(path));
    const st = this.stat(here)!;
    if (st.kind === 'dir') {
      this.put({ kind: 'dir', path: here, mode: st.mode | 0o700 });
      return here;
    }
    const target = this.target(here)!;
    this.put({ kind: 'link', path: here, target });
    return this.reach(resolveLink(here, target));
  }

  private put(entry: SnapshotEntry): void {
    if (!this.entries.has(entry.path)) this.entries.set(entry.path, entry);
  }

  /** Last component of a link's target, as host.ts linkName, with failures recorded. */
  linkName(path: string): string | null {
    const target = this.stat(path)?.kind === 'link' ? this.target(path) : null;
    return target === null ? null : (target.split('/').pop() ?? null);
  }

  list(path: string): string[] {
    return this.attempt(path, () => this.host.list(path)) ?? [];
  }

  /** Records the file at `path` (a link as a link, and its target) under `rule`. */
  file(path: string, rule: Rule = {}, hops = 0): void {
    const parent = this.realDir(posix.dirname(path));
    if (parent === null) return;
    const here = posix.join(parent, posix.basename(path));
    const st = this.stat(here);
    if (st === null || st.kind === 'dir') return;
    this.reach(posix.dirname(path));
    if (st.kind !== 'link') return this.content(here, st, rule);
    const target = this.target(here);
    if (target === null) return;
    this.put({ kind: 'link', path: here, target });
    if (hops < MAX_HOPS) this.file(resolveLink(here, target), rule, hops + 1);
  }

  /** Records a path only as being there: a directory without its contents, or an empty file. */
  presence(path: string): void {
    if (this.realDir(path) !== null) this.reach(path);
    else this.file(path, { empty: true });
  }

  /** Records directory `path` with its files and links, and the subdirectories `rule.descend` picks. */
  dir(path: string, rule: Rule = {}, depth = 0): string | null {
    const real = this.reach(path);
    if (real === null) return null;
    for (const name of this.list(real)) {
      const p = posix.join(real, name);
      const st = this.stat(p);
      if (st?.kind === 'dir') {
        if (depth < 8 && rule.descend?.(name, depth)) this.dir(p, rule, depth + 1);
      } else if (st && (!rule.only || rule.only(name))) {
        const target = st.kind === 'link' ? this.target(p) : null;
        if (target !== null) this.put({ kind: 'link', path: p, target });
        else if (st.kind !== 'link') this.content(p, st, rule);
      }
    }
    return real;
  }

  private content(path: string, st: HostStat, rule: Rule): void {
    const name = posix.basename(path);
    const file = (mode: number, data: Uint8Array) => this.put({ kind: 'file', path, mode, data });
    if (rule.sysfs && DEVICE_MEMORY.test(name)) {
      this.skipped.push(path);
      return file(st.mode, EMPTY);
    }
    if (rule.sysfs && (WRITE_ONLY.has(name) || (st.mode & 0o444) === 0)) return file(0o200, EMPTY);
    if (rule.empty || st.kind === 'other') return file(st.mode, EMPTY);
    if (rule.sysfs && name === 'config') {
      const head = this.host.stat ? this.attempt(path, () => this.host.stat?.(path, CONFIG_HEADER)?.head) : null;
      if (!head) this.skipped.push(path);
      return file(st.mode, head ?? EMPTY);
    }
    const text = this.attempt(path, () => this.host.readText(path));
    if (text !== null) file(st.mode, encoder.encode(rule.filter ? rule.filter(text) : text));
  }

  finish(meta: Pick<Manifest, 'gpuvirtVersion' | 'createdAt' | 'kernel'>): Snapshot {
    const entries = [...this.entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const count = (kind: SnapshotEntry['kind']) => entries.filter((e) => e.kind === kind).length;
    const unreadable = [...this.failed].map(([path, errno]) => ({ path, errno })).sort((a, b) => (a.path < b.path ? -1 : 1));
    return {
      entries,
      manifest: {
        format: 1, ...meta, files: count('file'), links: count('link'), dirs: count('dir'), skipped: [...this.skipped].sort(), unreadable,
      },
    };
  }
}

const SYSFS: Rule = { sysfs: true };
const ALL = () => true;
/** A directory's own entry and nothing in it. */
const BARE: Rule = { only: () => false };
/**
 * What a PCI function's directory holds besides attributes: interrupts, power and link state,
 * vGPU types (mdev, NVIDIA's nvidia/ on VFs), xe's sriov_admin, and mdev instances (by UUID).
 */
const DEVICE_SUBDIRS = new Set(['msi_irqs', 'power', 'link', 'mdev_supported_types', 'nvidia', 'sriov_admin']);
const MDEV_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A module file's signature trailer: all the sharing verdict reads of it (scripts/sign-file.c). */
const SIG_MAGIC = '~Module signature appended~\n';
const MODULE_SUBDIRS = new Set(['parameters', 'drivers', 'holders']);
const ROOT_BUS = /^pci[0-9a-f]{4}:[0-9a-f]{2}$/;
/** Modules whose state gpuvirt reports or changes (besides those of the PCI drivers). */
const MODULES = /^(vfio|vfio_\w+|kvm|kvm_\w+|pci_stub|iommufd|irqbypass|mdev|i915|xe|vendor_reset)$/;
/** Kernel options gpuvirt consults (CONFIG_INTEL_IOMMU_DEFAULT_ON), their neighbours, and the version line. */
const KERNEL_CONFIG = /^((# )?CONFIG_\w*(IOMMU|VFIO|KVM|IRQ_REMAP|PCI_STUB|PCI_IOV)\w*(=| is not set)|# Linux\/.* Kernel Configuration$)/;
/** The generators src/boot/initramfs.ts looks for. */
const INITRAMFS_PROGRAMS = ['update-initramfs', 'dracut', 'mkinitcpio'];

const keepLines = (keep: (line: string) => boolean) => (text: string) =>
  text.split('\n').filter((l) => l !== '' && keep(l)).map((l) => `${l}\n`).join('');
const moduleName = (file: string) => (file.split('/').pop() ?? '').replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_');
const moduleLines = (drivers: ReadonlySet<string>) =>
  keepLines((l) => {
    const name = moduleName(l.split(':')[0] ?? '');
    return MODULES.test(name) || drivers.has(name);
  });

function capturePci(c: Collector): void {
  c.dir(posix.dirname(paths.pciDevices), SYSFS);
  c.dir(paths.pciDevices, SYSFS);
  c.dir(paths.pciDrivers, { sysfs: true, descend: (_n, depth) => depth === 0 });
  const rootBuses = new Set<string>();
  for (const addr of c.list(paths.pciDevices)) {
    const real = c.dir(paths.pciDevice(addr), { sysfs: true, descend: (name, depth) => depth > 0 || DEVICE_SUBDIRS.has(name) || MDEV_UUID.test(name) });
    // DRM nodes name the device files passthrough checks; the connectors under them carry EDIDs.
    c.dir(paths.pciAttr(addr, 'drm'), { only: () => false, descend: (_n, depth) => depth === 0 });
    const parts = (real ?? '').split('/');
    const bus = parts.findIndex((p) => ROOT_BUS.test(p));
    if (bus > 0) rootBuses.add(parts.slice(0, bus + 1).join('/'));
  }
  for (const bus of rootBuses) c.dir(bus, { sysfs: true, descend: (name, depth) => depth > 0 || name === 'power' });
}

function captureKernel(c: Collector, kernel: string | null): void {
  for (const p of [paths.osrelease, paths.procCmdline, paths.procCpuinfo, paths.procModules, paths.procInterrupts]) c.file(p);
  c.dir(paths.iommuGroups, { sysfs: true, descend: ALL });
  c.dir(paths.classIommu, SYSFS);
  for (const unit of c.list(paths.classIommu)) c.dir(`${paths.classIommu}/${unit}`, { sysfs: true, descend: ALL });
  // The PCI drivers' own modules too (their state, not their parameters): release reloads them.
  const drivers = new Set(c.list(paths.pciDrivers).map((d) => c.linkName(`${paths.pciDriver(d)}/module`) ?? ''));
  for (const name of c.list(posix.dirname(paths.sysModule('vfio')))) {
    const vfio = MODULES.test(name);
    if (!vfio && !drivers.has(name)) continue;
    c.dir(paths.sysModule(name), { sysfs: true, descend: (n, depth) => depth > 0 || (vfio ? MODULE_SUBDIRS.has(n) : n === 'drivers') });
  }
  c.dir(paths.acpiTables, { empty: true, descend: ALL });
  // What profiles are checked against besides devices: the online CPUs and the hugepage pools.
  c.file(paths.cpuOnline);
  c.dir(paths.hugepagesDir, { sysfs: true, descend: ALL });
  c.presence(paths.devKvm);
  c.dir(paths.devVfio, { empty: true });
  if (kernel === null) return;
  c.file(paths.kernelConfig(kernel), { filter: keepLines((l) => KERNEL_CONFIG.test(l)) });
  c.file(paths.modulesDep(kernel), { filter: moduleLines(drivers) });
  c.file(paths.modulesBuiltin(kernel), { filter: moduleLines(drivers) });
}

/** What the sharing verdict reads besides PCI: mdev, NVIDIA's tool, Secure Boot, DKMS builds, i915/xe module files. */
function captureSharing(c: Collector, kernel: string | null): void {
  c.dir(paths.mdevBus, SYSFS);
  c.dir(paths.mdevDevices, SYSFS);
  c.presence(paths.nvidiaSriovManage);
  c.file(SECURE_BOOT_VAR);
  for (const name of INTEL_DKMS) c.dir(`${DKMS_DIR}/${name}`, { only: () => false, descend: (_n, depth) => depth < 2 });
  if (kernel === null) return;
  for (const line of (readAttr(c.host, paths.modulesDep(kernel)) ?? '').split('\n')) {
    const file = line.slice(0, line.indexOf(':'));
    if (file.endsWith('.ko') && /^(i915|xe)$/.test(moduleName(file))) {
      c.file(`${posix.dirname(paths.modulesDep(kernel))}/${file}`, { filter: (t) => (t.endsWith(SIG_MAGIC) ? SIG_MAGIC : '') });
    }
  }
}

function captureBoot(c: Collector): void {
  for (const p of [...paths.osRelease, paths.etcDefaultGrub, paths.etcKernelCmdline, paths.kernelstubConfig]) c.file(p);
  c.dir(`${paths.etcDefaultGrub}.d`, { only: (n) => n.endsWith('.cfg') });
  for (const d of paths.loaderEntryDirs) c.dir(d, { only: (n) => n.endsWith('.conf') });
  for (const d of paths.grub2Dirs) c.dir(d, BARE);
  for (const p of [paths.proxmoxBootUuids, paths.initramfsTools, ...paths.dracutConf, paths.mkinitcpioConf]) c.presence(p);
  for (const d of paths.binDirs) for (const prog of INITRAMFS_PROGRAMS) c.presence(`${d}/${prog}`);
}

/** pci.ids cut to this host's vendors, devices and classes, so names match without the 1.3 MB file. */
function pciIdsFilter(host: Host): (text: string) => string {
  const ids = new Set<string>();
  const classes = new Set<string>();
  for (const addr of listAddresses(host)) {
    const f = readFunction(host, addr, undefined, { uevent: false });
    ids.add(f.vendorId).add(`${f.vendorId}:${f.deviceId}`);
    classes.add(`C ${f.classId.slice(0, 2)}`).add(`C ${f.classId.slice(0, 2)}:${f.classId.slice(2, 4)}`);
  }
  return (text) => {
    // PciNames finds a line by the newline before it: the first kept line must not be first.
    const out = ['# pci.ids cut by gpuvirt snapshot to the devices and classes of one host'];
    let block = '';
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#') || line.startsWith('\t\t')) continue;
      if (line.startsWith('C ')) block = line.slice(0, 4);
      else if (!line.startsWith('\t')) block = line.slice(0, 4);
      const key = line.startsWith('\t') ? `${block}:${line.slice(1).split(/\s/)[0]}` : block;
      if (ids.has(key) || classes.has(key)) out.push(line);
    }
    return `${out.join('\n')}\n`;
  };
}

/** The hwdb's PCI names cut to this host's vendors and devices, as pci.ids is. */
function hwdbFilter(host: Host): (text: string) => string {
  const keys = new Set<string>();
  for (const addr of listAddresses(host)) {
    const f = readFunction(host, addr, undefined, { uevent: false });
    const v = f.vendorId.toUpperCase();
    keys.add(`pci:v0000${v}*`).add(`pci:v0000${v}d0000${f.deviceId.toUpperCase()}*`);
  }
  return (text) => {
    const kept = text.split(/\n\n+/).filter((entry) => keys.has(entry.trim().split('\n')[0] ?? ''));
    return `# 20-pci-vendor-model.hwdb cut by gpuvirt snapshot to the devices of one host\n\n${kept.map((e) => e.trim()).join('\n\n')}\n`;
  };
}

export function captureSnapshot(host: Host, meta: { gpuvirtVersion: string; createdAt: Date }): Snapshot {
  const c = new Collector(host);
  const kernel = readAttr(host, paths.osrelease);
  captureKernel(c, kernel);
  capturePci(c);
  captureSharing(c, kernel);
  captureBoot(c);
  const pciIds = paths.pciIds.find((p) => host.exists(p));
  if (pciIds) c.file(pciIds, { filter: pciIdsFilter(host) });
  const hwdb = paths.pciHwdb.find((p) => host.exists(p));
  if (hwdb) c.file(hwdb, { filter: hwdbFilter(host) });
  return c.finish({ gpuvirtVersion: meta.gpuvirtVersion, createdAt: meta.createdAt.toISOString(), kernel });
}
