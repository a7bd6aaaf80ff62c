// Proxmox VE cluster mappings (/cluster/mapping/pci, stored in /etc/pve/mapping/pci.cfg) for what
// this node has prepared. pve-guest-common Mapping/PCI.pm assert_valid compares every map line
// with sysfs at VM start: the id, subsystem-id and iommugroup of the line's own (first) device
// must all be there and equal, and the section's mdev flag must say whether the device offers
// vGPUs. Several map lines of one node are alternatives (a VM takes the first free), so one
// mapping per kind of device, named the same on every node, pools a cluster's alike devices.
import { renderMappingSections, pveshCreate, type MappingSection } from '../generate/proxmox.js';
import { shellQuote } from '../generate/quote.js';
import type { HostOffer, OfferedFunction } from './offer.js';

export interface ProxmoxMappings {
  sections: MappingSection[];
  commands: string[][];
  /** The pci.cfg sections. */
  mapping: string;
  /** A script of pvesh create commands. */
  script: string;
  warnings: string[];
}

const slotOf = (addr: string) => addr.slice(0, addr.lastIndexOf('.'));

function mapLine(node: string, path: string, f: OfferedFunction): string {
  const kv: [string, string][] = [['id', `${f.vendorId}:${f.deviceId}`], ['iommugroup', String(f.iommuGroup)], ['node', node], ['path', path]];
  if (f.subsystem) kv.push(['subsystem-id', f.subsystem]);
  return kv.map(([k, v]) => `${k}=${v}`).join(',');
}

export function proxmoxMappings(offer: HostOffer): ProxmoxMappings {
  const node = offer.node!;
  const warnings: string[] = [];
  const sections = new Map<string, MappingSection>();
  const add = (prefix: string, f: OfferedFunction, path: string, what: string) => {
    if (f.iommuGroup === null) {
      warnings.push(`proxmox: ${f.address} has no IOMMU group: a map line without iommugroup fails at VM start, so it is left out`);
      return;
    }
    const id = `${prefix}-${f.vendorId}-${f.deviceId}${f.mdevCapable ? '-mdev' : ''}`;
    const s = sections.get(id) ?? { id, map: [], description: `gpuvirt: ${what} ${f.name}`.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 4096), mdev: f.mdevCapable };
    s.map.push(mapLine(node, path, f));
    sections.set(id, s);
  };
  const gpuAddresses = new Set(offer.gpus.map((g) => g.address));
  for (const f of offer.vfio) {
    if (f.physfn !== null) add('vf', f, f.address, 'VF of');
    else if (gpuAddresses.has(f.address)) {
      // The whole slot when its other functions are on vfio-pci too (checked against function 0, as Proxmox does).
      const slot = slotOf(f.address);
      const whole = f.address.endsWith('.0') && offer.vfio.some((o) => o.address !== f.address && slotOf(o.address) === slot);
      add('gpu', f, whole ? slot : f.address, 'passthrough of');
    }
  }
  for (const f of offer.vendorVfio) add('vgpu', f, f.address, 'vGPU VF of');
  const parents = new Set(offer.mdevTypes.flatMap((t) => t.parents));
  for (const p of [...parents].sort()) {
    const f = offer.mdevParents.find((x) => x.address === p);
    if (f) add('mdev', f, p, 'mediated devices of');
  }
  const list = [...sections.values()];
  if (!list.length) warnings.push('proxmox: nothing on this host is prepared for VMs (no GPU on vfio-pci, no vGPU type set, no mediated device)');
  const commands = list.map(pveshCreate);
  const script = [
    '#!/bin/sh',
    `# Proxmox VE PCI mappings for node ${node}, written by gpuvirt host export --target proxmox-mappings.`,
    '# Run as root on one node of the cluster. A mapping that exists already (made from another node) keeps its',
    '# lines: add this node\'s with `pvesh set /cluster/mapping/pci/ID --map LINE --map LINE ...` listing every',
    '# node\'s lines, or merge the --artifact mapping sections into /etc/pve/mapping/pci.cfg.',
    'set -eu',
    ...commands.map((c) => c.map(shellQuote).join(' ')),
  ];
  return { sections: list, commands, mapping: renderMappingSections(list), script: `${script.join('\n')}\n`, warnings };
}
