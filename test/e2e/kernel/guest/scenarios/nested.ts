// The VM really starts with the device: gpuvirt's own `generate --target qemu` script, run by a
// QEMU inside the e2e guest against devices gpuvirt bound to vfio-pci. QEMU realizing a
// vfio-pci device means it opened the group and the device through VFIO, read its config space
// and regions and mapped the VM's memory for DMA. One nested guest (L2) boots and uses the edu
// (MMIO and DMA) on the Intel machine only: QEMU 7.2's AMD-Vi gets VFIO DMA wrong without an
// error. Facts: consumer-facts.md, "A VM that really uses a VFIO device, inside the real-kernel
// test guest".
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { DEV, MACHINES, MACHINE_SPECS } from '../../topology.js';
import type { Run } from '../commands.js';
import type { ChangeData, GenerateData, SriovChangeData } from '../contract.js';
import type { Scenario, Test } from '../framework.js';
import { deviceProps, L2_INITRD, L2_KERNEL, nestedProfile, quit, runScript, startPaused, TCG, vfioFdsOf, type Started } from '../nested.js';
import { driverOf, groupOf, overrideOf, sh, virtfns, write } from '../sysfs.js';
import { assertApplied } from './passthrough.js';

const NESTED = MACHINES.filter((m) => MACHINE_SPECS[m].nested);
const DIR = '/tmp/nested';
const PCI = '/sys/bus/pci/devices';
/** An L2 boot takes 35-45 s on a quiet 2-core machine, 100-180 s on one running other suites too. */
const L2_BOOT_MS = 300_000;
/**
 * L2's kernel command line: its console at 115200 baud (QEMU paces a serial port at its baud
 * rate); and, since every instruction is emulated twice over, nothing L2 does not need: no
 * speculation mitigations, no W+X scan of the kernel mappings, no LSMs, no TSC watchdog. ACPI
 * stays: without it L2's kernel boots faster but reads nothing through the edu's BAR.
 */
const L2_CMDLINE = 'console=ttyS0,115200 quiet panic=-1 no_timer_check mitigations=off rodata=off lsm=capability tsc=reliable';

interface Generated {
  r: Run<GenerateData>;
  script: string;
  argv: string[];
}

/** `gpuvirt generate PROFILE --target qemu` for a small SeaBIOS VM with `devices`; the script saved as DIR/NAME.sh. */
function generate(t: Test, name: string, devices: Record<string, unknown>[]): Generated {
  fs.mkdirSync(DIR, { recursive: true });
  const profile = `${DIR}/${name}.yaml`;
  fs.writeFileSync(profile, nestedProfile(name, devices));
  const r = t.gpuvirt<GenerateData>('generate', profile, '--target', 'qemu');
  const script = `${DIR}/${name}.sh`;
  fs.writeFileSync(script, r.doc?.data?.output ?? 'exit 99\n');
  return { r, script, argv: r.doc?.data?.argv ?? [] };
}

/** The -device vfio-pci,... values of an argv. */
const vfioDevices = (argv: readonly string[]) => argv.filter((a, i) => argv[i - 1] === '-device' && a.startsWith('vfio-pci,'));
const prop = (device: string, key: string) => device.split(',').find((kv) => kv.startsWith(`${key}=`))?.slice(key.length + 1) ?? null;

/** generate exited 0 and its script passes exactly `hosts`, in order, as vfio-pci devices. */
function assertGenerated(g: Generated, hosts: readonly string[]): string[] {
  assert.equal(g.r.status, 0, 'generate exit status');
  assert.ok(g.r.doc?.data?.output?.startsWith('#!/bin/sh'), 'generate printed no script');
  const devs = vfioDevices(g.argv);
  assert.deepEqual(devs.map((d) => prop(d, 'host')), hosts, `vfio-pci hosts in ${JSON.stringify(devs)}`);
  return devs;
}

/** QEMU answered QMP (it got past creating its devices) and each id is realized. */
async function assertRealized(s: Started, ids: readonly string[], props: readonly string[] = []): Promise<Record<string, Record<string, unknown>>> {
  assert.ok(s.socket, `QEMU did not start (exit ${s.run.code()} after ${s.ms} ms): ${s.run.output().trim()}`);
  const got = await deviceProps(s.socket, ids, ['realized', ...props]);
  for (const id of ids) assert.equal(got[id]?.realized, true, `${id}: ${JSON.stringify(got[id])}`);
  return got;
}

/** QEMU exited with status 1 before serving QMP, saying `lines` (each exactly, somewhere in its error output). */
function assertRefused(s: Started, lines: readonly string[]): string {
  assert.equal(s.socket, null, 'QEMU started the VM');
  assert.equal(s.run.code(), 1, `exit status (output: ${s.run.output().trim()})`);
  for (const l of lines) assert.ok(s.run.output().includes(l), `QEMU did not say ${JSON.stringify(l)}: ${s.run.output().trim()}`);
  return `${s.ms} ms: ${s.run.output().trim()}`;
}

/** Stops every VM the scenario started, whatever happened. */
function vms(t: Test): (s: Started) => Started {
  const started: Started[] = [];
  t.cleanup(() => {
    for (const s of started) if (!s.run.exited()) s.run.proc.kill('SIGKILL');
  });
  return (s) => {
    started.push(s);
    return s;
  };
}

/** The edu alone in its group: refused before vfio-pci has it, realized after, refused again while a VM holds it. */
export const nestedEdu: Scenario = {
  id: 'nested VM: the edu, from gpuvirt\'s script',
  machines: NESTED,
  checks: [
    'generate --target qemu passes the edu as one vfio-pci device',
    'before passthrough QEMU refuses it: "failed to open /dev/vfio/GROUP: No such file or directory"',
    'passthrough puts the edu on vfio-pci',
    'the VM starts (paused) with the edu realized, and QEMU holds /dev/vfio/GROUP',
    'a second VM from the script is refused while the first runs: "failed to open /dev/vfio/GROUP: Device or resource busy"',
    'release gives the edu back once the VMs are gone',
  ],
  async run(t) {
    const keep = vms(t);
    const group = groupOf(DEV.edu);
    const g = generate(t, 'edu', [{ type: 'gpu', select: { address: DEV.edu } }]);
    let id = 'hostpci0.0';
    t.check('generate --target qemu passes the edu as one vfio-pci device', () => {
      const [dev] = assertGenerated(g, [DEV.edu]);
      id = prop(dev!, 'id') ?? id;
      return dev;
    });
    const before = keep(await startPaused(g.script, `${DIR}/edu-0.qmp`));
    t.check('before passthrough QEMU refuses it: "failed to open /dev/vfio/GROUP: No such file or directory"', () => {
      assert.equal(driverOf(DEV.edu), null, 'the edu has a driver');
      return assertRefused(before, [`failed to open /dev/vfio/${group}: No such file or directory`]);
    });
    const p = t.gpuvirt<ChangeData>('passthrough', DEV.edu, '--yes');
    t.check('passthrough puts the edu on vfio-pci', () => {
      assertApplied(p);
      assert.equal(driverOf(DEV.edu), 'vfio-pci');
    });
    const first = keep(await startPaused(g.script, `${DIR}/edu-1.qmp`));
    await t.checkAsync('the VM starts (paused) with the edu realized, and QEMU holds /dev/vfio/GROUP', async () => {
      const props = await assertRealized(first, [id], ['host']);
      const fds = vfioFdsOf(first.run.proc.pid);
      assert.ok(fds.includes(`/dev/vfio/${group}`), `QEMU's open /dev/vfio nodes: ${JSON.stringify(fds)}`);
      return `${first.ms} ms to realized: ${JSON.stringify(props)}; open: ${fds.join(' ')}`;
    });
    const second = keep(await startPaused(g.script, `${DIR}/edu-2.qmp`));
    t.check('a second VM from the script is refused while the first runs: "failed to open /dev/vfio/GROUP: Device or resource busy"', () => {
      assert.ok(!first.run.exited(), 'the first VM is gone');
      return assertRefused(second, [`failed to open /dev/vfio/${group}: Device or resource busy`]);
    });
    await quit(first);
    const rel = t.gpuvirt<ChangeData>('release', DEV.edu, '--yes');
    t.check('release gives the edu back once the VMs are gone', () => {
      assert.ok(first.run.exited(), 'the first VM did not quit');
      assertApplied(rel);
      assert.equal(driverOf(DEV.edu), null);
    });
  },
};

/** The edu behind the PCI bridge on vfio-pci by hand, its group peer (the e1000) left on e1000. */
export const nestedNotViable: Scenario = {
  id: 'nested VM: a group with a device still on its host driver',
  machines: NESTED,
  checks: [
    'setup: the bridged edu is on vfio-pci, the e1000 in its group still on e1000',
    'QEMU refuses gpuvirt\'s script: "group GROUP is not viable" and "Please ensure all devices within the iommu_group are bound to their vfio bus driver."',
  ],
  async run(t) {
    const keep = vms(t);
    const group = groupOf(DEV.bridgedEdu);
    sh(['modprobe', 'vfio-pci']);
    const undo = () => {
      if (driverOf(DEV.bridgedEdu) === 'vfio-pci') write('/sys/bus/pci/drivers/vfio-pci/unbind', DEV.bridgedEdu);
      if (overrideOf(DEV.bridgedEdu) !== null) write(`${PCI}/${DEV.bridgedEdu}/driver_override`, '\n');
    };
    t.cleanup(undo);
    write(`${PCI}/${DEV.bridgedEdu}/driver_override`, 'vfio-pci');
    write('/sys/bus/pci/drivers_probe', DEV.bridgedEdu);
    t.check('setup: the bridged edu is on vfio-pci, the e1000 in its group still on e1000', () => {
      assert.equal(driverOf(DEV.bridgedEdu), 'vfio-pci');
      assert.equal(driverOf(DEV.bridgedNic), 'e1000');
      assert.equal(groupOf(DEV.bridgedNic), group, 'the e1000 is in the edu\'s group');
    });
    const g = generate(t, 'bridged', [{ type: 'gpu', select: { address: DEV.bridgedEdu } }]);
    const s = keep(await startPaused(g.script, `${DIR}/bridged.qmp`));
    t.check('QEMU refuses gpuvirt\'s script: "group GROUP is not viable" and "Please ensure all devices within the iommu_group are bound to their vfio bus driver."', () => {
      assertGenerated(g, [DEV.bridgedEdu]);
      return assertRefused(s, [`group ${group} is not viable`, 'Please ensure all devices within the iommu_group are bound to their vfio bus driver.']);
    });
    undo();
  },
};

/** The multifunction GPU-like slot: a display controller (class 0380, not VGA) and its audio function. */
export const nestedGpuSlot: Scenario = {
  id: 'nested VM: the GPU slot, primary, without x-vga',
  machines: NESTED,
  checks: [
    'generate passes both functions in one guest slot (multifunction) and no x-vga: the display function is not VGA class',
    'passthrough puts the slot on vfio-pci',
    'the VM starts (paused) with both functions realized and x-vga off',
    'QEMU itself refuses the same script with x-vga=on on this function (why generate leaves it out)',
    'release gives the slot back',
  ],
  async run(t) {
    const keep = vms(t);
    const g = generate(t, 'gpu', [{ type: 'gpu', select: { address: DEV.gpu }, primary: true }]);
    let ids: string[] = ['hostpci0.0', 'hostpci0.1'];
    t.check('generate passes both functions in one guest slot (multifunction) and no x-vga: the display function is not VGA class', () => {
      const devs = assertGenerated(g, [DEV.gpu, DEV.gpuAudio]);
      assert.equal(fs.readFileSync(`${PCI}/${DEV.gpu}/class`, 'utf8').trim(), '0x038000', 'the display function\'s class');
      assert.equal(prop(devs[0]!, 'multifunction'), 'on');
      assert.deepEqual(devs.map((d) => [prop(d, 'bus'), prop(d, 'addr')]), [[prop(devs[0]!, 'bus'), '0x0.0'], [prop(devs[0]!, 'bus'), '0x0.1']]);
      assert.ok(!g.argv.some((a) => a.includes('x-vga')), 'x-vga in the argv');
      ids = devs.map((d) => prop(d, 'id')!);
      return devs.join(' ');
    });
    const p = t.gpuvirt<ChangeData>('passthrough', DEV.gpu, '--yes');
    t.check('passthrough puts the slot on vfio-pci', () => {
      assertApplied(p);
      assert.deepEqual([driverOf(DEV.gpu), driverOf(DEV.gpuAudio)], ['vfio-pci', 'vfio-pci']);
    });
    const s = keep(await startPaused(g.script, `${DIR}/gpu.qmp`));
    await t.checkAsync('the VM starts (paused) with both functions realized and x-vga off', async () => {
      const got = await assertRealized(s, ids, ['x-vga', 'multifunction']);
      assert.equal(got[ids[0]!]?.['x-vga'], false, 'x-vga');
      return `${s.ms} ms: ${JSON.stringify(got)}`;
    });
    await quit(s);
    // The one change a user might make by hand: x-vga=on on function 0.
    const forced = `${DIR}/gpu-x-vga.sh`;
    fs.writeFileSync(forced, fs.readFileSync(g.script, 'utf8').replace(`host=${DEV.gpu},`, `host=${DEV.gpu},x-vga=on,`));
    const x = keep(await startPaused(forced, `${DIR}/gpu-x-vga.qmp`));
    t.check('QEMU itself refuses the same script with x-vga=on on this function (why generate leaves it out)', () => {
      assert.ok(fs.readFileSync(forced, 'utf8').includes('x-vga=on'), 'the edited script has no x-vga=on');
      // The kernel's vfio-pci offers the VGA region only on a VGA-class function.
      return assertRefused(x, [`vfio ${DEV.gpu}: failed getting region info for VGA region index 8: Invalid argument`, 'device does not support requested feature x-vga']);
    });
    const rel = t.gpuvirt<ChangeData>('release', DEV.gpu, '--yes');
    t.check('release gives the slot back', () => {
      assert.ok(s.run.exited(), 'the VM did not quit');
      assertApplied(rel);
    });
  },
};

/** An SR-IOV VF of the nvme PF, made and bound by `gpuvirt sriov enable --bind vfio-pci`. */
export const nestedVf: Scenario = {
  id: 'nested VM: an SR-IOV VF',
  machines: NESTED,
  checks: [
    'sriov enable --vfs 1 --bind vfio-pci exits 0 with the VF on vfio-pci',
    'generate passes the VF (resolved from the PF and VF index) as vfio-pci',
    'the VM starts (paused) with the VF realized',
    'sriov disable exits 0 once the VM is gone',
  ],
  async run(t) {
    const keep = vms(t);
    const e = t.gpuvirt<SriovChangeData>('sriov', 'enable', DEV.nvme, '--vfs', '1', '--bind', 'vfio-pci', '--yes');
    const [vf] = virtfns(DEV.nvme);
    t.check('sriov enable --vfs 1 --bind vfio-pci exits 0 with the VF on vfio-pci', () => {
      assertApplied(e);
      assert.ok(vf, 'no VF');
      assert.equal(driverOf(vf), 'vfio-pci');
      return vf;
    });
    const g = generate(t, 'vf', [{ type: 'vf', pf: { address: DEV.nvme }, vf: 0, vfCount: 1 }]);
    let id = 'hostpci0.0';
    t.check('generate passes the VF (resolved from the PF and VF index) as vfio-pci', () => {
      const [dev] = assertGenerated(g, [vf ?? '(no VF)']);
      id = prop(dev!, 'id') ?? id;
      return dev;
    });
    const s = keep(await startPaused(g.script, `${DIR}/vf.qmp`));
    await t.checkAsync('the VM starts (paused) with the VF realized', async () => {
      const got = await assertRealized(s, [id], ['host']);
      assert.ok(vfioFdsOf(s.run.proc.pid).includes(`/dev/vfio/${groupOf(vf!)}`), 'QEMU does not hold the VF\'s group');
      return `${s.ms} ms: ${JSON.stringify(got)}`;
    });
    await quit(s);
    const d = t.gpuvirt<SriovChangeData>('sriov', 'disable', DEV.nvme, '--yes');
    t.check('sriov disable exits 0 once the VM is gone', () => {
      assert.ok(s.run.exited(), 'the VM did not quit');
      assertApplied(d);
      assert.deepEqual(virtfns(DEV.nvme), []);
    });
  },
};

interface EduReport {
  address?: string;
  id?: string;
  liveness?: string;
  error?: string;
  dma?: { bytes: number; toDevice: boolean; toRam: boolean; match: boolean; restUntouched: boolean; firstBytes: string; ms: number };
}

/** One L2 boot: the edu passed by gpuvirt's script, used by L2's /init (harness/edu-probe.c). */
export const nestedL2: Scenario = {
  id: 'nested VM: an L2 guest boots from gpuvirt\'s script and uses the edu',
  // DMA through VFIO is only right under QEMU's VT-d (consumer-facts).
  machines: NESTED.filter((m) => MACHINE_SPECS[m].iommu === 'intel'),
  checks: [
    'L2 boots with the edu, reports and resets (QEMU, started with -no-reboot, exits 0)',
    'L2 finds the edu at the guest address the script gives it (0000:01:00.0)',
    'L2 reads the edu\'s identification register through VFIO: 0x010000ed',
    'L2\'s liveness write comes back inverted (0x12345678 → 0xedcba987)',
    'L2\'s DMA RAM → edu → RAM (2048 bytes) comes back identical, and nothing past it is written',
  ],
  async run(t) {
    const keep = vms(t);
    const g = generate(t, 'l2', [{ type: 'gpu', select: { address: DEV.edu } }]);
    const p = t.gpuvirt<ChangeData>('passthrough', DEV.edu, '--yes');
    const started = Date.now();
    let report: EduReport | null = null;
    let boot: ReturnType<typeof runScript> | null = null;
    if (p.status === 0 && g.r.status === 0) {
      boot = runScript(g.script, [...TCG, '-kernel', L2_KERNEL, '-initrd', L2_INITRD, '-append', L2_CMDLINE, '-serial', 'stdio', '-no-reboot']);
      keep({ run: boot, socket: null, ms: 0 });
      await boot.waitExit(L2_BOOT_MS);
      const line = /^@@edu (\{.*\})\s*$/m.exec(boot.stdout())?.[1];
      if (line) report = JSON.parse(line) as EduReport;
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const l2Log = () => `L2 console (tail): ${boot?.stdout().trim().split('\n').slice(-15).join('\n') ?? '(not started)'}\nQEMU: ${boot?.output().trim() ?? ''}`;
    t.check('L2 boots with the edu, reports and resets (QEMU, started with -no-reboot, exits 0)', () => {
      assertApplied(p);
      assertGenerated(g, [DEV.edu]);
      assert.ok(boot && boot.exited(), `QEMU still running after ${L2_BOOT_MS / 1000} s\n${l2Log()}`);
      assert.equal(boot.code(), 0, l2Log());
      assert.ok(report, `no @@edu line\n${l2Log()}`);
      return `${seconds} s: ${JSON.stringify(report)}`;
    });
    t.check('L2 finds the edu at the guest address the script gives it (0000:01:00.0)', () => assert.equal(report?.address, '0000:01:00.0', JSON.stringify(report)));
    t.check('L2 reads the edu\'s identification register through VFIO: 0x010000ed', () => assert.equal(report?.id, '0x010000ed', JSON.stringify(report)));
    t.check('L2\'s liveness write comes back inverted (0x12345678 → 0xedcba987)', () => assert.equal(report?.liveness, '0xedcba987', JSON.stringify(report)));
    t.check('L2\'s DMA RAM → edu → RAM (2048 bytes) comes back identical, and nothing past it is written', () => {
      const d = report?.dma;
      assert.ok(d, JSON.stringify(report));
      assert.deepEqual([d.toDevice, d.toRam, d.match, d.restUntouched], [true, true, true, true], JSON.stringify(d));
      return JSON.stringify(d);
    });
    await boot?.kill();
    t.gpuvirt<ChangeData>('release', DEV.edu, '--yes');
  },
};
