// `host export`: the host's current state as a host config, written so that `host assert` on
// the same host passes. Every PCI address is written quoted (PyYAML would read 0000:01:00.0 as a
// number), and names go in comments only.
import type { Host } from '../host/host.js';
import { listAddresses, readFunction } from '../detect/pci.js';
import { iommuActive } from '../doctor/checks.js';
import { gatherFacts } from '../doctor/facts.js';
import { formatParam, normalizeKey } from '../detect/cmdline.js';
import { vfioLoadedAtBoot } from '../setup/modules.js';
import type { PciNames } from '../pci/names.js';
import { readDevice } from './state.js';
import { API_VERSION, KIND } from './schema.js';
import { needsDeviceSpecific } from '../reset/judge.js';
import { RESET_RULE, ruleAddresses } from '../reset/change.js';
import { readVgpuDevices } from '../sharing/vgpu.js';

const PASSTHROUGH = new Set(['vfio-pci', 'pci-stub']);
const q = (s: string) => JSON.stringify(s);

export function exportHostConfig(host: Host, names: PciNames, configName: string): string {
  const facts = gatherFacts(host);
  const devices: string[] = [];
  // vendor-reset's method counts as configured when it is selected now and the rule selects it at boot.
  const atBoot = ruleAddresses(host.readText(RESET_RULE));
  const vgpus = readVgpuDevices(host);
  /** The GPU's vGPUs (on its VFs, or its mediated devices) per type id, the name in a comment. */
  const vgpuLines = (addr: string): string[] => {
    const gpu = vgpus.find((g) => g.address === addr);
    const held = new Map<string, { name: string | null; count: number }>();
    const count = (id: string | null, name: string | null) => { if (id) held.set(id, { name, count: (held.get(id)?.count ?? 0) + 1 }); };
    for (const vf of gpu?.vfs ?? []) count(vf.current, vf.currentName);
    for (const i of gpu?.instances ?? []) count(i.type, i.typeName);
    // An mdev type id is text (nvidia-222): quoted; a vendor VFIO type id is a number.
    return held.size ? ['        vgpu:', ...[...held].map(([id, h]) => `          - { type: ${/^\d+$/.test(id) ? id : q(id)}, count: ${h.count} }${h.name ? `   # ${h.name.replace(/[\u0000-\u001f\u007f]/g, ' ')}` : ''}`)] : [];
  };
  for (const addr of listAddresses(host)) {
    const fn = readFunction(host, addr);
    if (fn.physfn !== null) continue;
    const d = readDevice(host, names, fn);
    const comment = `      # ${d.name.replace(/[\u0000-\u001f\u007f]/g, ' ')} [${d.vendorId}:${d.deviceId}]`;
    const reset = d.resetMethods.join(' ') === 'device_specific' && needsDeviceSpecific(fn) && atBoot.includes(addr) ? ['        resetMethod: device_specific'] : [];
    if (d.driver && PASSTHROUGH.has(d.driver)) {
      devices.push(comment, `      - select: { address: ${q(addr)} }`, `        driver: ${d.driver}`, ...reset);
    } else if (reset.length) {
      devices.push(comment, `      - select: { address: ${q(addr)} }`, ...reset);
    } else if (d.sriov && d.sriov.numVfs > 0) {
      const onVfio = d.sriov.vfs.length > 0 && d.sriov.vfs.every((v) => v.driver === 'vfio-pci');
      devices.push(comment, `      - select: { address: ${q(addr)} }`, `        sriov: { vfs: ${d.sriov.numVfs}${onVfio ? ', vfDriver: vfio-pci' : ''} }`);
      devices.push(...vgpuLines(addr));
      // VFs passed through one by one are named by address (they exist once the count above is set).
      for (const vf of onVfio ? [] : d.sriov.vfs) {
        if (vf.driver && PASSTHROUGH.has(vf.driver)) devices.push(`      - select: { address: ${q(vf.address)} }   # VF of ${addr}`, `        driver: ${vf.driver}`);
      }
    } else if (vgpuLines(addr).length) {
      devices.push(comment, `      - select: { address: ${q(addr)} }`, ...vgpuLines(addr));
    }
  }
  // Kernel parameters the IOMMU setting leaves open (iommu=pt) are kept as they are configured.
  const params = (facts.configuredParams ?? []).filter((p) => normalizeKey(p.key) === 'iommu' && p.value !== 'off').map(formatParam);
  const lines = [
    `# Exported by gpuvirt host export${facts.kernel ? ` on kernel ${facts.kernel}` : ''}.`,
    `apiVersion: ${API_VERSION}`,
    `kind: ${KIND}`,
    'configs:',
    `  ${q(configName)}:`,
    '    host:',
    `      iommu: ${iommuActive(facts)}`,
    `      vfioModules: ${vfioLoadedAtBoot(host)}`,
    ...(params.length ? [`      kernelParams: [${params.map(q).join(', ')}]`] : []),
    `    devices:${devices.length ? '' : ' []'}`,
    ...devices,
  ];
  return `${lines.join('\n')}\n`;
}
