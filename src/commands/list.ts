import type { CommandDef } from './command.js';
import type { Style } from '../output.js';
import type { PciNames } from '../pci/names.js';
import { isGpuClass, listAddresses, readFunction, type PciFunction } from '../detect/pci.js';
import { readIommuGroups } from '../detect/system.js';

export interface ListOptions {
  gpus: boolean;
}

export interface DeviceJson extends PciFunction {
  className: string;
  name: string;
}

export interface ListData {
  iommu: boolean;
  groups: { id: number; devices: DeviceJson[] }[];
  /** Devices without an IOMMU group: every device when the IOMMU is off. */
  ungrouped: DeviceJson[];
  /** Why devices have no group, when they don't. */
  reason: string | null;
}

function deviceJson(f: PciFunction, names: PciNames): DeviceJson {
  return { ...f, className: names.className(f.classId), name: names.name(f.vendorId, f.deviceId) };
}

export function listData(devices: PciFunction[], iommuOn: boolean, gpusOnly: boolean, names: PciNames): ListData {
  const byGroup = new Map<number, PciFunction[]>();
  const ungrouped: PciFunction[] = [];
  for (const d of devices) {
    if (d.iommuGroup === null) ungrouped.push(d);
    else byGroup.set(d.iommuGroup, [...(byGroup.get(d.iommuGroup) ?? []), d]);
  }
  const groups = [...byGroup.entries()]
    .sort(([a], [b]) => a - b)
    .filter(([, members]) => !gpusOnly || members.some((m) => isGpuClass(m.classId)))
    .map(([id, members]) => ({ id, devices: members.map((m) => deviceJson(m, names)) }));
  const loose = ungrouped.filter((d) => !gpusOnly || isGpuClass(d.classId)).map((d) => deviceJson(d, names));
  const reason = ungrouped.length === 0 ? null
    : iommuOn ? 'these devices are not behind the IOMMU'
    : 'no IOMMU is active, so the kernel made no IOMMU groups (run `gpuvirt doctor` for the fix)';
  return { iommu: iommuOn, groups, ungrouped: loose, reason };
}

function deviceLine(d: DeviceJson, s: Style): string {
  const driver = d.driver ? s.dim(` (driver ${d.driver})`) : s.dim(' (no driver)');
  return `  ${d.address}  ${d.className} [${d.classId.slice(0, 4)}]: ${d.name} [${d.vendorId}:${d.deviceId}]${driver}`;
}

export function renderList(d: ListData, s: Style): string {
  const out: string[] = [];
  for (const g of d.groups) {
    out.push(s.bold(`IOMMU group ${g.id}`));
    for (const dev of g.devices) out.push(deviceLine(dev, s));
  }
  if (d.ungrouped.length) {
    if (out.length) out.push('');
    out.push(s.bold(`Without an IOMMU group: ${d.reason ?? ''}`));
    for (const dev of d.ungrouped) out.push(deviceLine(dev, s));
  }
  if (!out.length) out.push('no devices');
  return `${out.join('\n')}\n`;
}

export const list: CommandDef<ListOptions, ListData> = {
  name: 'list',
  summary: 'show IOMMU groups and their devices',
  help: 'Lists every IOMMU group with its PCI devices (address, class, name, ids, driver).\nWithout an IOMMU, lists the devices and says why they have no group.',
  linuxOnly: true,
  options: [
    { flags: '--gpus', help: 'only groups that contain a GPU' },
  ],
  parse(_args, opts) {
    return { gpus: Boolean(opts.gpus) };
  },
  async run(opts, ctx) {
    const devices = listAddresses(ctx.host).map((a) => readFunction(ctx.host, a));
    // Only whether the kernel made groups: not the interrupt remapping doctor reads (/proc/interrupts).
    const iommu = readIommuGroups(ctx.host);
    const data = listData(devices, iommu.units.length > 0 && iommu.groupCount > 0, opts.gpus, ctx.names);
    return { ok: true, data, warnings: [] };
  },
  render: (d, s) => renderList(d, s),
};
