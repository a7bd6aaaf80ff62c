// Mediated devices (drivers/vfio/mdev/mdev_core.c and mdev_sysfs.c, Linux 6.1). A parent
// device has mdev_supported_types/<type>/{create, available_instances, name, device_api,
// devices/} and a /sys/class/mdev_bus/<parent> link. Writing a UUID to `create` makes the
// device under its parent, linked from /sys/bus/mdev/devices and the type's devices/, with an
// mdev_type link, a `remove` attribute and an IOMMU group of its own (vfio's emulated IOMMU,
// hence /dev/vfio/<group>); writing a non-zero number to `remove` destroys it.
//
// Errors: create_store takes 36 or 37 bytes (a UUID, maybe a newline) and guid_parse must
// accept them (EINVAL); a UUID that exists anywhere is EEXIST; no instances left is EUSERS from
// the core (parents without get_available) and ENOSPC from i915's GVT-g (its alloc_resource).
// remove_store: kstrtoul fails → EINVAL, 0 → nothing. Removing a device a VM holds open blocks
// in vfio until it is closed (a Hold: a delay, or an errno to fail with), as for vfio-pci.
// When the parent's driver goes, its mediated devices and types go with it, and come back
// (types only, every instance free) when that driver binds again.
// A VF parent (NVIDIA vGPU on SR-IOV boards before 6.8) hosts one mediated device: once it has
// one, none of its types has an instance left, until it is removed.
// Simplified: each type counts its own instances (GVT-g types really share the aperture).
import * as nodePath from 'node:path';
import { paths } from '../host/paths.js';
import { type Kern, waitForRelease } from './drivers.js';
import { fail } from './state.js';
import { kstrtoul } from './sriov.js';
import { simPaths } from './tree.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The type directory when `file` is a type's `create`, else null. */
export function mdevTypeOfCreate(file: string): string | null {
  const dir = nodePath.dirname(file);
  return nodePath.basename(file) === 'create' && nodePath.basename(nodePath.dirname(dir)) === 'mdev_supported_types' ? dir : null;
}

/** The device directory when `file` is a mediated device's `remove`, else null. */
export function mdevOfRemove(k: Kern, file: string): string | null {
  const dir = nodePath.dirname(file);
  return nodePath.basename(file) === 'remove' && UUID.test(nodePath.basename(dir)) && k.tree.host.readLink(`${dir}/mdev_type`) !== null
    ? dir : null;
}

function parentDriver(k: Kern, parentDir: string): string | null {
  const target = k.tree.host.readLink(`${parentDir}/driver`);
  return target === null ? null : nodePath.basename(target);
}

export function writeMdevCreate(k: Kern, typeDir: string, value: string): void {
  const t = k.tree;
  if (value.length < 36 || value.length > 37 || !UUID.test(value.slice(0, 36))) fail('EINVAL');
  const uuid = value.slice(0, 36).toLowerCase(); // the device is named %pUl
  if ((t.host.list(paths.mdevDevices) ?? []).includes(uuid)) fail('EEXIST');
  const parentDir = nodePath.dirname(nodePath.dirname(typeDir));
  const available = t.int(`${typeDir}/available_instances`);
  if (available <= 0) fail(parentDriver(k, parentDir) === 'i915' ? 'ENOSPC' : 'EUSERS');
  const dir = `${parentDir}/${uuid}`;
  if (t.host.readLink(`${parentDir}/physfn`) !== null) takeVfParent(k, parentDir);
  else t.rewrite(`${typeDir}/available_instances`, `${available - 1}\n`);
  t.mkdir(dir);
  t.link(`${dir}/mdev_type`, typeDir);
  t.put(`${dir}/remove`, '', 0o200);
  t.put(`${dir}/uevent`, `MDEV_TYPE=${nodePath.basename(typeDir)}\n`);
  t.link(`${dir}/subsystem`, '/sys/bus/mdev');
  t.link(`${paths.mdevDevices}/${uuid}`, dir);
  t.link(`${typeDir}/devices/${uuid}`, dir);
  const group = t.freeGroup();
  t.put(`${simPaths.iommuGroup(group)}/type`, 'unknown\n', 0o444);
  t.put(`${simPaths.iommuGroup(group)}/reserved_regions`, '', 0o444);
  t.link(`${paths.iommuGroupDevices(group)}/${uuid}`, dir);
  t.link(`${dir}/iommu_group`, simPaths.iommuGroup(group));
  t.put(paths.devVfioGroup(group), '', 0o600);
}

const typeDirs = (k: Kern, parentDir: string) =>
  (k.tree.host.list(`${parentDir}/mdev_supported_types`) ?? []).map((id) => `${parentDir}/mdev_supported_types/${id}`);

/** A VF parent's one vGPU is taken: every type shows 0, and what they showed is kept for the removal. */
function takeVfParent(k: Kern, parentDir: string): void {
  const free: Record<string, number> = {};
  for (const d of typeDirs(k, parentDir)) {
    free[nodePath.basename(d)] = k.tree.int(`${d}/available_instances`);
    k.tree.rewrite(`${d}/available_instances`, '0\n');
  }
  (k.state.mdevVfFree ??= {})[parentDir] = free;
}

/** A VF parent's vGPU is gone: its types show what they showed before, or what a free sibling VF shows. */
function freeVfParent(k: Kern, parentDir: string): void {
  const t = k.tree;
  let free = k.state.mdevVfFree?.[parentDir];
  if (!free) {
    const pf = t.canonical(`${parentDir}/physfn`);
    const siblings = (t.host.list(pf ?? '') ?? []).filter((n) => /^virtfn\d+$/.test(n)).map((n) => t.canonical(`${pf}/${n}`))
      .filter((d): d is string => d !== null && d !== parentDir);
    const idle = siblings.find((d) => typeDirs(k, d).every((td) => (t.host.list(`${td}/devices`) ?? []).length === 0));
    free = Object.fromEntries(typeDirs(k, idle ?? parentDir).map((d) => [nodePath.basename(d), idle ? t.int(`${d}/available_instances`) : 1]));
  }
  for (const d of typeDirs(k, parentDir)) t.rewrite(`${d}/available_instances`, `${free[nodePath.basename(d)] ?? 1}\n`);
  delete k.state.mdevVfFree?.[parentDir];
}

export function writeMdevRemove(k: Kern, dir: string, value: string): void {
  const n = kstrtoul(value);
  if (n === null) fail('EINVAL');
  if (n === 0) return;
  const t = k.tree;
  const uuid = nodePath.basename(dir);
  waitForRelease(k, [uuid]);
  const typeDir = t.canonical(`${dir}/mdev_type`);
  const groupLink = t.host.readLink(`${dir}/iommu_group`);
  const group = groupLink === null ? null : Number(nodePath.basename(groupLink));
  if (group !== null) {
    t.remove(simPaths.iommuGroup(group));
    t.remove(paths.devVfioGroup(group));
  }
  t.remove(`${paths.mdevDevices}/${uuid}`);
  t.remove(dir);
  if (typeDir !== null) {
    t.remove(`${typeDir}/devices/${uuid}`);
    const parentDir = nodePath.dirname(nodePath.dirname(typeDir));
    if (t.host.readLink(`${parentDir}/physfn`) !== null) freeVfParent(k, parentDir);
    else t.rewrite(`${typeDir}/available_instances`, `${t.int(`${typeDir}/available_instances`) + 1}\n`);
  }
}

/** What a parent's driver registers (mdev_register_parent), kept while the driver is unbound. */
export interface MdevParentRecord {
  driver: string;
  types: Record<string, { files: Record<string, string>; total: number }>;
}

/**
 * The parent's driver goes (unbind, rmmod): mdev_unregister_parent removes every mediated device
 * of the parent (waiting for those a VM holds) and the types; they come back with the driver.
 */
export function mdevParentUnbound(k: Kern, addr: string, parentDir: string, driver: string): void {
  const t = k.tree;
  const typesDir = `${parentDir}/mdev_supported_types`;
  const ids = t.host.list(typesDir);
  if (ids === null) return;
  const uuids = ids.flatMap((id) => t.host.list(`${typesDir}/${id}/devices`) ?? []);
  waitForRelease(k, uuids);
  // Removing the devices first gives every instance back; what is left is the full count.
  for (const uuid of uuids) writeMdevRemove(k, `${parentDir}/${uuid}`, '1');
  const record: MdevParentRecord = { driver, types: {} };
  for (const id of ids) {
    const dir = `${typesDir}/${id}`;
    const files: Record<string, string> = {};
    for (const f of ['name', 'device_api', 'description']) {
      const v = t.host.readText(`${dir}/${f}`);
      if (v !== null) files[f] = v;
    }
    record.types[id] = { files, total: t.int(`${dir}/available_instances`) };
  }
  t.remove(typesDir);
  t.remove(`${paths.mdevBus}/${addr}`);
  (k.state.mdevParents ??= {})[addr] = record;
}

/** The driver that registered the parent is bound again: its types are back, every instance free. */
export function mdevParentBound(k: Kern, addr: string, parentDir: string, driver: string): void {
  const record = k.state.mdevParents?.[addr];
  if (!record || record.driver !== driver) return;
  const t = k.tree;
  for (const [id, type] of Object.entries(record.types)) {
    const dir = `${parentDir}/mdev_supported_types/${id}`;
    for (const [f, v] of Object.entries(type.files)) t.put(`${dir}/${f}`, v, 0o444);
    t.put(`${dir}/available_instances`, `${type.total}\n`, 0o444);
    t.put(`${dir}/create`, '', 0o200);
  }
  t.link(`${paths.mdevBus}/${addr}`, parentDir);
  delete k.state.mdevParents![addr];
}
