// Builds a small sysfs tree laid out as the kernel lays it out (and as scripts/capture-sysfs
// keeps it): real device directories under sys/devices/pci0000:00, relative links from
// sys/bus/pci/devices, drivers and IOMMU groups, write-only attributes as empty 0200 files.
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { SimExec } from '../../src/sim/exec.js';
import { type SimHost, simTmpDir } from '../../src/sim/host.js';
import { SimKernel } from '../../src/sim/kernel.js';

export interface DeviceSpec {
  addr: string;
  /** The bridge the device sits behind; the root complex when absent. */
  parent?: string;
  vendor: string;
  device: string;
  /** 24-bit class as 6 hex digits, e.g. 030000. */
  class: string;
  driver?: string;
  group?: number;
  resetMethods?: string[];
  override?: string;
  sriov?: { totalVfs: number; offset: number; stride: number; vfDevice: string; autoprobe?: boolean };
}

export class SysfsBuilder {
  readonly root: string;
  private readonly dirs = new Map<string, string>();
  private readonly modules: string[] = [];

  constructor() {
    this.root = fs.mkdtempSync(nodePath.join(simTmpDir(), 'gpuvirt-sysfs-'));
    for (const f of ['drivers_probe', 'rescan']) this.file(`/sys/bus/pci/${f}`, '', 0o200);
    this.file('/sys/bus/pci/drivers_autoprobe', '1\n');
    this.file('/proc/sys/kernel/osrelease', '6.1.0-56-amd64\n', 0o444);
    fs.mkdirSync(this.real('/sys/bus/pci/devices'), { recursive: true });
  }

  real(path: string): string {
    return this.root + path;
  }

  cleanup(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  file(path: string, content: string, mode = 0o644): this {
    fs.mkdirSync(nodePath.dirname(this.real(path)), { recursive: true });
    fs.writeFileSync(this.real(path), content, { mode });
    fs.chmodSync(this.real(path), mode);
    return this;
  }

  link(path: string, target: string): this {
    fs.mkdirSync(nodePath.dirname(this.real(path)), { recursive: true });
    fs.symlinkSync(nodePath.relative(nodePath.dirname(path), target), this.real(path));
    return this;
  }

  /** A loaded PCI driver; `module` null for a built-in one (no /proc/modules line). */
  driver(name: string, module: string | null = name.replace(/-/g, '_')): this {
    const dir = `/sys/bus/pci/drivers/${name}`;
    for (const f of ['bind', 'unbind', 'new_id', 'remove_id', 'uevent']) this.file(`${dir}/${f}`, '', 0o200);
    if (module === null) return this;
    this.link(`${dir}/module`, `/sys/module/${module}`);
    this.file(`/sys/module/${module}/initstate`, 'live\n', 0o444);
    if (module === 'vfio_pci') this.file('/sys/module/vfio_pci/parameters/enable_sriov', 'N\n');
    this.modules.push(module);
    this.file('/proc/modules', this.modules.map((m) => `${m} 16384 0 - Live 0x0000000000000000\n`).join(''), 0o444);
    return this;
  }

  /** An IOMMU unit in /sys/class/iommu, as intel-iommu registers it. */
  iommu(unit = 'dmar0'): this {
    fs.mkdirSync(this.real(`/sys/devices/virtual/iommu/${unit}`), { recursive: true });
    return this.link(`/sys/class/iommu/${unit}`, `/sys/devices/virtual/iommu/${unit}`);
  }

  device(spec: DeviceSpec): this {
    const parentDir = spec.parent ? this.dirs.get(spec.parent) : '/sys/devices/pci0000:00';
    if (!parentDir) throw new Error(`builder: add ${spec.parent} before ${spec.addr}`);
    const dir = `${parentDir}/${spec.addr}`;
    this.dirs.set(spec.addr, dir);
    const ro = (name: string, value: string) => this.file(`${dir}/${name}`, `${value}\n`, 0o444);
    ro('vendor', `0x${spec.vendor}`);
    ro('device', `0x${spec.device}`);
    ro('subsystem_vendor', `0x${spec.vendor}`);
    ro('subsystem_device', '0x1100');
    ro('class', `0x${spec.class}`);
    ro('revision', '0x00');
    this.file(`${dir}/driver_override`, `${spec.override ?? '(null)'}\n`);
    for (const f of ['remove', 'rescan']) this.file(`${dir}/${f}`, '', 0o200);
    this.file(`${dir}/resource0`, '', 0o600);
    if (spec.class.startsWith('0300')) {
      ro('boot_vga', '1');
      this.file(`${dir}/rom`, 'VBIOS', 0o600);
    }
    if (spec.resetMethods) {
      this.file(`${dir}/reset_method`, `${spec.resetMethods.join(' ')}\n`);
      this.file(`${dir}/reset`, '', 0o200);
    }
    if (spec.sriov) {
      const s = spec.sriov;
      ro('sriov_totalvfs', String(s.totalVfs));
      ro('sriov_offset', String(s.offset));
      ro('sriov_stride', String(s.stride));
      ro('sriov_vf_device', s.vfDevice);
      this.file(`${dir}/sriov_numvfs`, '0\n');
      this.file(`${dir}/sriov_drivers_autoprobe`, s.autoprobe === false ? '0\n' : '1\n');
    }
    this.link(`/sys/bus/pci/devices/${spec.addr}`, dir);
    if (spec.driver) {
      this.link(`${dir}/driver`, `/sys/bus/pci/drivers/${spec.driver}`);
      this.link(`/sys/bus/pci/drivers/${spec.driver}/${spec.addr}`, dir);
    }
    if (spec.group !== undefined) {
      const group = `/sys/kernel/iommu_groups/${spec.group}`;
      if (!fs.existsSync(this.real(`${group}/type`))) this.file(`${group}/type`, 'DMA\n');
      this.link(`${group}/devices/${spec.addr}`, dir);
      this.link(`${dir}/iommu_group`, group);
    }
    return this;
  }
}

/**
 * The QEMU q35 machine of real-kernel-findings.md, trimmed: a GPU-like slot (VGA + HDA,
 * shared group), an nvme SR-IOV PF, e1000e, a conventional bridge with e1000 and edu behind
 * it, a lone edu, an igb SR-IOV PF. Groups only with `iommu`; vfio-pci loaded with `vfio`.
 */
export function q35(opts: { iommu?: boolean; vfio?: boolean } = {}): SysfsBuilder {
  const iommu = opts.iommu ?? true;
  const g = (n: number) => (iommu ? n : undefined);
  const b = new SysfsBuilder();
  if (iommu) b.iommu();
  for (const [d, m] of [['pcieport', null], ['lpc_ich', 'lpc_ich'], ['bochs-drm', 'bochs'], ['snd_hda_intel', 'snd_hda_intel'],
    ['nvme', 'nvme'], ['e1000e', 'e1000e'], ['e1000', 'e1000'], ['igb', 'igb'], ['igbvf', 'igbvf']] as const) {
    b.driver(d, m);
  }
  if (opts.vfio) b.driver('vfio-pci');
  const port = (addr: string, group: number) =>
    b.device({ addr, vendor: '1b36', device: '000c', class: '060400', driver: 'pcieport', group: g(group) });
  b.device({ addr: '0000:00:00.0', vendor: '8086', device: '29c0', class: '060000', group: g(0) });
  b.device({ addr: '0000:00:1f.0', vendor: '8086', device: '2918', class: '060100', driver: 'lpc_ich', group: g(7) });
  port('0000:00:02.0', 1);
  b.device({ addr: '0000:01:00.0', parent: '0000:00:02.0', vendor: '1234', device: '1111', class: '030000', driver: 'bochs-drm', group: g(8), resetMethods: ['bus'] });
  b.device({ addr: '0000:01:00.1', parent: '0000:00:02.0', vendor: '8086', device: '293e', class: '040300', driver: 'snd_hda_intel', group: g(8) });
  port('0000:00:03.0', 2);
  b.device({
    addr: '0000:02:00.0', parent: '0000:00:03.0', vendor: '1b36', device: '0010', class: '010802', driver: 'nvme',
    group: g(9), resetMethods: ['flr', 'bus'], sriov: { totalVfs: 4, offset: 1, stride: 1, vfDevice: '0010' },
  });
  port('0000:00:04.0', 3);
  b.device({ addr: '0000:03:00.0', parent: '0000:00:04.0', vendor: '8086', device: '10d3', class: '020000', driver: 'e1000e', group: g(10), resetMethods: ['pm', 'bus'] });
  port('0000:00:05.0', 4);
  b.device({ addr: '0000:04:00.0', parent: '0000:00:05.0', vendor: '1b36', device: '000e', class: '060400', group: g(11), resetMethods: ['pm', 'bus'] });
  b.device({ addr: '0000:05:01.0', parent: '0000:04:00.0', vendor: '8086', device: '100e', class: '020000', driver: 'e1000', group: g(11), resetMethods: ['bus'] });
  b.device({ addr: '0000:05:02.0', parent: '0000:04:00.0', vendor: '1234', device: '11e8', class: '00ff00', group: g(11) });
  port('0000:00:06.0', 5);
  b.device({ addr: '0000:06:00.0', parent: '0000:00:06.0', vendor: '1234', device: '11e8', class: '00ff00', group: g(12), resetMethods: ['bus'] });
  port('0000:00:08.0', 6);
  b.device({
    addr: '0000:07:00.0', parent: '0000:00:08.0', vendor: '8086', device: '10c9', class: '020000', driver: 'igb',
    group: g(14), resetMethods: ['flr', 'pm', 'bus'], sriov: { totalVfs: 7, offset: 128, stride: 2, vfDevice: '10ca' },
  });
  return b;
}

/** A simulated q35 machine, built in place (makeSimHost would copy it); call `cleanup` when done. */
export function simMachine(opts: { iommu?: boolean; vfio?: boolean } = {}): SimHost {
  const { root } = q35(opts);
  const host = new SimKernel(root);
  return { host, exec: new SimExec(host), root, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}

/** Remembers a machine for an afterEach cleanup and returns it. */
export function track(list: SimHost[], sim: SimHost): SimHost {
  list.push(sim);
  return sim;
}

/** The errno a write fails with, or 'ok'. */
export function write(host: SimKernel, path: string, value: string): string {
  try {
    host.writeAttr(path, value);
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}
