// host labels: the Node Feature Discovery feature file, on every fixture. Each line is checked
// against Kubernetes' label rules and NFD's own (restated here from apimachinery's
// IsQualifiedName / IsValidLabelValue and NFD's validate.Label, independently of src/fleet).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toLabelName } from '../../src/fleet/names.js';
import { FIXTURES, machine } from '../helpers/sim.js';
import { configFile } from '../hostconfig/files.js';
import { treeDiff, treeState } from '../helpers/tree-state.js';

const FILE = 'etc/kubernetes/node-feature-discovery/features.d/gpuvirt';
const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** NFD's validate.Label for one features.d line (value "true" when none). */
function nfdLabelProblem(line: string): string | null {
  const eq = line.indexOf('=');
  const key = eq < 0 ? line : line.slice(0, eq);
  const value = eq < 0 ? 'true' : line.slice(eq + 1);
  const [ns, name, extra] = key.split('/');
  if (name === undefined || extra !== undefined) return 'not <namespace>/<name>';
  if (ns!.length > 253 || !DNS1123_SUBDOMAIN.test(ns!)) return 'prefix not a DNS subdomain';
  if ((ns === 'kubernetes.io' || ns!.endsWith('.kubernetes.io')) && !/(^|\.)feature\.node\.kubernetes\.io$/.test(ns!)) return 'namespace not allowed';
  if (name.length > 63 || !NAME.test(name)) return 'name part';
  if (value.length > 63 || (value !== '' && !NAME.test(value))) return 'value';
  return null;
}

function checkFeatureFile(text: string): Map<string, string> {
  expect(Buffer.byteLength(text)).toBeLessThanOrEqual(64 * 1024);
  const labels = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    expect(nfdLabelProblem(line), line).toBeNull();
    const [k, v] = line.split('=');
    expect(labels.has(k!), `${k} twice`).toBe(false);
    labels.set(k!, v!);
  }
  return labels;
}

describe('host labels --stdout on every fixture', () => {
  it.each(readdirSync(FIXTURES).sort())('%s: every line is a label NFD accepts; nothing is written', async (name) => {
    const m = machine(name);
    const before = treeState(m.root);
    const r = await m.run(['host', 'labels', '--stdout']);
    expect(r.code, r.stderr).toBe(0);
    const labels = checkFeatureFile(r.stdout);
    expect(labels.get('gpuvirt.io/iommu')).toMatch(/^(true|false)$/);
    expect(Number(labels.get('gpuvirt.io/gpus'))).toBeGreaterThanOrEqual(0);
    expect(treeDiff(before, treeState(m.root))).toEqual([]);
  });
});

describe('what the labels say', () => {
  it('an SR-IOV GPU with vGPU types, and the IOMMU on', async () => {
    const r = await machine('nvidia-l40s-vfio').run(['host', 'labels', '--stdout', '--json']);
    const labels = Object.fromEntries((r.doc as any).data.labels.map((l: { key: string; value: string }) => [l.key, l.value]));
    expect(labels).toMatchObject({
      'gpuvirt.io/iommu': 'true', 'gpuvirt.io/sriov': 'true', 'gpuvirt.io/vgpu': 'true',
      'gpuvirt.io/gpu.0000-41-00.0.id': '10de-26b9', 'gpuvirt.io/gpu.0000-41-00.0.sriov.totalvfs': '32', 'gpuvirt.io/gpu.0000-41-00.0.vgpu': 'vendor-vfio',
      'gpuvirt.io/vgpu.1152': 'NVIDIA_L40S-8Q',
    });
  });

  it('the IOMMU off, in another namespace', async () => {
    const r = await machine('iommu-off-cmdline').run(['host', 'labels', '--stdout', '--namespace', 'gpu.example.com']);
    expect(r.stdout).toContain('\ngpu.example.com/iommu=false\n');
    expect(r.stdout).not.toContain('gpuvirt.io/');
  });

  it('the host config and whether the host is in it: false before host apply, true after', async () => {
    const m = machine('intel-desktop-nvidia');
    const file = configFile('apiVersion: gpuvirt/v1\nkind: HostConfig\nconfigs:\n  vm_gpu:\n    devices:\n      - select: { id: "10de:2204" }\n        driver: vfio-pci\n');
    const before = await m.run(['host', 'labels', '-f', file, '-c', 'vm_gpu', '--stdout']);
    expect(before.stdout).toContain('\ngpuvirt.io/host-config=vm_gpu\ngpuvirt.io/host-config.asserted=false\n');
    expect((await m.run(['host', 'apply', '-f', file, '-c', 'vm_gpu', '--yes'])).code).toBe(0);
    const after = await m.run(['host', 'labels', '-f', file, '-c', 'vm_gpu', '--stdout']);
    expect(after.stdout).toContain('\ngpuvirt.io/host-config.asserted=true\n');
    expect(after.stdout).toContain('\ngpuvirt.io/gpu.0000-01-00.0.driver=vfio-pci\n');
  });
});

describe('host labels writes through the change engine', () => {
  it('--dry-run writes nothing; --yes writes the file (0644) atomically; a second run changes nothing', async () => {
    const m = machine('nvidia-t4-mdev');
    const dry = await m.run(['host', 'labels', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('Plan (dry run, nothing changed):');
    expect(() => statSync(join(m.root, FILE))).toThrow();
    const r = await m.run(['host', 'labels', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(join(m.root, FILE), 'utf8');
    expect(text).toBe((r.doc as any).data.text);
    expect(statSync(join(m.root, FILE)).mode & 0o777).toBe(0o644);
    checkFeatureFile(text);
    // NFD ignores dotfiles: the temporary file beside it is one, and none is left.
    expect(readdirSync(join(m.root, FILE, '..'))).toEqual(['gpuvirt']);
    const again = await m.run(['host', 'labels', '--yes', '--json']);
    expect((again.doc as any).data.noop).toBe(true);
  });

  it('--out chooses the file', async () => {
    const m = machine('qemu-intel');
    expect((await m.run(['host', 'labels', '--yes', '--out', '/srv/nfd/features.d/gpu'])).code).toBe(0);
    checkFeatureFile(readFileSync(join(m.root, 'srv/nfd/features.d/gpu'), 'utf8'));
  });

  it.each([
    [['--namespace', 'kubernetes.io'], 'Node Feature Discovery refuses kubernetes.io namespaces'],
    [['--namespace', 'Not_A_Domain'], 'is not a DNS subdomain'],
    [['--out', 'relative/file'], 'an absolute file path'],
    [['--out', '/etc/kubernetes/node-feature-discovery/features.d/.hidden'], 'ignores files whose name starts with "."'],
    [['-c', 'x'], '-f and -c go together'],
  ])('%j: one line, exit 2, nothing written', async (args, message) => {
    const m = machine('qemu-intel');
    const r = await m.run(['host', 'labels', '--yes', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(() => statSync(join(m.root, FILE))).toThrow();
  });
});

describe('toLabelName', () => {
  it('makes a valid label name or value of any text, or nothing', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
      const n = toLabelName(s);
      return n === null || (n.length <= 63 && NAME.test(n));
    }));
    expect(toLabelName('GRID T4-1Q')).toBe('GRID_T4-1Q');
    expect(toLabelName('  [..]  ')).toBeNull();
  });
});
