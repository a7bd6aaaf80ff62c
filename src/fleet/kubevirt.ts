// KubeVirt: the part of the KubeVirt CR's spec.configuration that lets VMs on this node use what
// it has prepared (kubevirt/user-guide docs/compute/host-devices.md and
// mediated_devices_configuration.md; kubevirt pkg/virt-handler/device-manager):
// - pciHostDevices: virt-handler offers every device whose lower-case `vendor:device` equals a
//   pciVendorSelector and that is on vfio-pci, or is an NVIDIA VF on nvidia with a vGPU type set
//   (current_vgpu_type not 0), as the resource resourceName. KubeVirt binds nothing itself.
// - mediatedDevices: every existing mdev whose type name (mdev_type/name, spaces as "_"; the type
//   directory's name when there is no name file) equals mdevNameSelector (spaces as "_").
// - mediatedDevicesConfiguration.nodeMediatedDeviceTypes: the mdev types virt-handler keeps on
//   the nodes a nodeSelector picks (it creates and removes mdevs to match).
import { stringify } from 'yaml';
import type { HostOffer, OfferedFunction } from './offer.js';
import { toLabelName, vendorDomain } from './names.js';

export interface PciHostDevice {
  pciVendorSelector: string;
  resourceName: string;
  externalResourceProvider: boolean;
}

export interface MediatedHostDevice {
  mdevNameSelector: string;
  resourceName: string;
}

export interface KubevirtConfiguration {
  permittedHostDevices: { pciHostDevices?: PciHostDevice[]; mediatedDevices?: MediatedHostDevice[] };
  mediatedDevicesConfiguration?: { nodeMediatedDeviceTypes: { nodeSelector: Record<string, string>; mediatedDeviceTypes: string[] }[] };
}

export interface KubevirtOutput {
  configuration: KubevirtConfiguration;
  warnings: string[];
}

/** `vendor.com/Name_Of_Device`: the device's name from pci.ids, as a resource name's name part. */
function resourceName(vendorId: string, name: string, fallback: string): string {
  // pci.ids names a device "<vendor> <chip> [<product>]"; the vendor is already the domain.
  const bare = name.replace(/^(NVIDIA Corporation|Advanced Micro Devices, Inc\. \[AMD\/ATI\]|Intel Corporation)\s+/, '');
  return `${vendorDomain(vendorId)}/${toLabelName(bare) ?? fallback}`;
}

export function kubevirtConfiguration(offer: HostOffer): KubevirtOutput {
  const warnings: string[] = [];
  const pci = new Map<string, PciHostDevice>();
  const names = new Set<string>();
  const add = (f: OfferedFunction) => {
    const selector = `${f.vendorId}:${f.deviceId}`.toUpperCase();
    if (pci.has(selector)) return;
    let name = resourceName(f.vendorId, f.name, `${f.vendorId}_${f.deviceId}`);
    // Two devices pci.ids names alike (a PF and its VFs) still need two resources.
    if (names.has(name)) name = `${name}_${f.deviceId}`;
    names.add(name);
    pci.set(selector, { pciVendorSelector: selector, resourceName: name, externalResourceProvider: false });
  };
  offer.vfio.forEach(add);
  offer.vendorVfio.forEach(add);
  // One selector is one resource: VFs with different vGPU types would be handed out alike.
  const typesById = new Map<string, Set<string>>();
  for (const vf of offer.vendorVfio) {
    const key = `${vf.vendorId}:${vf.deviceId}`;
    typesById.set(key, (typesById.get(key) ?? new Set()).add(vf.vgpu!.name ?? vf.vgpu!.id));
  }
  for (const [id, types] of typesById) {
    if (types.size > 1) warnings.push(`kubevirt: the VFs ${id} carry different vGPU types (${[...types].join(', ')}): KubeVirt offers them as one resource, so a VM may get any of them`);
  }
  const mdevs = offer.mdevTypes.map((t) => {
    const selector = t.name ?? t.id;
    return { mdevNameSelector: selector, resourceName: `${vendorDomain(t.vendorId)}/${toLabelName(selector) ?? t.id}` };
  });
  const permitted: KubevirtConfiguration['permittedHostDevices'] = {};
  if (pci.size) permitted.pciHostDevices = [...pci.values()];
  if (mdevs.length) permitted.mediatedDevices = mdevs;
  const configuration: KubevirtConfiguration = { permittedHostDevices: permitted };
  if (offer.mdevTypes.length) {
    if (!offer.node) warnings.push('kubevirt: no node name (--node): nodeMediatedDeviceTypes is left out');
    else configuration.mediatedDevicesConfiguration = { nodeMediatedDeviceTypes: [{ nodeSelector: { 'kubernetes.io/hostname': offer.node }, mediatedDeviceTypes: offer.mdevTypes.map((t) => t.id) }] };
  }
  if (!pci.size && !mdevs.length) warnings.push('kubevirt: nothing on this host is prepared for VMs (no GPU on vfio-pci, no vGPU type set, no mediated device)');
  return { configuration, warnings };
}

/** The fragment as YAML text, to merge into the KubeVirt CR. */
export function renderKubevirt(out: KubevirtOutput, node: string | null): string {
  const head = [
    `# KubeVirt CR fragment for what ${node ? `node ${node}` : 'this node'} has prepared, written by gpuvirt host export --target kubevirt.`,
    '# Merge it into the KubeVirt CR (kubectl edit kubevirt -n kubevirt): lists from every node go together.',
    '# VMs ask for a resource with spec.domain.devices.gpus or hostDevices: [{name: ..., deviceName: <resourceName>}].',
  ];
  // Every string quoted: YAML 1.1 readers take some unquoted PCI ids and addresses for numbers.
  return `${head.join('\n')}\n${stringify({ spec: { configuration: out.configuration } }, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' })}`;
}
