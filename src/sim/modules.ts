// Loading and unloading kernel modules in the simulation, as kmod's modprobe and the
// kernel's module loader do it: dependencies first, sys/module/<m> with its parameters (the
// modprobe.d options, then the command line's) and its line in /proc/modules, the driver's
// directory on the PCI bus, then driver_attach (bus_add_driver).
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import type { ExecResult } from '../host/exec.js';
import { busAutoprobe, driverAttach, type Kern, unbindDevice, writeNewId } from './drivers.js';
import { gimDriverIds } from './gim.js';
import { configuredOptions, installCommand, type Param } from './modprobe-conf.js';
import { KernelErrno, moduleOfDriver, newDriverInfo } from './state.js';
import { kstrtobool } from './sriov.js';
import { simPaths } from './tree.js';

interface ModuleDef {
  driver?: string;
  deps?: string[];
  /** name → [initial value, mode] */
  params?: Record<string, [string, number]>;
  devNode?: string;
}

/** Modules the simulation knows without a tree to learn them from (Linux 6.1 names and params). */
const MODULES: Record<string, ModuleDef> = {
  vfio: { devNode: simPaths.devVfioContainer },
  vfio_iommu_type1: { params: { allow_unsafe_interrupts: ['N', 0o644], dma_entry_limit: ['65535', 0o644] } },
  vfio_pci_core: { deps: ['vfio'] },
  vfio_pci: {
    driver: 'vfio-pci',
    deps: ['vfio', 'vfio_iommu_type1', 'vfio_pci_core'],
    params: {
      enable_sriov: ['N', 0o644], disable_vga: ['N', 0o444], disable_idle_d3: ['N', 0o644],
      nointxmask: ['N', 0o644], disable_denylist: ['N', 0o444],
      // Mode 0: not in sysfs. vfio_pci_fill_ids adds each vvvv:dddd[:...] as a dynamic id at load.
      ids: ['', 0],
    },
  },
  pci_stub: { driver: 'pci-stub' },
  pci_pf_stub: { driver: 'pci-pf-stub' },
  // AMD MxGPU GIM (out of tree): VFs come from vf_num at load, one value per GPU in address
  // order (one value: every GPU); enabled_devices limits which GPUs it takes. See gim.ts.
  gim: { driver: 'gim', params: { vf_num: ['0', 0o444], enabled_devices: ['', 0o444] } },
};

/** modprobe treats dashes and underscores alike. */
export function normalizeModule(name: string): string {
  return moduleOfDriver(name);
}

/** Out-of-tree modules the simulation loads only when the tree's modules.dep lists them (DKMS installed them). */
const LISTED_ONLY = new Set(['vendor_reset']);

function listed(k: Kern, module: string): boolean {
  const dep = readAttr(k.tree.host, paths.modulesDep(release(k))) ?? '';
  return dep.split('\n').some((l) => (l.split(':')[0]?.split('/').pop() ?? '').replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_') === module);
}

function moduleDef(k: Kern, module: string): ModuleDef | null {
  if (LISTED_ONLY.has(module)) return listed(k, module) ? {} : null;
  const known = MODULES[module];
  // A module the simulation knows has exactly the parameters it lists (often none visible).
  if (known) return { params: {}, ...known };
  const driver = Object.entries(k.state.drivers).find(([, info]) => info.module === module)?.[0];
  return driver === undefined ? null : { driver };
}

function loadedModules(k: Kern): string[] {
  return (readAttr(k.tree.host, paths.procModules) ?? '').split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
}

/** /proc/modules keeps the mode the tree gave it (a checkout's 0644, a generated 0444): only its lines change. */
function setProcModules(t: Kern['tree'], text: string, mode: number): void {
  if (t.host.exists(paths.procModules)) t.rewrite(paths.procModules, text);
  else t.put(paths.procModules, text, mode);
}

function result(exitCode: number, stderr = ''): ExecResult {
  return { exitCode, stdout: '', stderr };
}

function release(k: Kern): string {
  return readAttr(k.tree.host, paths.osrelease) ?? 'unknown';
}

function isBuiltin(k: Kern, module: string, def: ModuleDef): boolean {
  if (loadedModules(k).includes(module)) return false;
  return (def.driver !== undefined && k.tree.isLoaded(def.driver)) || k.tree.host.exists(paths.sysModule(module));
}

/**
 * The values the module's parameters start with: defaults, then `given` in order (later wins).
 * A parameter the module does not have is ignored, as the kernel does ("unknown parameter");
 * a bool that kstrtobool refuses makes the load fail (EINVAL), as param_set_bool does. For a
 * module known only from the tree, whose parameters the simulation cannot know, every one given
 * is taken.
 */
function paramValues(def: ModuleDef, given: readonly Param[]): Record<string, string> | null {
  const values = Object.fromEntries(Object.entries(def.params ?? {}).map(([p, [v]]) => [p, v]));
  for (const [name, value] of given) {
    const initial = values[name];
    if (initial === undefined) {
      if (def.params === undefined) values[name] = value;
      continue;
    }
    if (initial === 'Y' || initial === 'N') {
      const on = kstrtobool(value === '' ? 'Y' : value);
      if (on === null) return null;
      values[name] = on ? 'Y' : 'N';
    } else values[name] = value;
  }
  return values;
}

function insmod(k: Kern, module: string, def: ModuleDef, values: Record<string, string>): void {
  const t = k.tree;
  t.put(`${paths.sysModule(module)}/initstate`, 'live\n', 0o444);
  t.put(`${paths.sysModule(module)}/refcnt`, '0\n', 0o444);
  for (const [param, value] of Object.entries(values)) {
    const mode = def.params?.[param]?.[1] ?? 0o444;
    if (mode !== 0) t.put(paths.moduleParam(module, param), `${value}\n`, mode);
  }
  const lines = readAttr(t.host, paths.procModules) ?? '';
  setProcModules(t, `${lines ? `${lines}\n` : ''}${module} 16384 0 - Live 0x0000000000000000\n`, 0o444);
  if (def.devNode) t.put(def.devNode, '', 0o666);
  const driver = def.driver;
  if (driver === undefined) return;
  k.state.drivers[driver] ??= newDriverInfo(driver, module);
  if (driver === 'gim') k.state.drivers[driver].ids = gimDriverIds(k);
  const dir = paths.pciDriver(driver);
  for (const attr of ['bind', 'unbind', 'new_id', 'remove_id', 'uevent']) t.put(`${dir}/${attr}`, '', 0o200);
  t.link(`${dir}/module`, paths.sysModule(module));
  t.link(simPaths.moduleDriverLink(module, driver), dir);
  if (busAutoprobe(k)) driverAttach(k, driver);
  if (module === 'vfio_pci') fillIds(k, driver, values.ids ?? '');
}

/** vfio_pci_fill_ids: each id of the `ids` option as if written to new_id (which binds); a bad one is skipped. */
function fillIds(k: Kern, driver: string, ids: string): void {
  for (const id of ids.split(',').filter(Boolean)) {
    try {
      writeNewId(k, driver, id.split(':').join(' '));
    } catch (err) {
      if (!(err instanceof KernelErrno)) throw err;
    }
  }
}

/**
 * An `install` command runs instead of the load (the way the QEMU suite injects a failing load):
 * /bin/true and /bin/false are simulated; `modprobe --ignore-install <module>` is the load itself.
 */
function runInstall(module: string, command: string): ExecResult {
  if (/^(\/usr)?(\/bin\/)?true$/.test(command)) return result(0);
  if (/^(\/usr)?(\/bin\/)?false$/.test(command)) {
    // Word for word what Debian 12's kmod 30 prints (checked under QEMU), source location included.
    return result(1, `modprobe: ERROR: ../libkmod/libkmod-module.c:1047 command_do() Error running install command '${command}' for module ${module}: retcode 1\n` +
      `modprobe: ERROR: could not insert '${module}': Invalid argument\n`);
  }
  throw new Error(`sim-exec: no simulation for the install command \`${command}\` of ${module}`);
}

/**
 * `modprobe <module> [param=value...]`: no-op when loaded or built in (the parameters are then
 * ignored, as kmod does); exit 1 when there is no such module or a parameter is invalid.
 */
export function modprobe(k: Kern, name: string, params: readonly Param[] = []): ExecResult {
  const module = normalizeModule(name);
  const def = moduleDef(k, module);
  if (!def) return result(1, `modprobe: FATAL: Module ${module} not found in directory /lib/modules/${release(k)}\n`);
  if (loadedModules(k).includes(module) || isBuiltin(k, module, def)) return result(0);
  const install = installCommand(k.tree.host, module);
  if (install !== null && !new RegExp(`^(/s?bin/)?modprobe\\s+--ignore-install\\s+${module}$`).test(install)) {
    return runInstall(module, install);
  }
  const values = paramValues(def, [...configuredOptions(k.tree.host, module), ...params]);
  if (values === null) return result(1, `modprobe: ERROR: could not insert '${module}': Invalid argument\n`);
  for (const dep of def.deps ?? []) {
    const depDef = moduleDef(k, dep);
    const depValues = depDef && paramValues(depDef, configuredOptions(k.tree.host, dep));
    if (depDef && depValues && !loadedModules(k).includes(dep) && !isBuiltin(k, dep, depDef)) insmod(k, dep, depDef, depValues);
  }
  insmod(k, module, def, values);
  return result(0);
}

function rmmod(k: Kern, module: string, def: ModuleDef): void {
  const t = k.tree;
  if (def.driver !== undefined) {
    // pci_unregister_driver unbinds every device; dynamic ids go with the driver.
    for (const addr of t.devices()) if (t.driverOf(addr) === def.driver) unbindDevice(k, addr);
    t.remove(paths.pciDriver(def.driver));
    const info = k.state.drivers[def.driver];
    if (info) info.dynamicIds = [];
  }
  t.remove(paths.sysModule(module));
  if (def.devNode) t.remove(def.devNode);
  const lines = (readAttr(t.host, paths.procModules) ?? '').split('\n').filter((l) => l && l.split(' ')[0] !== module);
  setProcModules(t, lines.length ? `${lines.join('\n')}\n` : '', 0o444);
}

/** A module is in use while another loaded module needs it or a device of its driver is open. */
function inUse(k: Kern, module: string, def: ModuleDef): boolean {
  const loaded = loadedModules(k);
  if (loaded.some((m) => m !== module && (moduleDef(k, m)?.deps ?? []).includes(module))) return true;
  if (def.driver === undefined) return false;
  return Object.keys(k.state.holds).some((addr) => k.tree.driverOf(addr) === def.driver);
}

/** `modprobe -r <module>`: unloads it, then the dependencies nothing else needs; nothing to do when it is not loaded. */
export function modprobeRemove(k: Kern, name: string): ExecResult {
  const module = normalizeModule(name);
  const def = moduleDef(k, module);
  if (!def) return result(1, `modprobe: FATAL: Module ${module} not found.\n`);
  if (isBuiltin(k, module, def)) return result(1, `modprobe: FATAL: Module ${module} is builtin.\n`);
  // kmod says "is not in kernel" (exit 1) only with --first-time; plain -r succeeds quietly (measured under QEMU).
  if (!loadedModules(k).includes(module)) return result(0);
  if (inUse(k, module, def)) return result(1, `modprobe: FATAL: Module ${module} is in use.\n`);
  try {
    rmmod(k, module, def);
  } catch (err) {
    // A driver's remove that cannot finish (gim disabling VFs a VM holds, set to fail).
    if (err instanceof KernelErrno) return result(1, `modprobe: FATAL: Module ${module} is in use.\n`);
    throw err;
  }
  for (const dep of [...(def.deps ?? [])].reverse()) {
    const depDef = moduleDef(k, dep);
    if (depDef && loadedModules(k).includes(dep) && !inUse(k, dep, depDef)) rmmod(k, dep, depDef);
  }
  return result(0);
}
