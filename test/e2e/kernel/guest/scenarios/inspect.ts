// Read-only commands against the real kernel: what doctor and list say must be what sysfs says.
import assert from 'node:assert/strict';
import { BOOT_DRIVERS, DEV, MACHINES, MACHINE_SPECS } from '../../topology.js';
import type { DoctorData, ListData } from '../contract.js';
import type { Scenario } from '../framework.js';
import { assertSameReplay, replayOnSnapshot } from './snapshot.js';
import { classOf, cmdline, cpuVendor, devices, driverOf, exists, groupOf, iommuUnits, isBridge, kernelGroups, sh, slotOf, waitFor, write } from '../sysfs.js';

const iommuOn = () => iommuUnits().length > 0 && kernelGroups().size > 0;

const isGpu = (addr: string) => classOf(addr).startsWith('03') || classOf(addr).startsWith('12');

/** The isolation verdict from the kernel's groups alone (README: clean / shared / unknown). */
function expectedIsolation(gpu: string): { isolation: string; peers: string[] } {
  const g = groupOf(gpu);
  if (g === null) return { isolation: 'unknown', peers: [] };
  const members = kernelGroups().get(g) ?? [];
  const peers = members.filter((m) => m !== gpu && slotOf(m) !== slotOf(gpu) && !isBridge(m));
  return { isolation: peers.length ? 'shared' : 'clean', peers };
}

function firmwareTable(): string {
  for (const t of ['DMAR', 'IVRS']) if (exists(`/sys/firmware/acpi/tables/${t}`)) return t;
  return 'none';
}

export const boot: Scenario = {
  id: 'boot',
  machines: MACHINES,
  checks: [
    'the kernel bound the expected drivers',
    'IOMMU groups exist exactly when the machine has an IOMMU',
    'a hot-added device gets its driver loaded (uevent hook, as for SR-IOV VFs)',
  ],
  async run(t) {
    t.check('the kernel bound the expected drivers', () => {
      const now = Object.fromEntries(Object.keys(BOOT_DRIVERS).map((a) => [a, exists(`/sys/bus/pci/devices/${a}`) ? driverOf(a) : 'absent']));
      assert.deepEqual(now, BOOT_DRIVERS);
    });
    t.check('IOMMU groups exist exactly when the machine has an IOMMU', () => {
      const want = MACHINE_SPECS[t.machine].iommu !== null;
      assert.equal(iommuOn(), want, `units ${iommuUnits().join(',') || 'none'}, ${kernelGroups().size} groups`);
      return `units: ${iommuUnits().join(', ') || 'none'}; ${kernelGroups().size} groups`;
    });
    // Unload the NIC's driver, remove the NIC and rescan: only the hook can load e1000e again.
    const unload = sh(['modprobe', '-r', 'e1000e']);
    write(`/sys/bus/pci/devices/${DEV.nic}/remove`, '1');
    write('/sys/bus/pci/rescan', '1');
    const started = Date.now();
    const bound = await waitFor(() => driverOf(DEV.nic) === 'e1000e', 30_000);
    t.check('a hot-added device gets its driver loaded (uevent hook, as for SR-IOV VFs)', () => {
      assert.equal(unload.status, 0, `modprobe -r e1000e: ${unload.out}`);
      assert.ok(bound, `${DEV.nic} is on ${driverOf(DEV.nic) ?? 'no driver'} 30 s after the rescan`);
      return `bound after ${Date.now() - started} ms`;
    });
  },
};

export const doctor: Scenario = {
  id: 'doctor --json',
  machines: MACHINES,
  checks: [
    'prints one JSON document and exits 0 or 1',
    'host.cpuVendor is the vendor in /proc/cpuinfo',
    'iommu.firmware and the firmware table match /sys/firmware/acpi/tables',
    'iommu.enabled and groupCount match the kernel',
    'cmdline.iommu fits the CPU vendor and the running command line',
    'the GPUs are the class 03xx/12xx functions',
    'each GPU\'s iommuGroup is its iommu_group link',
    'isolation verdicts and blocking peers match /sys/kernel/iommu_groups',
    'the GPU slot is clean (unknown without an IOMMU)',
    'bootVga marks the boot display only',
    'doctor --root on the boot snapshot says what doctor says on the live kernel',
  ],
  run(t) {
    const r = t.gpuvirt<DoctorData>('doctor');
    const replay = replayOnSnapshot<DoctorData>(t, 'doctor');
    t.check('doctor --root on the boot snapshot says what doctor says on the live kernel', () => assertSameReplay(replay, r));
    const d = r.doc?.data;
    const check = (id: string) => {
      const c = d?.checks.find((x) => x.id === id);
      assert.ok(c, `no check ${id} in the output`);
      return c;
    };
    t.check('prints one JSON document and exits 0 or 1', () => {
      assert.ok(r.doc, 'stdout is not one JSON document');
      assert.equal(r.doc.schemaVersion, 1);
      assert.equal(r.doc.command, 'doctor');
      assert.equal(r.status, r.doc.ok ? 0 : 1, 'exit status must be 0 when ok, 1 when a check failed');
      return `exit ${r.status}, ${d?.checks.filter((c) => c.status === 'fail').length} failing checks`;
    });
    t.check('host.cpuVendor is the vendor in /proc/cpuinfo', () => {
      assert.equal(d?.host.cpuVendor, cpuVendor());
      return cpuVendor();
    });
    t.check('iommu.firmware and the firmware table match /sys/firmware/acpi/tables', () => {
      const table = firmwareTable();
      assert.equal(d?.iommu.firmware, table);
      assert.equal(check('iommu.firmware').status, table === 'none' ? 'fail' : 'pass');
      return `${table}: ${check('iommu.firmware').summary}`;
    });
    t.check('iommu.enabled and groupCount match the kernel', () => {
      assert.equal(d?.iommu.enabled, iommuOn());
      assert.equal(d?.iommu.groupCount, kernelGroups().size);
      assert.equal(check('iommu.enabled').status, iommuOn() ? 'pass' : 'fail');
      return check('iommu.enabled').summary;
    });
    t.check('cmdline.iommu fits the CPU vendor and the running command line', () => {
      const c = check('cmdline.iommu');
      const set = cmdline().split(/\s+/).includes('intel_iommu=on');
      if (cpuVendor() === 'amd' || set) assert.equal(c.status, 'pass', c.summary);
      else {
        assert.notEqual(c.status, 'pass', c.summary);
        assert.match(c.remedy ?? '', /intel_iommu=on/, 'the remedy must name intel_iommu=on');
      }
      return `${c.status}: ${c.summary}${c.remedy ? ` / fix: ${c.remedy}` : ''}`;
    });
    t.check('the GPUs are the class 03xx/12xx functions', () => {
      assert.deepEqual(d?.gpus.map((g) => g.address).sort(), devices().filter(isGpu));
    });
    t.check('each GPU\'s iommuGroup is its iommu_group link', () => {
      for (const g of d?.gpus ?? []) assert.equal(g.iommuGroup, groupOf(g.address), g.address);
    });
    t.check('isolation verdicts and blocking peers match /sys/kernel/iommu_groups', () => {
      const got = Object.fromEntries((d?.gpus ?? []).map((g) => [g.address, { isolation: g.isolation, peers: g.blockingPeers.map((p) => p.address).sort() }]));
      const want = Object.fromEntries(devices().filter(isGpu).map((a) => [a, expectedIsolation(a)]));
      assert.deepEqual(got, want);
      return JSON.stringify(got);
    });
    t.check('the GPU slot is clean (unknown without an IOMMU)', () => {
      const gpu = d?.gpus.find((g) => g.address === DEV.gpu);
      assert.equal(gpu?.isolation, iommuOn() ? 'clean' : 'unknown');
    });
    t.check('bootVga marks the boot display only', () => {
      const flagged = (d?.gpus ?? []).filter((g) => g.bootVga === true).map((g) => g.address);
      assert.deepEqual(flagged, [DEV.bootVga]);
      assert.equal(exists(`/sys/bus/pci/devices/${DEV.bootVga}/boot_vga`), true);
    });
  },
};

export const list: Scenario = {
  id: 'list --json',
  machines: MACHINES,
  checks: [
    'groups equal /sys/kernel/iommu_groups',
    'every device is listed once, with its driver link',
    'list --root on the boot snapshot says what list says on the live kernel',
  ],
  run(t) {
    const r = t.gpuvirt<ListData>('list');
    const replay = replayOnSnapshot<ListData>(t, 'list');
    t.check('list --root on the boot snapshot says what list says on the live kernel', () => assertSameReplay(replay, r));
    const d = r.doc?.data;
    t.check('groups equal /sys/kernel/iommu_groups', () => {
      assert.equal(r.status, 0);
      const got = (d?.groups ?? []).map((g) => [g.id, g.devices.map((x) => x.address).sort()]);
      assert.deepEqual(got, [...kernelGroups()]);
      assert.equal(d?.iommu, iommuOn());
      if (!iommuOn()) assert.ok(d?.reason, 'without an IOMMU, list says why there are no groups');
      return `${got.length} groups`;
    });
    t.check('every device is listed once, with its driver link', () => {
      const all = [...(d?.groups ?? []).flatMap((g) => g.devices), ...(d?.ungrouped ?? [])];
      assert.deepEqual(all.map((x) => x.address).sort(), devices());
      for (const x of all) assert.equal(x.driver, driverOf(x.address), x.address);
    });
  },
};
