// SR-IOV and the other per-device stores (drivers/pci/iov.c sriov_numvfs_store and friends,
// drivers/pci/pci-sysfs.c, drivers/pci/pci.c reset_method_store; Linux 6.1).
import * as nodePath from 'node:path';
import { paths } from '../host/paths.js';
import { readAttr } from '../host/host.js';
import { readVirtfns } from '../detect/pci.js';
import { deviceAttach, type Kern, waitForRelease } from './drivers.js';
import { resetFamily } from '../reset/families.js';
import { chomp, fail } from './state.js';
import { simPaths } from './tree.js';
import { vgpuVfsAppeared } from './vgpu.js';

/** kstrtoull with base 0 (0x hex, leading-0 octal, decimal), one trailing newline allowed. */
export function kstrtoul(value: string): number | null {
  let s = chomp(value);
  if (s.startsWith('+')) s = s.slice(1);
  if (/^0x[0-9a-f]+$/i.test(s)) return parseInt(s.slice(2), 16);
  if (/^0[0-7]*$/.test(s)) return parseInt(s, 8);
  if (/^[1-9][0-9]*$/.test(s)) return Number(s);
  return null;
}

/** kstrtobool: only the first character (two for on/off) counts. */
export function kstrtobool(value: string): boolean | null {
  const c = value.slice(0, 1);
  const d = value.slice(1, 2).toLowerCase();
  if (c !== '' && 'yY1'.includes(c)) return true;
  if (c !== '' && 'nN0'.includes(c)) return false;
  if ((c === 'o' || c === 'O') && (d === 'n' || d === 'f')) return d === 'n';
  return null;
}

function sriovConfigurable(k: Kern, driver: string): boolean {
  if (driver === 'vfio-pci') return readAttr(k.tree.host, paths.moduleParam('vfio_pci', 'enable_sriov')) === 'Y';
  return k.state.drivers[driver]?.sriovConfigure ?? false;
}

export function writeNumVfs(k: Kern, pf: string, value: string): void {
  const n = kstrtoul(value);
  // sriov_numvfs_store maps every kstrtou16 failure, overflow included, to -EINVAL.
  if (n === null || n > 0xffff) fail('EINVAL');
  if (n > k.tree.int(paths.pciAttr(pf, 'sriov_totalvfs'))) fail('ERANGE');
  const current = k.tree.int(paths.pciAttr(pf, 'sriov_numvfs'));
  if (n === current) return;
  const driver = k.tree.driverOf(pf);
  if (driver === null || !sriovConfigurable(k, driver)) fail('ENOENT');
  if (n === 0) return disableVfs(k, pf);
  if (current !== 0) fail('EBUSY');
  enableVfs(k, pf, driver, n);
}

const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');

/** pci_iov_virtfn_bus/devfn: routing ID = PF RID + offset + i * stride. */
export function vfAddresses(pf: string, offset: number, stride: number, count: number): string[] {
  const [domain, bus, devfn] = [pf.slice(0, 4), parseInt(pf.slice(5, 7), 16), pf.slice(8)];
  const rid = (bus << 8) | (parseInt(devfn.slice(0, 2), 16) << 3) | Number(devfn.slice(3));
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const vf = rid + offset + i * stride;
    // sriov_enable: "not enough bus numbers" when the last VF's bus is out of range.
    if (vf >> 8 > 0xff) fail('ENOMEM');
    out.push(`${domain}:${hex(vf >> 8, 2)}:${hex((vf >> 3) & 0x1f, 2)}.${vf & 7}`);
  }
  return out;
}

export function enableVfs(k: Kern, pf: string, driver: string, asked: number): void {
  const limit = k.state.drivers[driver]?.vfLimit ?? null;
  const count = limit === null ? asked : Math.min(asked, limit);
  const attr = (a: string) => k.tree.int(paths.pciAttr(pf, a));
  const vfs = vfAddresses(pf, attr('sriov_offset'), attr('sriov_stride'), count);
  const vfDriver = k.state.drivers[driver]?.vfDriver ?? null;
  vfs.forEach((vf, i) => {
    createVf(k, pf, vf, i);
    // vfio_pci_bus_notifier: "Captured SR-IOV VF ... driver_override".
    if (driver === 'vfio-pci') k.tree.rewrite(paths.pciAttr(vf, 'driver_override'), 'vfio-pci\n');
    if (vfDriver !== null) k.state.native[vf] = vfDriver;
  });
  k.tree.rewrite(paths.pciAttr(pf, 'sriov_numvfs'), `${count}\n`);
  if (attr('sriov_drivers_autoprobe') === 0) return;
  for (const vf of vfs) deviceAttach(k, vf);
  vgpuVfsAppeared(k, pf, vfs);
}

function createVf(k: Kern, pf: string, vf: string, index: number): void {
  const t = k.tree;
  const pfDir = t.deviceDir(pf);
  const dir = `${nodePath.dirname(pfDir)}/${vf}`;
  const read = (a: string) => t.host.readText(`${pfDir}/${a}`);
  const vfDevice = (readAttr(t.host, `${pfDir}/sriov_vf_device`) ?? 'ffff').padStart(4, '0');
  t.mkdir(dir);
  t.link(paths.pciDevice(vf), dir);
  for (const a of ['vendor', 'subsystem_vendor', 'subsystem_device', 'class', 'revision', 'numa_node', 'local_cpulist']) {
    const v = read(a);
    if (v !== null) t.put(`${dir}/${a}`, v, 0o444);
  }
  t.put(`${dir}/device`, `0x${vfDevice}\n`, 0o444);
  const id = t.identity(vf);
  const cls = hex(id.class, 6).toUpperCase();
  const h8 = (n: number) => hex(n, 8).toUpperCase();
  t.put(`${dir}/modalias`, `pci:v${h8(id.vendor)}d${h8(id.device)}sv${h8(id.subvendor)}sd${h8(id.subdevice)}` +
    `bc${cls.slice(0, 2)}sc${cls.slice(2, 4)}i${cls.slice(4)}\n`, 0o444);
  t.put(`${dir}/driver_override`, '(null)\n');
  t.put(`${dir}/reset_method`, 'flr\n');
  t.put(`${dir}/reset`, '', 0o200);
  k.state.resetMethods[vf] = ['flr'];
  t.link(`${dir}/physfn`, pfDir);
  t.link(`${pfDir}/virtfn${index}`, dir);
  const pfGroup = t.groupOf(pf);
  if (pfGroup === null) return;
  const group = t.freeGroup();
  const from = simPaths.iommuGroup(pfGroup);
  t.put(`${simPaths.iommuGroup(group)}/type`, t.host.readText(`${from}/type`) ?? 'DMA\n');
  t.put(`${simPaths.iommuGroup(group)}/reserved_regions`, t.host.readText(`${from}/reserved_regions`) ?? '', 0o444);
  t.link(`${paths.iommuGroupDevices(group)}/${vf}`, dir);
  t.link(`${dir}/iommu_group`, simPaths.iommuGroup(group));
}

export function disableVfs(k: Kern, pf: string): void {
  const t = k.tree;
  const vfs = readVirtfns(t.host, pf);
  waitForRelease(k, vfs);
  for (const vf of [...vfs].reverse()) {
    t.detach(vf);
    const group = t.groupOf(vf);
    if (group !== null) {
      t.remove(`${paths.iommuGroupDevices(group)}/${vf}`);
      if ((t.host.list(paths.iommuGroupDevices(group)) ?? []).length === 0) t.remove(simPaths.iommuGroup(group));
    }
    t.remove(t.deviceDir(vf));
    t.remove(paths.pciDevice(vf));
    delete k.state.native[vf];
    delete k.state.resetMethods[vf];
  }
  for (const e of t.host.list(paths.pciDevice(pf)) ?? []) if (/^virtfn\d+$/.test(e)) t.remove(paths.pciAttr(pf, e));
  t.rewrite(paths.pciAttr(pf, 'sriov_numvfs'), '0\n');
}

export function writeSriovAutoprobe(k: Kern, pf: string, value: string): void {
  const on = kstrtobool(value);
  if (on === null) fail('EINVAL');
  k.tree.rewrite(paths.pciAttr(pf, 'sriov_drivers_autoprobe'), on ? '1\n' : '0\n');
}

const RESET_METHODS = ['device_specific', 'acpi', 'flr', 'af_flr', 'pm', 'bus', 'cxl_bus'];

/**
 * reset_method_store probes each named method when it is written (PCI_RESET_PROBE), not only
 * the ones found at enumeration: vendor-reset, loaded later, hooks pci_dev_specific_reset and
 * makes `device_specific` probe successfully for the devices in its table.
 */
function probes(k: Kern, addr: string, method: string, supported: readonly string[]): boolean {
  if (supported.includes(method)) return true;
  if (method !== 'device_specific' || !k.tree.host.exists(paths.sysModule('vendor_reset'))) return false;
  const id = k.tree.identity(addr);
  const hex = (n: number) => n.toString(16).padStart(4, '0');
  return resetFamily(hex(id.vendor), hex(id.device))?.vendorReset === true;
}

export function writeResetMethod(k: Kern, addr: string, value: string): void {
  const current = readAttr(k.tree.host, paths.pciAttr(addr, 'reset_method')) ?? '';
  // What pci_init_reset_methods found at enumeration; a device added after the sidecar: its file.
  const supported = (k.state.resetMethods[addr] ??= current.split(/\s+/).filter(Boolean));
  const v = chomp(value);
  let methods: string[];
  if (v === '') methods = [];
  else if (v === 'default') methods = supported;
  else {
    methods = v.split(' ').map((m) => m.trim()).filter(Boolean);
    // 6.1 keeps a method named twice (it reads back twice): measured under QEMU.
    const bad = methods.some((m) => !RESET_METHODS.includes(m) || !probes(k, addr, m, supported));
    if (bad) fail('EINVAL');
  }
  k.tree.rewrite(paths.pciAttr(addr, 'reset_method'), methods.length ? `${methods.join(' ')}\n` : '');
}

export function writeReset(k: Kern, addr: string, value: string): void {
  if (kstrtoul(value) !== 1) fail('EINVAL');
  // pci_reset_function: -ENOTTY when every method is disabled.
  if (!readAttr(k.tree.host, paths.pciAttr(addr, 'reset_method'))) fail('ENOTTY');
}

/** pci_write_rom: exactly "0\n" disables reading the ROM; anything else enables it. */
export function writeRom(k: Kern, addr: string, value: string): void {
  const rest = k.state.romEnabled.filter((a) => a !== addr);
  k.state.romEnabled = value === '0\n' ? rest : [...rest, addr];
}

/** A bool module parameter (param_set_bool). */
export function writeBoolParam(k: Kern, path: string, value: string): void {
  const on = kstrtobool(value);
  if (on === null) fail('EINVAL');
  k.tree.rewrite(path, on ? 'Y\n' : 'N\n');
}
