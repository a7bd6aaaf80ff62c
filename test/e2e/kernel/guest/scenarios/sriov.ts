// `gpuvirt sriov` against the real kernel, on the QEMU nvme PF (sriov_max_vfs=4): what gpuvirt
// says it did must be what sriov_numvfs, the virtfn/physfn links, the VFs' IOMMU groups and
// VFIO show. Facts (errno per write, the VFIO hold): real-kernel-findings.md, "SR-IOV".
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { DEV } from '../../topology.js';
import { recordedPfs, VFIO_CHECK, type Run } from '../commands.js';
import type { SriovChangeData, SriovStatusData, StepJson } from '../contract.js';
import type { Scenario, Test } from '../framework.js';
import {
  driverLoaded, driverOf, exists, groupOf, kernelGroups, overrideOf, physfnOf, read, sh, snapshot, sriovOf, totalVfsOf, virtfns, waitFor, write,
} from '../sysfs.js';
import { failedRun, injectModprobeRule } from './faults.js';
import { assertViable } from './passthrough.js';

const PF = DEV.nvme;
const PCI = '/sys/bus/pci/devices';
/** How long a refused run may take before it counts as a hang (gpuvirt needs 2-9 s under TCG with two guests running). */
const HANG_MS = 60_000;

/** Where VF i must appear: the PF's routing ID + First VF Offset + i × VF Stride, from the PF's own attributes. */
function expectedVfs(pf: string, n: number): string[] {
  const offset = Number(read(`${PCI}/${pf}/sriov_offset`));
  const stride = Number(read(`${PCI}/${pf}/sriov_stride`));
  const [dom, bus, devfn] = [pf.slice(0, 4), parseInt(pf.slice(5, 7), 16), parseInt(pf.slice(8, 10), 16) * 8 + Number(pf.slice(11))];
  const hex = (v: number, w: number) => v.toString(16).padStart(w, '0');
  return Array.from({ length: n }, (_, i) => {
    const rid = (bus << 8) + devfn + offset + i * stride;
    return `${dom}:${hex(rid >> 8, 2)}:${hex((rid >> 3) & 31, 2)}.${rid & 7}`;
  });
}

/** n VFs as the kernel shows them: count, virtfn links, devices with physfn links and the PF's VF id. */
function assertVfs(pf: string, n: number): string[] {
  assert.equal(sriovOf(pf)?.numVfs, n, 'sriov_numvfs');
  const vfs = virtfns(pf);
  assert.deepEqual(vfs, expectedVfs(pf, n), 'virtfnN links');
  const vfDevice = read(`${PCI}/${pf}/sriov_vf_device`);
  for (const vf of vfs) {
    assert.ok(exists(`${PCI}/${vf}`), `${vf} is not in /sys/bus/pci/devices`);
    assert.equal(physfnOf(vf), pf, `${vf}/physfn`);
    assert.equal(parseInt(read(`${PCI}/${vf}/device`) ?? '', 16), parseInt(vfDevice ?? '', 16), `${vf}/device is the PF's sriov_vf_device (${vfDevice})`);
  }
  return vfs;
}

/**
 * The nvme driver autoprobes new VFs and gives up on them (QEMU's VFs stay offline: "Device
 * not ready; aborting initialisation"), asynchronously: wait until no VF is on it any more, so
 * that "nothing changed" compares settled states.
 */
async function settle(pf: string): Promise<number> {
  const started = Date.now();
  await waitFor(() => virtfns(pf).every((vf) => driverOf(vf) !== 'nvme'), 15_000);
  return Date.now() - started;
}

/** Each VF alone in an IOMMU group of its own (QEMU's root port has ACS; VFs are functions of their own). */
function assertOwnGroups(pf: string, vfs: readonly string[]): string {
  const groups = kernelGroups();
  const ids = vfs.map((vf) => groupOf(vf));
  for (const [i, vf] of vfs.entries()) {
    assert.notEqual(ids[i], null, `${vf} has no iommu_group`);
    assert.deepEqual(groups.get(ids[i]!), [vf], `group ${ids[i]} holds only ${vf}`);
  }
  assert.equal(new Set(ids).size, vfs.length, 'distinct groups');
  assert.ok(!ids.includes(groupOf(pf)), 'not the PF\'s group');
  return vfs.map((vf, i) => `${vf} → group ${ids[i]}`).join(', ');
}

/** The values gpuvirt wrote to sriov_numvfs, in order, from the steps it reports as done. */
function numvfsWritten(r: Run<SriovChangeData>): string[] {
  const plan = r.doc?.data?.steps ?? [];
  return (r.doc?.data?.applied?.steps ?? [])
    .filter((s) => s.status === 'done')
    .map((s) => plan[s.index])
    .filter((s): s is StepJson => s?.kind === 'write' && Boolean(s.path?.endsWith('/sriov_numvfs')))
    .map((s) => s.value ?? '?');
}

function assertDone(r: Run<SriovChangeData>): void {
  assert.equal(r.status, 0, 'exit status');
  assert.equal(r.doc?.ok, true, 'ok');
  const applied = r.doc?.data?.applied;
  assert.ok(applied?.ok, 'applied.ok');
  assert.ok(applied.steps.every((s) => s.status === 'done'), 'every step done');
}

/** A refusal before any write: exit `code`, errors naming `pattern`, nothing applied, nothing changed. */
function assertRefused(r: Run<SriovChangeData>, code: number, pattern: RegExp, before: ReturnType<typeof snapshot>): string {
  assert.equal(r.status, code, `exit status ${code}`);
  assert.equal(r.doc?.ok, false, 'ok is false');
  const errors = (r.doc?.data?.refusals ?? []).map((x) => x.message);
  assert.ok(errors.some((e) => pattern.test(e)), `no error matching ${pattern}: ${JSON.stringify(errors)}`);
  assert.equal(r.doc?.data?.applied ?? null, null, 'nothing applied');
  assert.deepEqual(snapshot(), before, 'the devices and the PF changed');
  return errors.join(' | ');
}

/** No VF of the PF anywhere in sysfs, the count and autoprobe as at boot, no record left. */
function assertGone(vfs: readonly string[], boot: { numVfs: number; autoprobe: boolean } | null, groupsAtBoot: number): void {
  assert.deepEqual(sriovOf(PF), boot, 'sriov_numvfs and sriov_drivers_autoprobe are the boot values');
  assert.deepEqual(virtfns(PF), [], 'virtfn links left');
  assert.deepEqual(vfs.filter((vf) => exists(`${PCI}/${vf}`)), [], 'VF devices left');
  assert.equal(kernelGroups().size, groupsAtBoot, 'the VFs\' IOMMU groups are gone');
  assert.deepEqual(recordedPfs(), [], 'gpuvirt still records the PF');
}

export const sriovCycle: Scenario = {
  id: 'sriov enable, resize and disable',
  machines: ['intel', 'amd'],
  checks: [
    'enable --vfs 2 exits 0 with every step done',
    'the kernel has 2 VFs where the PF\'s offset and stride put them, each with a physfn link',
    'each VF is alone in an IOMMU group of its own',
    'gpuvirt\'s report (after) and sriov status match the kernel',
    'enable --vfs 99 is refused (exit 5, naming sriov_totalvfs) before any write: the 2 VFs stay',
    'enable --vfs totalvfs+1 is refused the same way, where the kernel itself would say ERANGE',
    'enable --vfs 3 exits 0, having written 0 first and then 3',
    'the kernel has 3 VFs, each in its own group',
    'disable exits 0 and the VFs, their links and their groups are gone',
  ],
  async run(t) {
    const boot = sriovOf(PF);
    const groupsAtBoot = kernelGroups().size;
    // The short form users type; the rest use the full address.
    const e2 = t.gpuvirt<SriovChangeData>('sriov', 'enable', PF.slice(5), '--vfs', '2', '--yes');
    t.check('enable --vfs 2 exits 0 with every step done', () => {
      assertDone(e2);
      assert.deepEqual(numvfsWritten(e2), ['2']);
      return `${e2.ms} ms: ${e2.doc?.data?.applied?.steps.map((s) => s.action).join(' | ')}`;
    });
    let vfs: string[] = [];
    t.check('the kernel has 2 VFs where the PF\'s offset and stride put them, each with a physfn link', () => {
      vfs = assertVfs(PF, 2);
      return vfs.join(', ');
    });
    t.check('each VF is alone in an IOMMU group of its own', () => assertOwnGroups(PF, vfs));
    const status = t.gpuvirt<SriovStatusData>('sriov', 'status', PF);
    t.check('gpuvirt\'s report (after) and sriov status match the kernel', () => {
      const kernel = { address: PF, totalVfs: totalVfsOf(PF), numVfs: 2, vfs: virtfns(PF).map((vf, index) => ({ index, address: vf, iommuGroup: groupOf(vf) })) };
      const shape = (p: SriovStatusData['pfs'][number] | null | undefined) => p && { address: p.address, totalVfs: p.totalVfs, numVfs: p.numVfs, vfs: p.vfs.map((v) => ({ index: v.index, address: v.address, iommuGroup: v.iommuGroup })) };
      assert.deepEqual(shape(e2.doc?.data?.after), kernel, 'enable\'s after');
      assert.equal(status.status, 0, 'sriov status exit');
      assert.deepEqual(shape(status.doc?.data?.pfs[0]), kernel, 'sriov status');
      assert.equal(status.doc?.data?.pfs[0]?.driver, driverOf(PF), 'the PF driver');
    });

    // Refusals while VFs exist: a run that wrote 0 first would take them away.
    const settled = await settle(PF);
    const two = snapshot();
    const e99 = t.gpuvirt<SriovChangeData>('sriov', 'enable', PF, '--vfs', '99', '--yes');
    t.check('enable --vfs 99 is refused (exit 5, naming sriov_totalvfs) before any write: the 2 VFs stay', () =>
      `${assertRefused(e99, 5, new RegExp(`at most ${totalVfsOf(PF)} VFs \\(sriov_totalvfs\\)`), two)} (VFs settled after ${settled} ms)`);
    const over = String(totalVfsOf(PF) + 1);
    const eOver = t.gpuvirt<SriovChangeData>('sriov', 'enable', PF, '--vfs', over, '--yes');
    t.check('enable --vfs totalvfs+1 is refused the same way, where the kernel itself would say ERANGE', () => {
      const said = assertRefused(eOver, 5, new RegExp(`at most ${totalVfsOf(PF)} VFs \\(sriov_totalvfs\\); ${over} asked`), two);
      // The kernel's own answer to the same count (ERANGE is decided before anything else, so
      // the write changes nothing).
      assert.throws(() => write(`${PCI}/${PF}/sriov_numvfs`, over), (err: NodeJS.ErrnoException) => err.code === 'ERANGE');
      assert.deepEqual(snapshot(), two, 'the direct write changed something');
      return `${said}; kernel: ERANGE`;
    });

    const e3 = t.gpuvirt<SriovChangeData>('sriov', 'enable', PF, '--vfs', '3', '--yes');
    t.check('enable --vfs 3 exits 0, having written 0 first and then 3', () => {
      assertDone(e3);
      // The kernel answers EBUSY to 2 → 3, so success itself says a 0 went first.
      assert.deepEqual(numvfsWritten(e3), ['0', '3']);
      return e3.doc?.data?.applied?.steps.map((s) => s.action).join(' | ');
    });
    t.check('the kernel has 3 VFs, each in its own group', () => {
      vfs = assertVfs(PF, 3);
      return assertOwnGroups(PF, vfs);
    });

    const d = t.gpuvirt<SriovChangeData>('sriov', 'disable', PF, '--yes');
    t.check('disable exits 0 and the VFs, their links and their groups are gone', () => {
      assertDone(d);
      assert.deepEqual(numvfsWritten(d), ['0']);
      assertGone(vfs, boot, groupsAtBoot);
      return `${d.ms} ms`;
    });
  },
};

/** Starts `vfio-check GROUP --hold S VF` in the background: a VM holding the VF through VFIO. */
async function holdThroughVfio(t: Test, group: number, vf: string): Promise<{ line: string; alive: () => boolean; release: () => Promise<boolean> }> {
  const child = spawn(VFIO_CHECK, [String(group), '--hold', '300', vf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exited = false;
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  child.on('exit', () => (exited = true));
  const release = async () => {
    if (!exited) child.kill('SIGKILL');
    return waitFor(() => exited, 10_000);
  };
  t.cleanup(() => {
    if (!exited) child.kill('SIGKILL');
  });
  await waitFor(() => out.includes('\n') || exited, 20_000);
  return { line: out.trim(), alive: () => !exited, release };
}

export const sriovVfio: Scenario = {
  id: 'sriov enable --bind vfio-pci, and disable while a VM holds a VF',
  machines: ['intel', 'amd'],
  checks: [
    'enable --vfs 2 --bind vfio-pci exits 0, autoprobe turned off before the VFs were created',
    'each VF is on vfio-pci (driver_override vfio-pci), alone in its own group, with /dev/vfio/GROUP',
    'each VF\'s group is viable through VFIO (status, container, TYPE1v2, device fd)',
    'setup: vfio-check holds the first VF open through VFIO',
    'disable while it is held: refused with exit 7 naming the VF, in bounded time (no hang)',
    'enable --vfs 1 while it is held (it would write 0 first): refused the same way',
    'the refused runs changed nothing: 2 VFs on vfio-pci, the holder still running',
    'once the holder lets go, disable exits 0: the VFs are gone and autoprobe is back on',
  ],
  async run(t) {
    const boot = sriovOf(PF);
    const groupsAtBoot = kernelGroups().size;
    const e = t.gpuvirt<SriovChangeData>('sriov', 'enable', PF, '--vfs', '2', '--bind', 'vfio-pci', '--yes');
    t.check('enable --vfs 2 --bind vfio-pci exits 0, autoprobe turned off before the VFs were created', () => {
      assertDone(e);
      const plan = e.doc?.data?.steps ?? [];
      const autoprobe = plan.findIndex((s) => s.kind === 'write' && s.path?.endsWith('/sriov_drivers_autoprobe') && s.value === '0');
      const numvfs = plan.findIndex((s) => s.kind === 'write' && s.path?.endsWith('/sriov_numvfs') && s.value === '2');
      assert.ok(autoprobe >= 0 && autoprobe < numvfs, `autoprobe 0 (step ${autoprobe}) must come before numvfs 2 (step ${numvfs})`);
      assert.equal(sriovOf(PF)?.autoprobe, false, 'sriov_drivers_autoprobe is 0 while gpuvirt manages the VFs');
      return `${e.ms} ms, ${plan.length} steps`;
    });
    let vfs: string[] = [];
    t.check('each VF is on vfio-pci (driver_override vfio-pci), alone in its own group, with /dev/vfio/GROUP', () => {
      vfs = assertVfs(PF, 2);
      for (const vf of vfs) {
        assert.equal(driverOf(vf), 'vfio-pci', `${vf} driver`);
        assert.equal(overrideOf(vf), 'vfio-pci', `${vf} driver_override`);
        assert.ok(exists(`/dev/vfio/${groupOf(vf)}`), `/dev/vfio/${groupOf(vf)}`);
      }
      return assertOwnGroups(PF, vfs);
    });
    t.check('each VF\'s group is viable through VFIO (status, container, TYPE1v2, device fd)', () => vfs.map((vf) => assertViable(groupOf(vf), [vf])).join('\n'));

    const vf0 = vfs[0] ?? expectedVfs(PF, 1)[0]!;
    const group = groupOf(vf0) ?? -1;
    const holder = await holdThroughVfio(t, group, vf0);
    t.check('setup: vfio-check holds the first VF open through VFIO', () => {
      assert.ok(holder.alive(), `vfio-check exited: ${holder.line}`);
      const r = JSON.parse(holder.line) as { viable?: boolean; devices?: Record<string, string> };
      assert.equal(r.viable, true, holder.line);
      assert.equal(r.devices?.[vf0], 'ok', holder.line);
      return holder.line;
    });
    const held = snapshot();
    const refusedInTime = (r: Run<SriovChangeData>) => {
      assert.equal(r.timedOut, false, `gpuvirt was still running after ${HANG_MS / 1000} s (blocked in the kernel's write of 0?)`);
      assert.equal(r.status, 7, 'exit status 7 (refused)');
      const errors = (r.doc?.data?.refusals ?? []).map((x) => x.message);
      assert.ok(errors.some((x) => x.includes(vf0) && /VFIO/.test(x)), `no error naming ${vf0} and VFIO: ${JSON.stringify(errors)}`);
      assert.equal(r.doc?.data?.applied ?? null, null, 'nothing applied');
      return `${r.ms} ms: ${errors.join(' | ')}`;
    };
    const d = t.gpuvirtWithin<SriovChangeData>(HANG_MS, 'sriov', 'disable', PF, '--yes');
    t.check('disable while it is held: refused with exit 7 naming the VF, in bounded time (no hang)', () => refusedInTime(d));
    const e1 = t.gpuvirtWithin<SriovChangeData>(HANG_MS, 'sriov', 'enable', PF, '--vfs', '1', '--yes');
    t.check('enable --vfs 1 while it is held (it would write 0 first): refused the same way', () => refusedInTime(e1));
    t.check('the refused runs changed nothing: 2 VFs on vfio-pci, the holder still running', () => {
      assert.deepEqual(snapshot(), held);
      assert.ok(holder.alive(), 'the holder was killed');
    });
    const released = await holder.release();
    const d2 = t.gpuvirt<SriovChangeData>('sriov', 'disable', PF, '--yes');
    t.check('once the holder lets go, disable exits 0: the VFs are gone and autoprobe is back on', () => {
      assert.ok(released, 'vfio-check did not exit after SIGKILL');
      assertDone(d2);
      assertGone(vfs, boot, groupsAtBoot);
      return `${d2.ms} ms`;
    });
  },
};

/**
 * A bind the kernel accepts but does not do: vfio-pci's module "loads" (modprobe succeeds) yet
 * never registers, so driver_override and drivers_probe both return success and the VF stays
 * driverless (real-kernel-findings: "drivers_probe does not load modules"). The VFs exist by
 * then; the PF must go back to no VFs and autoprobe on.
 */
export const sriovFaultBind: Scenario = {
  id: 'fault: the VFs cannot bind (vfio-pci never registers)',
  machines: ['amd'],
  checks: [
    'setup: vfio-pci is unloaded and modprobe of it does nothing',
    'enable --bind vfio-pci fails (exit 1) at the first VF\'s driver check, after the VFs were created; the rollback reports ok',
    'the PF is back to its boot VF count and autoprobe, with no VF left and no record',
  ],
  run(t) {
    const boot = sriovOf(PF);
    const groupsAtBoot = kernelGroups().size;
    const unload = sh(['modprobe', '-r', 'vfio-pci']);
    injectModprobeRule(t, 'install vfio_pci /bin/true');
    t.check('setup: vfio-pci is unloaded and modprobe of it does nothing', () => {
      assert.equal(driverLoaded('vfio-pci'), false, `vfio-pci is still registered: ${unload.out}`);
      const probe = sh(['modprobe', 'vfio-pci']);
      assert.equal(probe.status, 0, probe.out);
      assert.equal(driverLoaded('vfio-pci'), false, 'modprobe vfio-pci registered the driver');
    });
    const vfs = expectedVfs(PF, 2);
    const r = t.gpuvirt<SriovChangeData>('sriov', 'enable', PF, '--vfs', '2', '--bind', 'vfio-pci', '--yes');
    t.check('enable --bind vfio-pci fails (exit 1) at the first VF\'s driver check, after the VFs were created; the rollback reports ok', () => {
      const applied = failedRun(r);
      assert.deepEqual(numvfsWritten(r), ['2'], 'the VFs were created before the failure');
      const failed = applied?.steps.find((s) => s.status === 'failed');
      assert.match(failed?.action ?? '', new RegExp(`check ${vfs[0]!.replace(/\./g, '\\.')} is bound to vfio-pci`), 'the failing step');
      return `${failed?.error}; rollback: ${applied?.rollback?.actions.join('; ')}`;
    });
    t.check('the PF is back to its boot VF count and autoprobe, with no VF left and no record', () => assertGone(vfs, boot, groupsAtBoot));
  },
};

/**
 * The PF's driver goes away while its VFs exist (an admin unbinding it): the kernel keeps the
 * VFs and answers ENOENT to any sriov_numvfs write until a driver is back.
 */
export const sriovFaultPfDriver: Scenario = {
  id: 'fault: the PF loses its driver while its VFs exist',
  machines: ['intel'],
  checks: [
    'setup: 2 VFs, then the PF is unbound from nvme behind gpuvirt\'s back; the kernel keeps the VFs',
    'enable --vfs 3 is refused before any write (exit 5: the PF has no driver)',
    'disable is refused before any write (exit 7: the PF has no driver, which the kernel needs to disable VFs)',
    'the PF keeps its 2 VFs and autoprobe, as before the failed disable',
    'with nvme back on the PF, disable removes the VFs and gpuvirt keeps no record',
  ],
  async run(t) {
    const boot = sriovOf(PF);
    const groupsAtBoot = kernelGroups().size;
    const pfDriver = driverOf(PF);
    const e = t.gpuvirt<SriovChangeData>('sriov', 'enable', PF, '--vfs', '2', '--yes');
    const vfs = virtfns(PF);
    await settle(PF);
    if (pfDriver) write(`/sys/bus/pci/drivers/${pfDriver}/unbind`, PF);
    t.check('setup: 2 VFs, then the PF is unbound from nvme behind gpuvirt\'s back; the kernel keeps the VFs', () => {
      assertDone(e);
      assert.equal(pfDriver, 'nvme');
      assert.equal(driverOf(PF), null, 'the PF still has a driver');
      assertVfs(PF, 2);
    });
    const held = snapshot();
    const e3 = t.gpuvirt<SriovChangeData>('sriov', 'enable', PF, '--vfs', '3', '--yes');
    t.check('enable --vfs 3 is refused before any write (exit 5: the PF has no driver)', () => assertRefused(e3, 5, /has no driver/, held));
    const d = t.gpuvirt<SriovChangeData>('sriov', 'disable', PF, '--yes');
    t.check('disable is refused before any write (exit 7: the PF has no driver, which the kernel needs to disable VFs)', () => assertRefused(d, 7, /has no driver/, held));
    t.check('the PF keeps its 2 VFs and autoprobe, as before the failed disable', () => {
      assert.deepEqual(snapshot(), held);
      assert.deepEqual(recordedPfs(), [PF], 'gpuvirt still records the PF it enabled');
    });
    write('/sys/bus/pci/drivers_probe', PF);
    const rebound = await waitFor(() => driverOf(PF) === pfDriver, 10_000);
    const d2 = t.gpuvirt<SriovChangeData>('sriov', 'disable', PF, '--yes');
    t.check('with nvme back on the PF, disable removes the VFs and gpuvirt keeps no record', () => {
      assert.ok(rebound, `the PF is on ${driverOf(PF)}`);
      assertDone(d2);
      assertGone(vfs, boot, groupsAtBoot);
    });
  },
};

/**
 * No IOMMU: VFs can still be created, but vfio-pci cannot take them (its probe fails with
 * -EINVAL while drivers_probe reports success), so --bind vfio-pci must not leave VFs behind.
 */
export const sriovNoIommu: Scenario = {
  id: 'sriov without an IOMMU',
  machines: ['none'],
  checks: [
    'enable --bind vfio-pci is refused before any write (vfio-pci cannot bind without an IOMMU)',
    'the PF ends with its boot VF count and autoprobe, no VF left, no record, nothing on vfio-pci',
  ],
  run(t) {
    const boot = sriovOf(PF);
    const before = snapshot();
    const b = t.gpuvirt<SriovChangeData>('sriov', 'enable', PF, '--vfs', '2', '--bind', 'vfio-pci', '--yes');
    t.check('enable --bind vfio-pci is refused before any write (vfio-pci cannot bind without an IOMMU)', () => {
      assert.ok(b.status === 5 || b.status === 7, `exit status 5 or 7, not ${b.status}`);
      assert.ok((b.doc?.data?.refusals ?? []).some((x) => /IOMMU/i.test(x.message)), `no refusal about the IOMMU: ${JSON.stringify(b.doc?.data?.refusals)}`);
      assert.equal(b.doc?.data?.applied ?? null, null, 'something was applied');
      assert.deepEqual(snapshot(), before);
    });
    t.check('the PF ends with its boot VF count and autoprobe, no VF left, no record, nothing on vfio-pci', () => {
      assertGone(expectedVfs(PF, 2), boot, 0);
      const vfio = '/sys/bus/pci/drivers/vfio-pci';
      assert.deepEqual(exists(vfio) ? fs.readdirSync(vfio).filter((n) => /^[0-9a-f]{4}:/.test(n)) : [], []);
      return b.doc?.data?.applied ? `exit ${b.status}; rollback: ${b.doc.data.applied.rollback?.actions.join('; ')}` : `exit ${b.status}`;
    });
  },
};
