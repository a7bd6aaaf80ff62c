// Property tests over random profiles (fast-check): validation never throws and always
// places its errors; every profile it accepts generates libvirt XML that libvirt's schema
// accepts. The XML of all runs is validated in one xmllint batch at the end, so the suite
// stays fast.
import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { generateLibvirt } from '../../src/generate/libvirt.js';
import { generateProxmox } from '../../src/generate/proxmox.js';
import { generateQemu } from '../../src/generate/qemu.js';
import { loadProfileText } from '../../src/profiles/load.js';
import { resolveProfile } from '../../src/profiles/resolve.js';
import { checkConfKey, HOSTPCI_FMT, parsePropertyString, parseSectionConfig } from './proxmox-rules.js';
import { inCI, libvirtTools, missing, validateDomainsBatch } from './tools.js';

const hex2 = (n: number) => n.toString(16).padStart(2, '0');
const address = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 31 }), fc.boolean())
  .map(([b, d, short]) => `${short ? '' : '0000:'}${hex2(b)}:${hex2(d)}.0`);
const text = fc.string({ unit: 'grapheme', maxLength: 24 });
const path = text.map((t) => `/var/lib/${t}`);

const gpu = fc.record({
  type: fc.constant('gpu'),
  select: fc.record({ address }),
  functions: fc.constantFrom<number[] | 'all'>([0], [0, 1], [0, 1, 2, 3], 'all', [1]),
  primary: fc.boolean(),
  xVga: fc.option(fc.boolean(), { nil: undefined }),
  pcie: fc.option(fc.boolean(), { nil: undefined }),
  rom: fc.option(fc.record({ file: fc.option(path, { nil: undefined }), bar: fc.boolean() }), { nil: undefined }),
}, { requiredKeys: ['type', 'select', 'functions'] });
const vf = fc.record({ type: fc.constant('vf'), pf: fc.record({ address }), vf: fc.integer({ min: 0, max: 4 }), vfCount: fc.constant(4), address });
const mdev = fc.record({
  type: fc.constant('mdev'), parent: fc.record({ address }), mdevType: fc.constantFrom('i915-GVTg_V5_4', 'nvidia-222', 'bad/type'),
  uuid: fc.option(fc.uuid(), { nil: undefined }), display: fc.boolean(),
}, { requiredKeys: ['type', 'parent', 'mdevType'] });

const profile = fc.record({
  apiVersion: fc.constantFrom('gpuvirt/v1', 'gpuvirt/v1', 'gpuvirt/v0'),
  name: text,
  description: fc.option(text, { nil: undefined }),
  machine: fc.constantFrom('q35', 'i440fx'),
  firmware: fc.constantFrom('uefi', 'bios'),
  memory: fc.constantFrom<string | number>('2GiB', 4096, '513MiB', '1GiB'),
  cpu: fc.record({ sockets: fc.integer({ min: 1, max: 2 }), cores: fc.integer({ min: 1, max: 4 }), threads: fc.integer({ min: 1, max: 2 }) }),
  hugepages: fc.constantFrom<boolean | string>(false, true, '2M', '1G'),
  display: fc.record({ fallback: fc.constantFrom('none', 'virtio-gpu', 'virgl', 'venus'), backend: fc.constantFrom('none', 'vnc', 'spice') }, { requiredKeys: [] }),
  os: fc.constantFrom('linux', 'windows11', 'windows10', 'other'),
  tpm: fc.option(fc.boolean(), { nil: undefined }),
  secureBoot: fc.option(fc.boolean(), { nil: undefined }),
  mmio64: fc.option(fc.constantFrom('64GiB', '32768MiB'), { nil: undefined }),
  disks: fc.array(fc.record({ size: fc.constantFrom('32GiB', '100MiB'), path: path, bus: fc.constantFrom('scsi', 'virtio', 'sata') }, { requiredKeys: ['size'] }), { maxLength: 2 }),
  nics: fc.array(fc.record({ model: fc.constantFrom('virtio', 'e1000e'), bridge: fc.constantFrom('br0', 'vmbr1') }, { requiredKeys: [] }), { maxLength: 2 }),
  lookingGlass: fc.option(fc.record({ size: fc.constantFrom('32MiB', '64MiB'), device: fc.constantFrom('shm', 'kvmfr') }, { requiredKeys: [] }), { nil: undefined }),
  devices: fc.array(fc.oneof(gpu, vf, mdev), { maxLength: 4 }),
  targets: fc.record({ libvirt: fc.record({ domainName: text }, { requiredKeys: [] }), proxmox: fc.record({ vmid: fc.integer({ min: 100, max: 999 }) }) }, { requiredKeys: [] }),
}, { requiredKeys: ['apiVersion', 'name', 'memory', 'cpu'] });

describe('random profiles', () => {
  it('validate never throws, and every error has a line and column', async () => {
    const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.jsonValue().map((v) => stringify(v)), profile.map((p) => stringify(p)));
    await fc.assert(fc.asyncProperty(anyText, async (src) => {
      const r = await loadProfileText(src);
      for (const p of r.problems) {
        expect(p.line).toBeGreaterThanOrEqual(1);
        expect(p.col).toBeGreaterThanOrEqual(1);
      }
      expect(r.profile === null).toBe(r.problems.some((p) => p.severity === 'error'));
    }), { numRuns: 150 });
  });

  it('every profile that passes generates schema-valid libvirt XML (and QEMU and Proxmox output)', async (ctx) => {
    const xmls: string[] = [];
    await fc.assert(fc.asyncProperty(profile, async (obj) => {
      const loaded = await loadProfileText(stringify(obj));
      if (!loaded.profile) return;
      const { devices, problems } = resolveProfile(loaded.profile, null, { needFunctions: true });
      if (problems.some((p) => p.severity === 'error')) return;
      xmls.push(generateLibvirt(loaded.profile, devices).xml);
      expect(generateQemu(loaded.profile, devices).argv[0]).toBe('qemu-system-x86_64');
      if (loaded.profile.targets.proxmox) {
        const px = generateProxmox(loaded.profile, devices);
        if (!px.problems.length) {
          for (const [k, v] of px.config) {
            expect(() => checkConfKey(k, v), `${k}: ${v}`).not.toThrow();
            if (k.startsWith('hostpci')) expect(() => parsePropertyString(HOSTPCI_FMT, v), v).not.toThrow();
          }
          expect(parseSectionConfig(px.artifacts.mapping).warnings).toEqual([]);
        }
      }
    }), { numRuns: 150 });
    expect(xmls.length).toBeGreaterThan(10);
    if (!libvirtTools && !inCI) ctx.skip(missing('virt-xml-validate', 'libvirt-clients libxml2-utils'));
    expect(libvirtTools, missing('virt-xml-validate', 'libvirt-clients libxml2-utils')).toBe(true);
    expect(validateDomainsBatch(xmls)).toEqual([]);
  });
});
