// `gpuvirt host apply|assert` against the real kernel: a host config with a passthrough GPU and
// an SR-IOV PF whose VFs go to vfio-pci is applied (through the readiness wait the boot unit
// uses), asserted, changed behind gpuvirt's back (the GPU rebound to its host driver, the VFs
// removed by a direct sriov_numvfs write), asserted again (exit 1 naming both), put back by the
// boot unit's own command line, and applied once more without any change.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { BOOT_DRIVERS, DEV } from '../../topology.js';
import type { Run } from '../commands.js';
import type { Scenario } from '../framework.js';
import { driverOf, exists, overrideOf, sriovOf, virtfns, waitFor, write } from '../sysfs.js';

const PCI = '/sys/bus/pci/devices';
const FILE = '/tmp/gpuvirt-hosts.yaml';
const CONFIG = `apiVersion: gpuvirt/v1
kind: HostConfig
configs:
  fleet:
    devices:
      - select: { address: "${DEV.gpu}" }
        driver: vfio-pci
      - select: { address: "${DEV.nvme}" }
        sriov: { vfs: 2, vfDriver: vfio-pci }
`;

interface HostData {
  changed: boolean;
  failed: boolean;
  msg: string;
  noop?: boolean;
  reboot_required: boolean;
  differences: { subject: string; field: string; before: unknown; after: unknown }[];
  ready?: { ready: boolean; polls: number };
  applied?: { ok: boolean; steps: { status: string }[] } | null;
}

/** The kernel shows the config: the GPU slot on vfio-pci, 2 VFs on vfio-pci. */
function assertInState(): string {
  assert.equal(driverOf(DEV.gpu), 'vfio-pci', `${DEV.gpu} driver`);
  assert.equal(driverOf(DEV.gpuAudio), 'vfio-pci', `${DEV.gpuAudio} driver (same slot)`);
  assert.equal(sriovOf(DEV.nvme)?.numVfs, 2, 'sriov_numvfs');
  const vfs = virtfns(DEV.nvme);
  assert.deepEqual(vfs.map((vf) => driverOf(vf)), ['vfio-pci', 'vfio-pci'], 'the VFs\' driver');
  return `${DEV.gpu}, ${DEV.gpuAudio}, ${vfs.join(', ')} on vfio-pci`;
}

function assertExit(r: Run<HostData>, code: number, fields: Partial<HostData>): void {
  assert.equal(r.status, code, `exit status ${code}`);
  assert.ok(r.doc?.data, 'a JSON document with data');
  for (const [k, v] of Object.entries(fields)) assert.deepEqual(r.doc.data[k as keyof HostData], v, k);
}

export const hostConfigCycle: Scenario = {
  id: 'host apply and assert of a passthrough and SR-IOV config',
  machines: ['intel', 'amd'],
  checks: [
    'host apply --wait-ready exits 0 (changed), the host was ready at the first look',
    'the kernel shows the config: the GPU slot and 2 VFs on vfio-pci',
    'host assert exits 0',
    'after a change behind gpuvirt\'s back, host assert exits 1 naming the GPU\'s driver and the VF count',
    'the boot unit\'s command line (host apply --boot --wait-ready) puts the host back: exit 0, changed',
    'host assert exits 0 again',
    'a second host apply changes nothing (noop, changed: false, exit 0)',
    'release and sriov disable give everything back',
  ],
  async run(t) {
    fs.writeFileSync(FILE, CONFIG);
    const apply = t.gpuvirt<HostData>('host', 'apply', '-f', FILE, '-c', 'fleet', '--wait-ready', '30', '--yes');
    t.check('host apply --wait-ready exits 0 (changed), the host was ready at the first look', () => {
      assertExit(apply, 0, { changed: true, failed: false, reboot_required: false });
      assert.deepEqual(apply.doc?.data?.ready, { ready: true, polls: 1, waitedMs: 0, missing: [] });
      assert.ok(apply.doc?.data?.applied?.steps.every((s) => s.status === 'done'), 'every step done');
      return `${apply.ms} ms: ${apply.doc?.data?.msg}`;
    });
    t.check('the kernel shows the config: the GPU slot and 2 VFs on vfio-pci', assertInState);
    const a1 = t.gpuvirt<HostData>('host', 'assert', '-f', FILE, '-c', 'fleet');
    t.check('host assert exits 0', () => assertExit(a1, 0, { failed: false, differences: [] }));

    // An admin's hand: the GPU back to its host driver, the VFs gone, without gpuvirt.
    write(`${PCI}/${DEV.gpu}/driver/unbind`, DEV.gpu);
    write(`${PCI}/${DEV.gpu}/driver_override`, '\n');
    write('/sys/bus/pci/drivers_probe', DEV.gpu);
    write(`${PCI}/${DEV.nvme}/sriov_numvfs`, '0');
    await waitFor(() => virtfns(DEV.nvme).length === 0 && driverOf(DEV.gpu) !== null, 15_000);
    const a2 = t.gpuvirt<HostData>('host', 'assert', '-f', FILE, '-c', 'fleet');
    t.check('after a change behind gpuvirt\'s back, host assert exits 1 naming the GPU\'s driver and the VF count', () => {
      assert.equal(driverOf(DEV.gpu), BOOT_DRIVERS[DEV.gpu], 'the hand-made change happened');
      assert.equal(overrideOf(DEV.gpu), null);
      assertExit(a2, 1, { failed: true });
      const diffs = (a2.doc?.data?.differences ?? []).map((d) => [d.subject, d.field, d.before, d.after]);
      assert.deepEqual(diffs.filter((d) => d[1] !== 'vfDriver'), [[DEV.gpu, 'driver', BOOT_DRIVERS[DEV.gpu], 'vfio-pci'], [DEV.nvme, 'vfs', 0, 2]]);
      return a2.doc?.data?.msg;
    });
    const boot = t.gpuvirt<HostData>('host', 'apply', '--boot', '-f', FILE, '-c', 'fleet', '--wait-ready', '30');
    t.check('the boot unit\'s command line (host apply --boot --wait-ready) puts the host back: exit 0, changed', () => {
      assertExit(boot, 0, { changed: true, failed: false, reboot_required: false });
      return `${boot.ms} ms; ${assertInState()}`;
    });
    const a3 = t.gpuvirt<HostData>('host', 'assert', '-f', FILE, '-c', 'fleet');
    t.check('host assert exits 0 again', () => assertExit(a3, 0, { failed: false, differences: [] }));
    const again = t.gpuvirt<HostData>('host', 'apply', '-f', FILE, '-c', 'fleet', '--yes');
    t.check('a second host apply changes nothing (noop, changed: false, exit 0)', () => {
      assertExit(again, 0, { changed: false, failed: false, noop: true });
      return again.doc?.data?.msg;
    });

    const rel = t.gpuvirt('release', DEV.gpu, '--yes');
    const dis = t.gpuvirt('sriov', 'disable', DEV.nvme, '--yes');
    t.check('release and sriov disable give everything back', () => {
      assert.equal(rel.status, 0, 'release exit');
      assert.equal(dis.status, 0, 'sriov disable exit');
      assert.equal(driverOf(DEV.gpu), BOOT_DRIVERS[DEV.gpu]);
      assert.deepEqual(virtfns(DEV.nvme), []);
    });
    fs.rmSync(FILE, { force: true });
  },
};

/**
 * The readiness wait against a device that really appears late: the SR-IOV PF is removed from
 * the PCI bus, and a bus rescan 20 s after `host apply --wait-ready` starts (gpuvirt itself takes
 * 2-9 s to start under TCG) brings it back, its driver binding as it would at boot. Last in the
 * run: the rescan gives the PF new IOMMU group numbers.
 */
export const hostConfigLate: Scenario = {
  id: 'host apply --wait-ready for a PF that appears late',
  machines: ['intel'],
  checks: [
    'the PF is gone from the bus before the run',
    'host apply --wait-ready waits for it (exit 0, more than one look, the wait said on stderr) and then makes 2 VFs',
    'sriov disable gives the VFs back',
  ],
  async run(t) {
    const file = '/tmp/gpuvirt-hosts-late.yaml';
    fs.writeFileSync(file, `apiVersion: gpuvirt/v1\nkind: HostConfig\nconfigs:\n  vfs:\n    devices:\n      - select: { address: "${DEV.nvme}" }\n        sriov: { vfs: 2 }\n`);
    write(`${PCI}/${DEV.nvme}/remove`, '1');
    t.check('the PF is gone from the bus before the run', () => assert.equal(exists(`${PCI}/${DEV.nvme}`), false));
    // gpuvirt runs synchronously: the rescan comes from another process.
    spawn(process.execPath, ['-e', "setTimeout(() => require('fs').writeFileSync('/sys/bus/pci/rescan', '1'), 20000)"], { stdio: 'ignore', detached: true }).unref();
    const r = t.gpuvirt<HostData>('host', 'apply', '-f', file, '-c', 'vfs', '--wait-ready', '90', '--yes');
    t.check('host apply --wait-ready waits for it (exit 0, more than one look, the wait said on stderr) and then makes 2 VFs', () => {
      assertExit(r, 0, { changed: true, failed: false });
      assert.ok((r.doc?.data?.ready?.polls ?? 0) > 1, `looks: ${r.doc?.data?.ready?.polls}`);
      assert.match(r.stderr, new RegExp(`no device matches address "${DEV.nvme}" yet`));
      assert.equal(sriovOf(DEV.nvme)?.numVfs, 2);
      return `${r.ms} ms, ${r.doc?.data?.ready?.polls} looks; ${r.stderr.split('\n').filter((l) => l.includes('waiting')).join(' / ')}`;
    });
    const d = t.gpuvirt('sriov', 'disable', DEV.nvme, '--yes');
    await waitFor(() => virtfns(DEV.nvme).length === 0, 15_000);
    t.check('sriov disable gives the VFs back', () => {
      assert.equal(d.status, 0);
      assert.deepEqual(virtfns(DEV.nvme), []);
    });
    fs.rmSync(file, { force: true });
  },
};
