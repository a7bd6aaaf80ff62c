// host export --target kubevirt | nova | proxmox-mappings over every fixture, each output checked
// by its consumer's rules: the KubeVirt CRD's schema, Nova's option formats, Proxmox's mapping
// parser and assert_valid against the fixture's sysfs. Then on hosts gpuvirt has just prepared.
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { FIXTURES, machine } from '../helpers/sim.js';
import { kubevirtConfigurationErrors } from '../helpers/k8s-schema.js';
import { assertValid, MAP_FMT, parsePropertyString, parseSectionConfig, sysfs } from '../generate/proxmox-rules.js';
import { configFile } from '../hostconfig/files.js';

const fixtures = readdirSync(FIXTURES).sort();
const exportOf = async (m: ReturnType<typeof machine>, target: string, ...more: string[]) => {
  const r = await m.run(['host', 'export', '--target', target, '--node', 'node-1', ...more, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return r.doc as { data: Record<string, any>; warnings: string[] };
};

/** The device's sysfs, read here independently of gpuvirt. */
function dev(root: string, addr: string) {
  const d = join(root, 'sys/bus/pci/devices', addr);
  const read = (a: string) => (existsSync(join(d, a)) ? readFileSync(join(d, a), 'utf8').trim() : null);
  const link = (a: string) => (existsSync(join(d, a)) ? readlinkSync(join(d, a)).split('/').pop()! : null);
  return { vendor: read('vendor')?.replace(/^0x/, ''), device: read('device')?.replace(/^0x/, ''), driver: link('driver'), vgpu: read('nvidia/current_vgpu_type') };
}

// ---- KubeVirt: what virt-handler's device manager would find for each permitted device ----

const QUALIFIED = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/**
 * pkg/virt-handler/device-manager: a PCI device whose lower-case vendor:device is a selector and
 * that is on vfio-pci, or an NVIDIA VF on nvidia whose current_vgpu_type is not 0; an mdev whose
 * type name (mdev_type/name, else the type's directory) with spaces as "_" is the selector's.
 */
function checkKubevirt(root: string, conf: Record<string, any>): void {
  const pciDir = join(root, 'sys/bus/pci/devices');
  for (const d of conf.permittedHostDevices.pciHostDevices ?? []) {
    expect(d.resourceName).toMatch(QUALIFIED);
    expect(d.pciVendorSelector).toMatch(/^[0-9A-F]{4}:[0-9A-F]{4}$/);
    const found = readdirSync(pciDir).filter((a) => {
      const x = dev(root, a);
      if (`${x.vendor}:${x.device}` !== d.pciVendorSelector.toLowerCase()) return false;
      const pf = existsSync(join(pciDir, a, 'sriov_totalvfs'));
      return x.driver === 'vfio-pci' || (x.driver === 'nvidia' && !pf && x.vgpu !== null && x.vgpu !== '0');
    });
    expect(found.length, `a device for ${d.pciVendorSelector}`).toBeGreaterThan(0);
  }
  const mdevDir = join(root, 'sys/bus/mdev/devices');
  const typeNames = (existsSync(mdevDir) ? readdirSync(mdevDir) : []).map((u) => {
    const name = join(mdevDir, u, 'mdev_type/name');
    return (existsSync(name) ? readFileSync(name, 'utf8') : readlinkSync(join(mdevDir, u, 'mdev_type')).split('/').pop()!).replace(/ /g, '_').trim();
  });
  for (const d of conf.permittedHostDevices.mediatedDevices ?? []) {
    expect(d.resourceName).toMatch(QUALIFIED);
    expect(typeNames).toContain(d.mdevNameSelector.replace(/ /g, '_'));
  }
}

// ---- Nova: oslo.config's INI, multi-valued options repeated ----

function parseIni(text: string): Map<string, [string, string][]> {
  const sections = new Map<string, [string, string][]>();
  let cur: [string, string][] | null = null;
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const h = /^\[([^\]]+)\]$/.exec(line);
    if (h) {
      expect(sections.has(h[1]!), `section [${h[1]}] twice`).toBe(false);
      sections.set(h[1]!, (cur = []));
      continue;
    }
    const kv = /^([a-z_]+) = (.+)$/.exec(line);
    expect(kv, `not an option line: ${line}`).not.toBeNull();
    expect(cur, `option outside a section: ${line}`).not.toBeNull();
    cur!.push([kv![1]!, kv![2]!]);
  }
  return sections;
}

const SPEC_KEYS = new Set(['vendor_id', 'product_id', 'address', 'managed', 'resource_class']);
const ALIAS_KEYS = new Set(['name', 'vendor_id', 'product_id', 'device_type', 'resource_class']);

function checkNova(root: string, text: string): void {
  const ini = parseIni(text);
  const specs = (ini.get('pci') ?? []).filter(([k]) => k === 'device_spec').map(([, v]) => JSON.parse(v) as Record<string, string>);
  const aliases = (ini.get('pci') ?? []).filter(([k]) => k === 'alias').map(([, v]) => JSON.parse(v) as Record<string, string>);
  for (const s of specs) {
    for (const k of Object.keys(s)) expect(SPEC_KEYS, `device_spec key ${k}`).toContain(k);
    expect(s.vendor_id).toMatch(/^[0-9a-f]{4}$/);
    expect(s.product_id).toMatch(/^[0-9a-f]{4}$/);
    const d = dev(root, s.address!);
    expect([d.vendor, d.device]).toEqual([s.vendor_id, s.product_id]);
    // managed: no promises Nova the operator has put the device on vfio-pci or a variant driver.
    expect(s.managed).toBe('no');
    expect(d.driver === 'vfio-pci' || (d.driver === 'nvidia' && d.vgpu !== null && d.vgpu !== '0'), `${s.address} on ${d.driver}`).toBe(true);
    if (s.resource_class) expect(s.resource_class).toMatch(/^CUSTOM_[A-Z0-9_]+$/);
  }
  for (const a of aliases) {
    for (const k of Object.keys(a)) expect(ALIAS_KEYS, `alias key ${k}`).toContain(k);
    expect(['type-PCI', 'type-PF', 'type-VF']).toContain(a.device_type);
    // Nova: vendor_id and product_id, or resource_class; and some device_spec gives what it asks.
    expect(Boolean(a.resource_class) || Boolean(a.vendor_id && a.product_id)).toBe(true);
    expect(specs.some((s) => (a.resource_class ? s.resource_class === a.resource_class : s.vendor_id === a.vendor_id && s.product_id === a.product_id))).toBe(true);
  }
  const types = ini.get('devices')?.find(([k]) => k === 'enabled_mdev_types')?.[1].split(',').map((t) => t.trim()) ?? [];
  const seen = new Set<string>();
  for (const t of types) {
    const addrs = ini.get(`mdev_${t}`)?.find(([k]) => k === 'device_addresses')?.[1].split(',') ?? [];
    expect(addrs.length, `[mdev_${t}] device_addresses`).toBeGreaterThan(0);
    for (const a of addrs) {
      expect(existsSync(join(root, 'sys/class/mdev_bus', a, 'mdev_supported_types', t)), `${a} offers ${t}`).toBe(true);
      expect(seen.has(a), `${a} in two types (InvalidLibvirtMdevConfig)`).toBe(false);
      seen.add(a);
    }
  }
}

// ---- Proxmox: pvesh's property strings, pci.cfg's SectionConfig, assert_valid at VM start ----

function checkProxmox(root: string, data: Record<string, any>): void {
  const { ids, warnings } = parseSectionConfig(data.proxmox.mapping);
  expect(warnings).toEqual([]);
  expect(Object.keys(ids).sort()).toEqual(data.proxmox.sections.map((s: { id: string }) => s.id).sort());
  const host = sysfs(root);
  for (const cfg of Object.values(ids)) {
    for (const line of cfg.map) {
      const m = parsePropertyString(MAP_FMT, line);
      expect(m.node).toBe('node-1');
      expect(() => assertValid(cfg.id, m, cfg, host)).not.toThrow();
    }
  }
  for (const c of data.proxmox.commands as string[][]) {
    expect(c.slice(0, 3)).toEqual(['pvesh', 'create', '/cluster/mapping/pci']);
    c.forEach((arg, i) => c[i - 1] === '--map' && parsePropertyString(MAP_FMT, arg));
  }
}

describe('host export targets on every fixture', () => {
  it.each(fixtures)('%s: KubeVirt fragment fits the CRD, Nova options and Proxmox mappings pass their checks', async (name) => {
    const m = machine(name);
    const k = await exportOf(m, 'kubevirt');
    expect(kubevirtConfigurationErrors(k.data.kubevirt)).toEqual([]);
    expect(parse(k.data.text)).toEqual({ spec: { configuration: k.data.kubevirt } });
    checkKubevirt(m.root, k.data.kubevirt);
    checkNova(m.root, (await exportOf(m, 'nova')).data.text);
    checkProxmox(m.root, (await exportOf(m, 'proxmox-mappings')).data);
  });
});

describe('what each fixture has prepared', () => {
  it('NVIDIA VFs with a vGPU type (kernel >= 6.8): one KubeVirt resource, Nova resource classes, a Proxmox mdev pool', async () => {
    const m = machine('nvidia-l40s-vfio');
    const k = await exportOf(m, 'kubevirt');
    expect(k.data.kubevirt.permittedHostDevices.pciHostDevices).toEqual([{ pciVendorSelector: '10DE:26B9', resourceName: 'nvidia.com/Device_26b9', externalResourceProvider: false }]);
    const n = await exportOf(m, 'nova');
    expect(n.data.nova.deviceSpecs.map((d: { address: string }) => d.address)).toEqual(['0000:41:00.4', '0000:41:00.5']);
    expect(n.data.nova.aliases).toEqual([{ name: 'NVIDIA_L40S-8Q', device_type: 'type-VF', resource_class: 'CUSTOM_NVIDIA_L40S_8Q' }]);
    const p = await exportOf(m, 'proxmox-mappings', '--artifact', 'mapping');
    expect(p.data.text).toBe(p.data.proxmox.mapping);
    expect(p.data.proxmox.sections).toEqual([expect.objectContaining({ id: 'vgpu-10de-26b9-mdev', mdev: true, map: [expect.stringContaining('path=0000:41:00.4'), expect.stringContaining('path=0000:41:00.5')] })]);
  });

  it('an mdev vGPU: KubeVirt permits its type name and keeps the type on this node; Nova enables the type on its parent', async () => {
    const m = machine('nvidia-t4-mdev');
    const k = await exportOf(m, 'kubevirt');
    expect(k.data.kubevirt).toEqual({
      permittedHostDevices: { mediatedDevices: [{ mdevNameSelector: 'GRID T4-1Q', resourceName: 'nvidia.com/GRID_T4-1Q' }] },
      mediatedDevicesConfiguration: { nodeMediatedDeviceTypes: [{ nodeSelector: { 'kubernetes.io/hostname': 'node-1' }, mediatedDeviceTypes: ['nvidia-222'] }] },
    });
    expect((await exportOf(m, 'nova')).data.nova.mdevTypes).toEqual([{ type: 'nvidia-222', addresses: ['0000:41:00.0'] }]);
  });

  it('a GPU host apply has just put on vfio-pci, with its HDMI audio', async () => {
    const m = machine('intel-desktop-nvidia');
    const file = configFile('apiVersion: gpuvirt/v1\nkind: HostConfig\nconfigs:\n  vm:\n    devices:\n      - select: { id: "10de:2204" }\n        driver: vfio-pci\n      - select: { address: "0000:01:00.1" }\n        driver: vfio-pci\n');
    const before = await exportOf(m, 'kubevirt');
    expect(before.data.kubevirt.permittedHostDevices).toEqual({});
    expect(before.warnings).toContain('kubevirt: nothing on this host is prepared for VMs (no GPU on vfio-pci, no vGPU type set, no mediated device)');
    expect((await m.run(['host', 'apply', '-f', file, '-c', 'vm', '--yes'])).code).toBe(0);
    const k = await exportOf(m, 'kubevirt');
    checkKubevirt(m.root, k.data.kubevirt);
    expect(k.data.kubevirt.permittedHostDevices.pciHostDevices).toEqual([
      { pciVendorSelector: '10DE:2204', resourceName: 'nvidia.com/GA102_GeForce_RTX_3090', externalResourceProvider: false },
      { pciVendorSelector: '10DE:1AEF', resourceName: 'nvidia.com/GA102_High_Definition_Audio_Controller', externalResourceProvider: false },
    ]);
    const n = await exportOf(m, 'nova');
    expect(n.data.nova.deviceSpecs).toEqual([
      { vendor_id: '10de', product_id: '2204', address: '0000:01:00.0', managed: 'no' },
      { vendor_id: '10de', product_id: '1aef', address: '0000:01:00.1', managed: 'no' },
    ]);
    checkNova(m.root, n.data.text);
    const p = await exportOf(m, 'proxmox-mappings');
    // The whole slot, checked against function 0's ids, as Proxmox does for a path without a function.
    expect(p.data.proxmox.sections.map((s: { map: string[] }) => s.map)).toEqual([[expect.stringMatching(/^id=10de:2204,iommugroup=\d+,node=node-1,path=0000:01:00,subsystem-id=[0-9a-f]{4}:[0-9a-f]{4}$/)]]);
    checkProxmox(m.root, p.data);
    expect(p.data.text).toMatch(/^#!\/bin\/sh\n[\s\S]*\npvesh create \/cluster\/mapping\/pci --id gpu-10de-2204 --map /m);
  });

  it('Intel SR-IOV VFs on vfio-pci: one pool of VFs', async () => {
    const m = machine('intel-adl-i915-sriov');
    const p = await exportOf(m, 'proxmox-mappings');
    expect(p.data.proxmox.sections).toHaveLength(1);
    expect(p.data.proxmox.sections[0].map).toHaveLength(7);
    const n = await exportOf(m, 'nova');
    expect(n.data.nova.aliases).toEqual([{ name: 'AlderLake-S_GT1_VF', vendor_id: '8086', product_id: '4680', device_type: 'type-VF' }]);
  });
});

describe('host export: bad input', () => {
  it.each([
    [['--target', 'vmware'], '--target vmware: must be config, kubevirt, nova, proxmox-mappings'],
    [['--target', 'nova', '--artifact', 'mapping'], '--artifact is for --target proxmox-mappings'],
    [['--target', 'kubevirt', '--node', 'a b'], '--node "a b": a node name is letters, digits, "-" and ".", at most 63'],
  ])('%j: one line, exit 2', async (args, message) => {
    const r = await machine('qemu-intel').run(['host', 'export', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it('generate --target kubevirt|nova points to host export', async () => {
    for (const t of ['kubevirt', 'nova', 'proxmox-mappings']) {
      const r = await machine('qemu-intel').run(['generate', 'any.yaml', '--target', t]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--target ${t} describes a host, not a profile's VM: gpuvirt host export --target ${t}`);
    }
  });

  it('a Proxmox map line needs the node: without a hostname under the root, --node is asked for', async () => {
    const r = await machine('nvidia-t4-mdev').run(['host', 'export', '--target', 'proxmox-mappings']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('give --node');
  });
});

describe('the schema check itself', () => {
  it('finds an unknown field, a missing required one and a wrong type', () => {
    expect(kubevirtConfigurationErrors({ permittedHostDevices: { pciHostDevices: [{ pciVendorSelector: '10DE:2204', resourcename: 'x' }] } })).toEqual([
      'spec.configuration.permittedHostDevices.pciHostDevices[0].resourceName: required',
      'spec.configuration.permittedHostDevices.pciHostDevices[0].resourcename: unknown field',
    ]);
    expect(kubevirtConfigurationErrors({ mediatedDevicesConfiguration: { nodeMediatedDeviceTypes: [{ nodeSelector: { a: 1 }, mediatedDeviceTypes: 'x' }] } })).toEqual([
      'spec.configuration.mediatedDevicesConfiguration.nodeMediatedDeviceTypes[0].nodeSelector.a: not a string',
      'spec.configuration.mediatedDevicesConfiguration.nodeMediatedDeviceTypes[0].mediatedDeviceTypes: not an array',
    ]);
  });
});
