// Every fixture machine: its exported state asserts clean, and a config that wants every GPU on
// vfio-pci is either applied (then asserts clean, and a second apply changes nothing) or refused
// with the host untouched and assert still failing.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadHostConfigText } from '../../src/hostconfig/load.js';
import { FIXTURES, machine } from '../helpers/sim.js';
import { treeDiff, treeState } from '../helpers/tree-state.js';
import { configFile } from './files.js';

const ALL = configFile('apiVersion: gpuvirt/v1\nkind: HostConfig\nconfigs:\n  all:\n    devices:\n      - select: { all: true }\n        driver: vfio-pci\n');
const NAMES = readdirSync(FIXTURES).sort();
/** No GPU at all, no IOMMU (vfio-pci cannot take a device), or a GPU whose group holds the root disk. */
const REFUSED = ['container-no-iommu', 'iommu-off-cmdline', 'iommu-off-firmware', 'qemu-none', 'shared-with-boot-disk'];

describe.each(NAMES)('host config on %s', (name) => {
  it('export writes a valid config that asserts clean on the same machine', async () => {
    const m = machine(name);
    const r = await m.run(['host', 'export', '-c', 'this']);
    expect(r.code, r.stderr).toBe(0);
    expect(loadHostConfigText(r.stdout).problems).toEqual([]);
    const a = await m.run(['host', 'assert', '-f', configFile(r.stdout), '-c', 'this', '--json']);
    expect(a.code, JSON.stringify(a.doc.data.msg)).toBe(0);
  });

  it('every GPU on vfio-pci: applied and asserting clean, or refused with nothing changed', async () => {
    const m = machine(name);
    const before = treeState(m.root);
    const r = await m.run(['host', 'apply', '-f', ALL, '-c', 'all', '--yes', '--force', '--json']);
    expect(r.code === 0, `${name}: ${r.doc.data.msg}`).toBe(!REFUSED.includes(name));
    if (r.code === 0) {
      expect(r.doc.data.changed).toBe(true);
      expect((await m.run(['host', 'assert', '-f', ALL, '-c', 'all'])).code).toBe(0);
      expect((await m.run(['host', 'apply', '-f', ALL, '-c', 'all', '--yes', '--json'])).doc.data).toMatchObject({ changed: false, failed: false });
    } else {
      expect([5, 7], r.stdout).toContain(r.code);
      expect(r.doc.data).toMatchObject({ changed: false, failed: true, blocked: true });
      expect(treeDiff(before, treeState(m.root))).toEqual([]);
      expect((await m.run(['host', 'assert', '-f', ALL, '-c', 'all'])).code).toBe(1);
    }
  });
});
