// OpenStack Nova (nova.conf of this node's nova-compute) for what this host has prepared
// (openstack/nova nova/conf/pci.py, nova/conf/devices.py, doc/source/admin/pci-passthrough.rst):
// - [pci] device_spec (repeated, one JSON object each): vendor_id, product_id, address, and
//   "managed": "no" (the operator has bound the device to vfio-pci or a variant driver; Nova
//   then asks libvirt neither to detach nor to re-attach it; a tag since Nova 31.0.0, 2025.1);
// - [pci] alias (repeated): name, device_type (type-PCI, type-PF for a device that can make VFs
//   passed whole, type-VF), and vendor_id/product_id or a resource_class;
// - [devices] enabled_mdev_types, and per type a [mdev_<type>] section whose device_addresses
//   are the parents (GPUs or VFs) of that type; one address belongs to one type only.
import type { HostOffer, OfferedFunction } from './offer.js';
import { toLabelName } from './names.js';

export interface NovaOutput {
  deviceSpecs: Record<string, string>[];
  aliases: Record<string, string>[];
  mdevTypes: { type: string; addresses: string[] }[];
  text: string;
  warnings: string[];
}

/** Nova's own normalisation of a resource class: upper case, other characters "_", CUSTOM_ first. */
export const resourceClass = (name: string): string => `CUSTOM_${name.toUpperCase().replace(/[^A-Z0-9_]+/g, '_').replace(/^_+|_+$/g, '')}`.slice(0, 255);


function deviceType(f: OfferedFunction, offer: HostOffer): string {
  if (f.physfn !== null) return 'type-VF';
  return (offer.gpus.find((g) => g.address === f.address)?.sriov?.totalVfs ?? 0) > 0 ? 'type-PF' : 'type-PCI';
}

const aliasName = (f: OfferedFunction) => toLabelName(f.name.replace(/^(NVIDIA Corporation|Advanced Micro Devices, Inc\. \[AMD\/ATI\]|Intel Corporation)\s+/, '')) ?? `${f.vendorId}_${f.deviceId}`;

/** One line of JSON with a space after each separator, as Nova's documentation writes them. */
const json = (o: Record<string, string>) => `{ ${Object.entries(o).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')} }`;

export function novaConfig(offer: HostOffer): NovaOutput {
  const warnings: string[] = [];
  const deviceSpecs: Record<string, string>[] = [];
  const aliases = new Map<string, Record<string, string>>();
  for (const f of offer.vfio) {
    deviceSpecs.push({ vendor_id: f.vendorId, product_id: f.deviceId, address: f.address, managed: 'no' });
    const type = deviceType(f, offer);
    const key = `${f.vendorId}:${f.deviceId}:${type}`;
    if (!aliases.has(key)) aliases.set(key, { name: `${aliasName(f)}${type === 'type-VF' && f.physfn ? '_VF' : ''}`, vendor_id: f.vendorId, product_id: f.deviceId, device_type: type });
  }
  // Every VF of one PF has the same ids whatever its vGPU type: a resource class per type tells them apart.
  for (const f of offer.vendorVfio) {
    const typeName = f.vgpu!.name ?? `nvidia-${f.vgpu!.id}`;
    const rc = resourceClass(typeName);
    deviceSpecs.push({ vendor_id: f.vendorId, product_id: f.deviceId, address: f.address, resource_class: rc, managed: 'no' });
    if (!aliases.has(rc)) aliases.set(rc, { name: toLabelName(typeName) ?? rc, device_type: 'type-VF', resource_class: rc });
  }
  const taken = new Map<string, string>();
  const mdevTypes: NovaOutput['mdevTypes'] = [];
  for (const t of offer.mdevTypes) {
    const addresses = t.parents.filter((p) => {
      const other = taken.get(p);
      if (other) warnings.push(`nova: ${p} has mediated devices of ${other} and ${t.id}: Nova takes one type per device, so it is listed for ${other} only`);
      return !other;
    });
    addresses.forEach((p) => taken.set(p, t.id));
    if (addresses.length) mdevTypes.push({ type: t.id, addresses });
  }
  if (!deviceSpecs.length && !mdevTypes.length) warnings.push('nova: nothing on this host is prepared for VMs (no GPU on vfio-pci, no vGPU type set, no mediated device)');
  const lines = [`# nova.conf of nova-compute${offer.node ? ` on ${offer.node}` : ''}: what gpuvirt has prepared on this host (gpuvirt host export --target nova).`];
  if (deviceSpecs.length) {
    if (offer.vendorVfio.length) lines.push('# The vGPU VFs are told apart by resource class: that needs [pci] report_in_placement = True (which cannot be turned off again).');
    lines.push('# "managed": "no" needs Nova 2025.1 or later. alias also belongs in nova.conf of nova-api;', '# a flavor asks with --property "pci_passthrough:alias"="<name>:1".');
    lines.push('[pci]', ...deviceSpecs.map((d) => `device_spec = ${json(d)}`), ...[...aliases.values()].map((a) => `alias = ${json(a)}`));
  }
  if (mdevTypes.length) {
    lines.push('', '[devices]', `enabled_mdev_types = ${mdevTypes.map((m) => m.type).join(', ')}`);
    for (const m of mdevTypes) lines.push('', `[mdev_${m.type}]`, `device_addresses = ${m.addresses.join(',')}`);
  }
  return { deviceSpecs, aliases: [...aliases.values()], mdevTypes, text: `${lines.join('\n')}\n`, warnings };
}
