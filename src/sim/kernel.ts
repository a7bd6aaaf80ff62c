/*
 * A simulated Linux kernel (modelled on 6.1, checked against what it returned under QEMU)
 * behind the Host interface, so commands run unchanged on a fixture tree and see the kernel's
 * reactions. The state is the tree itself: reads go straight to it, and writeAttr performs
 * the kernel's effect on it (links, files), or throws the errno the kernel returns.
 *
 * Modelled: driver_override; drivers/<drv>/{bind,unbind,new_id,remove_id};
 * devices/<bdf>/driver/unbind; drivers_probe and drivers_autoprobe; matching by override,
 * dynamic ids, static ids and "native" claims; probe failures (vfio-pci without an IOMMU
 * group or on a bridge, VFs that may not probe, injected ones); /dev/vfio/<group>;
 * sriov_numvfs, sriov_drivers_autoprobe, VF creation and removal with their groups;
 * reset_method, reset, rom enabling, bool module parameters; NVIDIA's nvidia/current_vgpu_type
 * (vgpu.ts); zero-length writes (no-op,
 * as sysfs_kf_write); EACCES for missing or read-only attributes, and reading write-only
 * ones; EIO reading resourceN; EINVAL reading a ROM not enabled; mediated devices (mdev.ts:
 * create, remove); AMD GIM's probe and remove (gim.ts). Module loading is in modules.ts, the
 * programs the commands run in exec.ts (SimExec). test/ground-truth/kernel-writes.ts holds
 * what Linux answers, checked against this simulation and against Linux under QEMU.
 *
 * What the tree cannot hold (which driver claims which device, dynamic ids, what each PF
 * driver does with SR-IOV, devices held open, injected failures, the logs) lives in the
 * sidecar <root>/.sim-kernel.json (state.ts), made from the tree on first use and shared
 * by every SimKernel on that root, in this process or a spawned CLI. A SimKernel changes its
 * root in place: give it a copy (makeSimHost in host.ts).
 *
 * Left out: device remove/rescan, bus rescan, enable, resourceN_resize, iommu group `type`
 * writes, GVT-g types sharing one aperture,
 * the 5.19+ DMA-ownership EBUSY for kernel drivers in a group opened by VFIO,
 * uevents (beyond VF autoprobe), the time the kernel takes (except devices held open,
 * which block for a configured delay or fail with a configured errno), and any locking
 * between processes sharing the sidecar: they must take turns.
 */
import * as nodePath from 'node:path';
import type { ExecResult } from '../host/exec.js';
import type { Host, HostStat, WriteOptions } from '../host/host.js';
import {
  type Kern, writeBind, writeBusAutoprobe, writeDriverOverride, writeDriversProbe,
  writeNewId, writeRemoveId, writeUnbind,
} from './drivers.js';
import { isWriteOnly, READ_ONLY } from './attrs.js';
import { mdevOfRemove, mdevTypeOfCreate, writeMdevCreate, writeMdevRemove } from './mdev.js';
import { modprobe, modprobeRemove } from './modules.js';
import type { Param } from './modprobe-conf.js';
import {
  chomp, consume, type DriverInfo, fail, type Hold, KernelErrno, loadState, newDriverInfo, type PciId,
  PCI_ANY_ID, saveState, type SimErrno, type SimState, storedRegex, sysError, type WriteRecord,
} from './state.js';
import {
  writeBoolParam, writeNumVfs, writeReset, writeResetMethod, writeRom, writeSriovAutoprobe,
} from './sriov.js';
import { isUnder, SimTree, simPaths } from './tree.js';
import { isVgpuTypeStore, writeCurrentVgpuType } from './vgpu.js';
import { isXeProfileStore, writeXeProfile } from './xe-admin.js';
import { paths } from '../host/paths.js';
import { normalizeHostPath, showPath, UnsafePathError } from '../host/jail.js';

export type { Hold, SimErrno, SimState, WriteRecord } from './state.js';

export interface WriteFailureRule {
  /** The path as written, or as resolved through symlinks. */
  path: string | RegExp;
  /** Only writes of this value (a trailing newline is ignored on both sides). */
  value?: string;
  errno: SimErrno;
  /** How many writes fail; every matching write when absent. */
  times?: number;
}

export interface DriverConfig {
  module?: string;
  /** Static id table entries as "vvvv:dddd". */
  ids?: string[];
  sriovConfigure?: boolean;
  vfDriver?: string | null;
  vfLimit?: number | null;
}

const DRIVER_STORES = ['bind', 'unbind', 'new_id', 'remove_id'];

export class SimKernel implements Host {
  readonly root: string;
  private readonly tree: SimTree;

  constructor(root: string, private readonly opts: { privileged?: boolean } = {}) {
    this.tree = new SimTree(root);
    this.root = this.tree.host.root;
  }

  /** Runs `fn` on the sidecar state and saves it, so other processes see the change. */
  withState<T>(fn: (k: Kern) => T): T {
    const k: Kern = { tree: this.tree, state: loadState(this.tree.host) };
    try {
      return fn(k);
    } finally {
      saveState(this.tree.host, k.state);
    }
  }

  /** The errors sysfs gives a reader before any content: no show(), BARs, a ROM not enabled. */
  private checkRead(raw: string): void {
    const path = normalizeHostPath(raw);
    const st = isUnder(path, simPaths.sysfs) ? this.tree.stat(path) : null;
    if (!st?.isFile()) return;
    const name = nodePath.basename(path);
    if ((st.mode & 0o444) === 0 || isWriteOnly(path)) throw sysError('EACCES', path, 'open');
    if (/^resource\d+(_wc)?$/.test(name)) throw sysError('EIO', path, 'read');
    if (name === 'rom') {
      const addr = nodePath.basename(nodePath.dirname(this.tree.canonical(path) ?? ''));
      if (!this.withState((k) => k.state.romEnabled.includes(addr))) throw sysError('EINVAL', path, 'read');
    }
  }

  readText(path: string): string | null {
    this.checkRead(path);
    return this.tree.host.readText(path);
  }

  stat(path: string, head?: number): HostStat | null {
    if (head !== undefined) this.checkRead(path);
    return (this.tree.host as Host).stat?.(path, head) ?? null;
  }

  readLink(path: string): string | null {
    return this.tree.host.readLink(path);
  }
  list(path: string): string[] | null {
    return this.tree.host.list(path);
  }
  exists(path: string): boolean {
    return this.tree.host.exists(path);
  }
  isDirectory(path: string): boolean {
    return this.tree.host.isDirectory(path);
  }
  isPrivileged(): boolean {
    return this.opts.privileged ?? true;
  }

  /** sysfs and procfs refuse to create, rename or remove files. */
  private refuseKernelFs(raw: string, syscall: string): void {
    const path = normalizeHostPath(raw);
    if (isUnder(path, simPaths.sysfs) || isUnder(path, simPaths.procfs)) throw sysError('EACCES', path, syscall);
  }
  writeFile(path: string, content: string, mode?: number, opts?: WriteOptions): void {
    this.refuseKernelFs(path, 'open');
    this.tree.host.writeFile(path, content, mode, opts);
  }
  createExclusive(path: string, content: string): boolean {
    this.refuseKernelFs(path, 'open');
    return this.tree.host.createExclusive(path, content);
  }
  removeFile(path: string): void {
    this.refuseKernelFs(path, 'unlink');
    this.tree.host.removeFile(path);
  }
  mkdirp(path: string, mode?: number): void {
    this.refuseKernelFs(path, 'mkdir');
    this.tree.host.mkdirp(path, mode);
  }
  removeEmptyDir(path: string): boolean {
    this.refuseKernelFs(path, 'rmdir');
    return this.tree.host.removeEmptyDir(path);
  }

  writeAttr(raw: string, value: string): void {
    const path = normalizeHostPath(raw);
    this.withState((k) => {
      let result: WriteRecord['result'] = 'ok';
      try {
        this.dispatch(k, path, value);
      } catch (err) {
        result = err instanceof KernelErrno ? err.code : ((err as NodeJS.ErrnoException).code as SimErrno) ?? 'error';
        throw err instanceof KernelErrno ? sysError(err.code, path) : err;
      } finally {
        k.state.writes.push({ path, value, result });
      }
    });
  }

  private dispatch(k: Kern, path: string, value: string): void {
    const dir = this.tree.canonical(nodePath.dirname(path));
    const file = dir === null ? null : `${dir === '/' ? '' : dir}/${nodePath.basename(path)}`;
    const injected = consume(k.state.writeFailures, (r) => {
      const hit = (p: string | null) => p !== null && (r.regex ? storedRegex(r.regex).test(p) : r.path === p);
      return (hit(path) || hit(file)) && (r.value === undefined || chomp(r.value) === chomp(value));
    });
    if (injected) fail(injected.errno);
    if (!isUnder(path, simPaths.sysfs)) return this.tree.host.writeAttr(path, value);
    if (dir === null || file === null) fail('ENOENT');
    // An attribute is a file: a link in its place (a hostile snapshot) is never written through.
    if (this.tree.host.stat(file)?.kind === 'link') throw new UnsafePathError(showPath(path), 'a symbolic link where gpuvirt writes an attribute');
    const st = this.tree.stat(file);
    if (st === null) fail('EACCES'); // kernfs refuses O_CREAT
    if (st.isDirectory()) fail('EISDIR');
    const name = nodePath.basename(file);
    const isDevice = this.isDeviceDir(dir);
    if ((st.mode & 0o222) === 0 || (isDevice && READ_ONLY.has(name))) fail('EACCES');
    if (value.length === 0) return; // sysfs_kf_write: a zero-length write never reaches ->store
    this.store(k, file, value, isDevice, st.mode);
  }

  private isDeviceDir(dir: string): boolean {
    const addr = nodePath.basename(dir);
    return isUnder(dir, simPaths.sysDevices) && this.tree.canonical(paths.pciDevice(addr)) === dir;
  }

  /** The attribute's ->store: the kernel's effect on the tree, or a KernelErrno. */
  private store(k: Kern, file: string, value: string, isDevice: boolean, mode: number): void {
    const [dir, name] = [nodePath.dirname(file), nodePath.basename(file)];
    const parent = nodePath.dirname(dir);
    if (parent === paths.pciDrivers && DRIVER_STORES.includes(name)) {
      const driver = nodePath.basename(dir);
      const op = { bind: writeBind, unbind: writeUnbind, new_id: writeNewId, remove_id: writeRemoveId }[name];
      return op!(k, driver, value);
    }
    if (file === paths.pciDriversProbe) return writeDriversProbe(k, value);
    if (file === simPaths.busDriversAutoprobe) return writeBusAutoprobe(k, value);
    if (isVgpuTypeStore(file) && this.isDeviceDir(parent)) return writeCurrentVgpuType(k, nodePath.basename(parent), value);
    if (isXeProfileStore(file)) return writeXeProfile(k, file, value);
    if (isDevice) {
      const addr = nodePath.basename(dir);
      const op = {
        driver_override: writeDriverOverride, sriov_numvfs: writeNumVfs, sriov_drivers_autoprobe: writeSriovAutoprobe,
        reset_method: writeResetMethod, reset: writeReset, rom: writeRom,
      }[name];
      if (op) return op(k, addr, value);
    }
    const mdevType = mdevTypeOfCreate(file);
    if (mdevType !== null) return writeMdevCreate(k, mdevType, value);
    const mdev = mdevOfRemove(k, file);
    if (mdev !== null) return writeMdevRemove(k, mdev, value);
    const current = this.tree.host.readText(file);
    const isParam = nodePath.basename(dir) === 'parameters' && nodePath.dirname(parent) === simPaths.sysModules;
    if (isParam && (current === 'Y\n' || current === 'N\n')) {
      return writeBoolParam(k, file, value);
    }
    if ((mode & 0o444) === 0 || isWriteOnly(file)) throw new Error(`sim-kernel: writing ${file} is not simulated`);
    this.tree.rewrite(file, value.endsWith('\n') ? value : `${value}\n`);
  }

  // ---- Test controls; all persist in the sidecar, so a spawned CLI sees them too. ----

  /** Makes matching writes fail with `errno` before they have any effect. */
  failOn(rule: WriteFailureRule): void {
    const { path, value, errno, times } = rule;
    this.withState((k) => {
      k.state.writeFailures.push({
        path: typeof path === 'string' ? path : path.source,
        ...(typeof path === 'string' ? {} : { regex: { source: path.source, flags: path.flags } }),
        ...(value === undefined ? {} : { value }),
        errno,
        remaining: times ?? null,
      });
    });
  }

  /** Makes `driver`'s probe of `device` fail: bind returns the errno, drivers_probe leaves it unbound. */
  failProbe(rule: { device: string; driver: string; errno: SimErrno; times?: number }): void {
    this.withState((k) => k.state.probeFailures.push({ ...rule, remaining: rule.times ?? null }));
  }

  /** Marks a device as open through VFIO (a VM runs): unbinding it or disabling its VFs blocks. */
  holdOpen(device: string, hold: Hold): void {
    this.withState((k) => void (k.state.holds[device] = hold));
  }

  releaseHold(device: string): void {
    this.withState((k) => void delete k.state.holds[device]);
  }

  configureDriver(name: string, config: DriverConfig): void {
    this.withState((k) => {
      const info: DriverInfo = (k.state.drivers[name] ??= newDriverInfo(name, config.module));
      if (config.module !== undefined) info.module = config.module;
      if (config.ids) info.ids = config.ids.map(parseId);
      if (config.sriovConfigure !== undefined) info.sriovConfigure = config.sriovConfigure;
      if (config.vfDriver !== undefined) info.vfDriver = config.vfDriver;
      if (config.vfLimit !== undefined) info.vfLimit = config.vfLimit;
    });
  }

  /** The driver whose static id table claims the device (null: none does). */
  setNative(device: string, driver: string | null): void {
    this.withState((k) => {
      if (driver === null) delete k.state.native[device];
      else k.state.native[device] = driver;
    });
  }

  /** Every intercepted write so far, with its result, from every process on this root. */
  get writes(): WriteRecord[] {
    return this.withState((k) => k.state.writes);
  }

  clearWrites(): void {
    this.withState((k) => void (k.state.writes = []));
  }

  /** What proxmox-boot-tool last wrote to each ESP: UUID → path on the ESP → content. */
  espFiles(): Record<string, Record<string, string>> {
    return this.withState((k) => structuredClone(k.state.esps ?? {}));
  }

  /** A copy of the sidecar state, for assertions and debugging. */
  kernelState(): SimState {
    return this.withState((k) => structuredClone(k.state));
  }

  modprobe(module: string, params: readonly Param[] = []): ExecResult {
    return this.withState((k) => modprobe(k, module, params));
  }

  modprobeRemove(module: string): ExecResult {
    return this.withState((k) => modprobeRemove(k, module));
  }
}

function parseId(text: string): PciId {
  const m = /^([0-9a-f]{4}):([0-9a-f]{4})$/i.exec(text);
  if (!m) throw new Error(`sim-kernel: id ${JSON.stringify(text)} is not vvvv:dddd`);
  return {
    vendor: parseInt(m[1]!, 16), device: parseInt(m[2]!, 16), subvendor: PCI_ANY_ID, subdevice: PCI_ANY_ID,
    class: 0, classMask: 0,
  };
}
