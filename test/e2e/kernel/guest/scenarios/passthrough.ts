// passthrough and release against the real kernel: what gpuvirt says it did must be what the
// driver links, driver_override files and /dev/vfio show, and VFIO must accept the group.
import assert from 'node:assert/strict';
import { DEV } from '../../topology.js';
import { recordedDevices, vfioCheck, type Run } from '../commands.js';
import type { ChangeData, StepJson } from '../contract.js';
import type { Scenario } from '../framework.js';
import { driverLoaded, driverOf, exists, groupOf, overrideOf, snapshot, type DeviceState } from '../sysfs.js';

function assertUnchanged(before: Record<string, DeviceState>): void {
  assert.deepEqual(snapshot(Object.keys(before)), before, 'driver or driver_override changed');
}

function assertOn(driver: string, addrs: readonly string[]): void {
  assert.deepEqual(addrs.map((a) => [a, driverOf(a)]), addrs.map((a) => [a, driver]));
}

/** Every step of a plan, checked against the kernel after the plan ran. */
export function assertPlanHolds(steps: readonly StepJson[]): void {
  for (const s of steps) {
    if (s.kind === 'write' && s.path?.endsWith('/driver_override')) {
      const addr = s.path.split('/').at(-2)!;
      assert.equal(overrideOf(addr), s.value === '\n' ? null : s.value, s.action);
    } else if (s.kind === 'verify-driver') assert.equal(driverOf(s.address!), s.driver, s.action);
    else if (s.kind === 'verify-not-driver') assert.notEqual(driverOf(s.address!), s.not, s.action);
    else if (s.kind === 'verify-exists') assert.ok(exists(s.path!), s.action);
    else if (s.kind === 'exec' && s.argv?.[0] === 'modprobe') assert.ok(driverLoaded(s.argv[1]!), `${s.action}: driver not registered`);
  }
}

export function assertApplied(r: Run<Pick<ChangeData, 'applied'>>): void {
  const applied = r.doc?.data?.applied;
  assert.equal(r.status, 0, 'exit status');
  assert.ok(applied?.ok, 'applied.ok');
  assert.ok(applied.steps.every((s) => s.status === 'done'), 'every step done');
}

export function assertViable(group: number | null, devices: readonly string[]): string {
  assert.notEqual(group, null, 'no IOMMU group');
  const v = vfioCheck(group!, devices);
  assert.equal(v.status, 0, `vfio-check: ${v.raw}`);
  assert.equal(v.result?.viable, true, v.raw);
  assert.equal(v.result?.setIommu, 'ok', v.raw);
  return v.raw.trim();
}

/** Passthrough of the whole GPU slot, checked step by step against its own dry run, then release. */
export const gpuSlot: Scenario = {
  id: 'passthrough of the GPU slot',
  machines: ['intel', 'amd'],
  checks: [
    'the dry run exits 0, plans both slot functions and changes nothing',
    'passthrough exits 0 with every step done',
    'both slot functions are on vfio-pci',
    'the steps applied are the steps the dry run printed',
    'the kernel state matches the plan\'s writes and checks',
    '/dev/vfio/GROUP exists',
    'the group is viable through VFIO (status, container, TYPE1v2, device fds)',
    'release exits 0 and gives back bochs-drm and snd_hda_intel',
    '/dev/vfio/GROUP is gone after release',
    'gpuvirt keeps no record of the slot after release',
  ],
  run(t) {
    const slot: string[] = [DEV.gpu, DEV.gpuAudio];
    const before = snapshot(slot);
    const group = groupOf(DEV.gpu);
    const dry = t.gpuvirt<ChangeData>('passthrough', DEV.gpu, '--dry-run');
    const plan = dry.doc?.data?.steps ?? [];
    t.check('the dry run exits 0, plans both slot functions and changes nothing', () => {
      assert.equal(dry.status, 0);
      assert.equal(dry.doc?.data?.dryRun, true);
      assert.deepEqual(dry.doc?.data?.devices.map((d) => [d.address, d.reason]), [[DEV.gpu, 'requested'], [DEV.gpuAudio, 'slot']]);
      assert.ok(plan.length > 0, 'an empty plan');
      assertUnchanged(before);
      return plan.map((s) => s.action).join(' | ');
    });
    const real = t.gpuvirt<ChangeData>('passthrough', DEV.gpu, '--yes');
    t.check('passthrough exits 0 with every step done', () => assertApplied(real));
    t.check('both slot functions are on vfio-pci', () => assertOn('vfio-pci', slot));
    t.check('the steps applied are the steps the dry run printed', () => {
      assert.deepEqual(real.doc?.data?.applied?.steps.map((s) => s.action), plan.map((s) => s.action));
    });
    t.check('the kernel state matches the plan\'s writes and checks', () => assertPlanHolds(plan));
    t.check('/dev/vfio/GROUP exists', () => {
      assert.ok(exists(`/dev/vfio/${group}`), `/dev/vfio/${group}`);
      return `/dev/vfio/${group}`;
    });
    t.check('the group is viable through VFIO (status, container, TYPE1v2, device fds)', () => assertViable(group, slot));
    const rel = t.gpuvirt<ChangeData>('release', DEV.gpu, '--yes');
    t.check('release exits 0 and gives back bochs-drm and snd_hda_intel', () => {
      assertApplied(rel);
      assertUnchanged(before);
    });
    t.check('/dev/vfio/GROUP is gone after release', () => assert.ok(!exists(`/dev/vfio/${group}`), `/dev/vfio/${group} still exists`));
    t.check('gpuvirt keeps no record of the slot after release', () => assert.deepEqual(recordedDevices().filter((a) => slot.includes(a)), []));
  },
};

function refused(r: Run<ChangeData>, code: string, address: string, before: Record<string, DeviceState>): string {
  assert.equal(r.status, 7, 'exit status 7 (refused)');
  const refusals = r.doc?.data?.refusals ?? [];
  assert.ok(refusals.some((x) => x.code === code && x.address === address), `no ${code} refusal for ${address}: ${JSON.stringify(refusals)}`);
  assert.equal(r.doc?.data?.applied ?? null, null, 'nothing applied');
  assertUnchanged(before);
  return refusals.map((x) => `${x.code}: ${x.message}`).join(' | ');
}

export const bootVga: Scenario = {
  id: 'passthrough of the boot display',
  machines: ['intel'],
  checks: ['refused with exit 7 (boot-vga) and nothing changed'],
  run(t) {
    const before = snapshot();
    const r = t.gpuvirt<ChangeData>('passthrough', DEV.bootVga, '--yes');
    t.check('refused with exit 7 (boot-vga) and nothing changed', () => refused(r, 'boot-vga', DEV.bootVga, before));
  },
};

export const noIommu: Scenario = {
  id: 'passthrough without an IOMMU',
  machines: ['none'],
  checks: ['refused with exit 7 (no-iommu) and nothing changed', '--force cannot override it', 'vfio-pci was never loaded'],
  run(t) {
    const before = snapshot();
    const r = t.gpuvirt<ChangeData>('passthrough', DEV.gpu, '--yes');
    t.check('refused with exit 7 (no-iommu) and nothing changed', () => refused(r, 'no-iommu', DEV.gpu, before));
    const forced = t.gpuvirt<ChangeData>('passthrough', DEV.gpu, '--force', '--yes');
    t.check('--force cannot override it', () => refused(forced, 'no-iommu', DEV.gpu, before));
    t.check('vfio-pci was never loaded', () => assert.equal(driverLoaded('vfio-pci'), false));
  },
};

export const bridged: Scenario = {
  id: 'passthrough of a device behind a PCI bridge',
  machines: ['intel', 'amd'],
  checks: [
    'without --force: refused with exit 7 (shared-group, naming the e1000) and nothing changed',
    'with --force: exit 0, the e1000 is taken too and the bridge stays',
    'edu and e1000 are on vfio-pci',
    'the group is viable through VFIO',
    'release gives the e1000 back to e1000 and leaves edu driverless',
  ],
  run(t) {
    const set = [DEV.bridgedEdu, DEV.bridgedNic];
    const before = snapshot();
    const bridgeDriver = driverOf(DEV.bridge);
    const r = t.gpuvirt<ChangeData>('passthrough', DEV.bridgedEdu, '--yes');
    t.check('without --force: refused with exit 7 (shared-group, naming the e1000) and nothing changed', () => refused(r, 'shared-group', DEV.bridgedNic, before));
    const forced = t.gpuvirt<ChangeData>('passthrough', DEV.bridgedEdu, '--force', '--yes');
    t.check('with --force: exit 0, the e1000 is taken too and the bridge stays', () => {
      assertApplied(forced);
      assert.deepEqual(forced.doc?.data?.devices.map((d) => [d.address, d.reason]), [[DEV.bridgedEdu, 'requested'], [DEV.bridgedNic, 'group']]);
      assert.ok(forced.doc?.data?.bridges?.includes(DEV.bridge), 'the bridge is named');
      assert.equal(driverOf(DEV.bridge), bridgeDriver);
    });
    t.check('edu and e1000 are on vfio-pci', () => assertOn('vfio-pci', set));
    t.check('the group is viable through VFIO', () => assertViable(groupOf(DEV.bridgedEdu), set));
    const rel = t.gpuvirt<ChangeData>('release', DEV.bridgedEdu, '--yes');
    t.check('release gives the e1000 back to e1000 and leaves edu driverless', () => {
      assertApplied(rel);
      assertUnchanged(before);
    });
  },
};

export const pciStub: Scenario = {
  id: 'passthrough to pci-stub',
  machines: ['amd'],
  checks: ['a driverless device goes to pci-stub, with no VFIO group node', 'release leaves it driverless again'],
  run(t) {
    const before = snapshot([DEV.edu]);
    const r = t.gpuvirt<ChangeData>('passthrough', DEV.edu, '--driver', 'pci-stub', '--yes');
    t.check('a driverless device goes to pci-stub, with no VFIO group node', () => {
      assertApplied(r);
      assertOn('pci-stub', [DEV.edu]);
      assert.ok(!exists(`/dev/vfio/${groupOf(DEV.edu)}`), 'pci-stub makes no /dev/vfio node');
    });
    const rel = t.gpuvirt<ChangeData>('release', DEV.edu, '--yes');
    t.check('release leaves it driverless again', () => {
      assertApplied(rel);
      assertUnchanged(before);
    });
  },
};
