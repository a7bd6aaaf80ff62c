// The VM really starts with the device: gpuvirt's own `generate --target qemu` script, run by a
// QEMU inside the e2e guest against devices gpuvirt bound to vfio-pci. QEMU realizing a
// vfio-pci device means it opened the group and the device through VFIO, read its config space
// and regions and mapped the VM's memory for DMA. One nested guest (L2) boots and uses the edu
// (MMIO and DMA) on the Intel machine only: QEMU 7.2's AMD-Vi gets VFIO DMA wrong without an
// error. Facts: consumer-facts.md, "A VM that really uses a VFIO device, inside the real-kernel
// test guest".
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { DEV, MACHINES, MACHINE_SPECS } from '../../topology.js';
import type { Run } from '../commands.js';
import type { ChangeData, GenerateData, SriovChangeData } from '../contract.js';
import type { Scenario, Test } from '../framework.js';
import { childrenOf, deviceProps, VGA_VBE, L2_INITRD, L2_KERNEL, nestedProfile, qmp, qmpReturn, quit, runScript, startPaused, TCG, vfioFdsOf, type Started } from '../nested.js';
import { driverOf, groupOf, overrideOf, read, sh, virtfns, waitFor, write } from '../sysfs.js';
import { assertApplied } from './passthrough.js';
import { screen } from './singlegpu.js';

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

/** `gpuvirt generate PROFILE --target qemu [FLAGS]` for a small SeaBIOS VM with `devices`; the script saved as DIR/NAME.sh. */
function generate(t: Test, name: string, devices: Record<string, unknown>[], flags: readonly string[] = []): Generated {
  fs.mkdirSync(DIR, { recursive: true });
  const profile = `${DIR}/${name}.yaml`;
  fs.writeFileSync(profile, nestedProfile(name, devices));
  const r = t.gpuvirt<GenerateData>('generate', profile, '--target', 'qemu', ...flags);
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

/** How long L2's SeaBIOS may take to print its banner (nested TCG; no kernel is booted). */
const L2_FIRMWARE_MS = 60_000;
const VM_XVGA = 'xvga';
/**
 * The std VGA's option ROM as QEMU ships it. The kernel hands VFIO the boot display's ROM from
 * its shadow at 0xc0000: the copy L1's firmware already ran, which marks itself initialized
 * and so, run again in L2, installs no int 10h handler (nothing reaches the screen). A boot GPU
 * needs a romfile of its unrun ROM on real hosts for the same reason.
 */
const STDVGA_ROM = '/usr/share/seabios/vgabios-stdvga.bin';

/**
 * L1's legacy VGA text screen: the 80x25 cells (character, attribute) at 0xb8000, read through
 * /dev/mem (the kernel allows the first megabyte). The boot VGA, the only VGA-class device,
 * decodes that range; what L2 writes there through x-vga lands in the same memory.
 */
function textScreen(): string {
  const cells = Buffer.alloc(80 * 25 * 2);
  const fd = fs.openSync('/dev/mem', 'r');
  try {
    fs.readSync(fd, cells, 0, cells.length, 0xb8000);
  } finally {
    fs.closeSync(fd);
  }
  const rows: string[] = [];
  for (let r = 0; r < 25; r++) {
    let row = '';
    for (let c = 0; c < 80; c++) {
      const ch = cells[(r * 80 + c) * 2]!;
      row += ch >= 0x20 && ch < 0x7f ? String.fromCharCode(ch) : ' ';
    }
    rows.push(row.trimEnd());
  }
  return rows.join('\n').trim();
}

/**
 * Turns off the std VGA's VBE mode (Bochs DISPI, harness/vga-vbe.c) and says what it was.
 * bochs-drm leaves it on when it lets go of the device, and while it is on the device keeps its
 * legacy window in graphics mode at 0xa0000-0xaffff whatever the VGA registers say. L2's VGA
 * BIOS cannot turn it off: x-vga forwards only the legacy VGA ranges (0x3b0-0x3bb,
 * 0x3c0-0x3df, 0xa0000-0xbffff), not the VBE ports. A real GPU's BIOS re-initializes its own
 * hardware; this one needs the host to do that much.
 */
function vbeOff(): string {
  const r = sh([VGA_VBE, 'off']);
  if (r.status !== 0) throw new Error(`${VGA_VBE} off: exit ${r.status} (or a signal): ${r.out}`);
  const v = JSON.parse(r.out) as { was: string; now: string };
  if (v.now !== '0x0') throw new Error(`VBE is still on: ${r.out}`);
  return v.was;
}

/** The VGA's graphics controller register 6 (memory map; 0x0e in text mode 3: 0xb8000, odd/even), read by L1 through /dev/port. Only while L2 is stopped: it moves the index register. */
function gr6(): string {
  const f = fs.openSync('/dev/port', 'r+');
  try {
    const b = Buffer.from([6]);
    fs.writeSync(f, b, 0, 1, 0x3ce);
    fs.readSync(f, b, 0, 1, 0x3cf);
    return `0x${b[0]!.toString(16).padStart(2, '0')}`;
  } finally {
    fs.closeSync(f);
  }
}

const hmp = (command: string) => ({ execute: 'human-monitor-command', arguments: { 'command-line': command } });
const VGA_REGIONS = ['vfio-vga-mmio@0xa0000', 'vfio-vga-io@0x3b0', 'vfio-vga-io@0x3c0'];

interface FirmwareRun {
  s: Started;
  uuid: string;
  /** SeaBIOS's debug output (port 0x402): what it printed, also to the screen. */
  debug: () => string;
  /** QEMU, the script's child. */
  qemuPid: number | null;
}

/** The script started paused, with a fresh machine UUID (SeaBIOS shows it under its banner) and SeaBIOS's debug port in a file. */
async function startFirmware(script: string, name: string): Promise<FirmwareRun> {
  const uuid = randomUUID();
  const log = `${DIR}/${name}.seabios.log`;
  fs.rmSync(log, { force: true });
  const s = await startPaused(script, `${DIR}/${name}.qmp`, 120_000, ['-uuid', uuid, '-chardev', `file,id=seabios,path=${log}`, '-device', 'isa-debugcon,iobase=0x402,chardev=seabios']);
  return { s, uuid, debug: () => read(log) ?? '', qemuPid: childrenOf(s.run.proc.pid)[0] ?? null };
}

/** Asks QEMU to quit, then waits for the script: it gives the VGA back after QEMU exits. */
async function quitScript(f: FirmwareRun): Promise<void> {
  if (f.s.socket && !f.s.run.exited()) {
    try {
      await qmp(f.s.socket, [{ execute: 'quit' }], 10_000);
    } catch {
      // QEMU may close the socket before it answers
    }
  }
  if (!(await f.s.run.waitExit(60_000))) f.s.run.proc.kill('SIGTERM');
  await f.s.run.waitExit(30_000);
}

const debugTail = (f: FirmwareRun) => `SeaBIOS debug port (tail):\n${f.debug().trim().split('\n').slice(-20).join('\n')}\nQEMU and the script: ${f.s.run.output().trim()}`;

interface Printed {
  f: FirmwareRun;
  /** `info mtree -D` while paused. */
  mtree: string;
  /** GR6 before L2 ran and after (stopped). */
  gr6: [string, string];
  screen: string;
  /** SeaBIOS printed its UUID line and more after it (so the line went to the screen, if it could). */
  printed: boolean;
}

/** Runs the script (VBE off) until SeaBIOS has printed its UUID line on the debug port, stops L2, reads the VGA, quits. */
async function untilPrinted(script: string, name: string, runs: FirmwareRun[]): Promise<Printed> {
  const f = await startFirmware(script, name);
  runs.push(f);
  const out: Printed = { f, mtree: '', gr6: ['', ''], screen: '', printed: false };
  if (f.s.socket) {
    out.mtree = String(qmpReturn((await qmp(f.s.socket, [hmp('info mtree -D')]))[0]));
    vbeOff();
    out.gr6[0] = gr6();
    await qmp(f.s.socket, [{ execute: 'cont' }]);
    // Each character goes to the debug port before the screen: one more line after it, and the line is written.
    out.printed = await waitFor(() => new RegExp(`Machine UUID ${f.uuid}\\n.*\\n`).test(f.debug()), L2_FIRMWARE_MS);
    await qmp(f.s.socket, [{ execute: 'stop' }]);
    out.screen = textScreen();
    out.gr6[1] = gr6();
  }
  await quitScript(f);
  return out;
}

/** SeaBIOS printed its banner, but neither its mode set nor its text reached the VGA; the script gave the VGA back. */
function assertNothingShown(p: Printed, backAsAtBoot: () => void): string {
  assert.ok(p.f.s.socket, `QEMU did not start: ${p.f.s.run.output()}`);
  assert.ok(p.printed, `SeaBIOS did not print its UUID\n${debugTail(p.f)}`);
  assert.ok(!p.screen.includes(p.f.uuid), `the UUID reached the screen:\n${p.screen}`);
  assert.equal(p.gr6[1], p.gr6[0], 'L2\'s mode set reached the device\'s GR6');
  assert.equal(p.f.s.run.code(), 0, p.f.s.run.output());
  backAsAtBoot();
  return `GR6 stays ${p.gr6[1]}; the screen:\n${p.screen}`;
}

/** The ROM the kernel gives VFIO (sysfs `rom`), the memory at 0xc0000 of the same length, and the std VGA's ROM file. */
function romImages(): { kernel: Buffer; shadow: Buffer; file: Buffer } {
  const attr = `${PCI}/${DEV.bootVga}/rom`;
  write(attr, '1');
  let kernel: Buffer;
  try {
    kernel = fs.readFileSync(attr);
  } finally {
    write(attr, '0');
  }
  const shadow = Buffer.alloc(kernel.length);
  const fd = fs.openSync('/dev/mem', 'r');
  try {
    fs.readSync(fd, shadow, 0, shadow.length, 0xc0000);
  } finally {
    fs.closeSync(fd);
  }
  return { kernel, shadow, file: fs.readFileSync(STDVGA_ROM) };
}

/**
 * The boot display (QEMU's std VGA: class 0x030000, bochs-drm, vgaarb's default device) handed
 * to a VM by gpuvirt's own `generate --single-gpu` script, with x-vga (its default for a
 * VGA-class primary display with SeaBIOS): QEMU opens the VFIO VGA region, L2's SeaBIOS runs
 * the device's VGA option ROM and writes its banner through the legacy VGA ranges into the
 * device; the same script without x-vga is the control. The script gives the VGA back.
 */
export const nestedXVga: Scenario = {
  id: 'nested VM: the boot VGA with x-vga, from a --single-gpu script',
  machines: NESTED,
  checks: [
    'at boot the VGA is class 0x030000, vgaarb\'s boot device, on bochs-drm with its framebuffer, DRM card and fbcon bound',
    'generate --single-gpu passes it as the primary display with x-vga=on (the default for a VGA-class function with SeaBIOS) inside the hand-over',
    'the script hands the VGA to vfio-pci (fbcon unbound, its framebuffer and DRM card gone) and QEMU starts paused with it realized, x-vga on, holding /dev/vfio/GROUP',
    'QEMU opened the VFIO VGA region: L2\'s legacy VGA ranges are the device\'s (info mtree: vfio-vga-mmio@0xa0000, vfio-vga-io@0x3b0, vfio-vga-io@0x3c0)',
    'L2\'s SeaBIOS makes the passed VGA its primary display and runs its option ROM (debug port: "Enabling … for primary VGA", "Running option rom at c000:…")',
    'L2\'s VGA BIOS sets text mode in the device (GR6 becomes 0x0e) and SeaBIOS\'s banner with this run\'s machine UUID appears in its text memory (L1 reads 0xb8000 through /dev/mem)',
    'QEMU quits; the script exits 0 and gives the VGA back: bochs-drm with its framebuffer and DRM card, fbcon bound, no driver_override',
    'control: the same script without x-vga: no VGA region; SeaBIOS prints its banner with its UUID (debug port) but neither the mode set nor the text reaches the VGA; given back again',
    'without rom.file, VFIO gives L2 the kernel\'s ROM, the shadow at 0xc0000 that L1\'s firmware already ran: L2 runs it, it sets no mode and nothing reaches the screen (why the profile names the ROM file)',
  ],
  async run(t) {
    const slot = [DEV.bootVga];
    const boot = screen(slot);
    const runs: FirmwareRun[] = [];
    // Whatever happened: QEMU and the script stopped, and the boot display given back by hand.
    t.cleanup(() => {
      for (const f of runs) {
        if (f.s.run.exited()) continue;
        for (const pid of childrenOf(f.s.run.proc.pid)) process.kill(pid, 'SIGKILL');
        f.s.run.proc.kill('SIGKILL');
      }
      if (driverOf(DEV.bootVga) === 'vfio-pci') write('/sys/bus/pci/drivers/vfio-pci/unbind', DEV.bootVga);
      if (overrideOf(DEV.bootVga) !== null) write(`${PCI}/${DEV.bootVga}/driver_override`, '\n');
      if (driverOf(DEV.bootVga) === null) {
        sh(['modprobe', 'bochs']);
        write('/sys/bus/pci/drivers_probe', DEV.bootVga);
      }
      for (const c of boot.fbcon) {
        const [v = '', bound] = c.split('=');
        if (bound === '1' && read(`/sys/class/vtconsole/${v}/bind`) !== '1') write(`/sys/class/vtconsole/${v}/bind`, '1');
      }
      for (const vm of [VM_XVGA, `${VM_XVGA}-shadow`]) fs.rmSync(`/run/gpuvirt-singlegpu-${vm}.state`, { force: true });
    });
    const backAsAtBoot = () => assert.deepEqual(screen(slot), boot);
    t.check('at boot the VGA is class 0x030000, vgaarb\'s boot device, on bochs-drm with its framebuffer, DRM card and fbcon bound', () => {
      assert.equal(read(`${PCI}/${DEV.bootVga}/class`), '0x030000', 'class');
      assert.equal(read(`${PCI}/${DEV.bootVga}/boot_vga`), '1', 'boot_vga');
      assert.deepEqual({ ...boot, fbcon: [] }, { drivers: ['bochs-drm'], overrides: [null], fbcon: [], fb: true, drm: true });
      assert.ok(boot.fbcon.length > 0 && boot.fbcon.every((c) => c.endsWith('=1')), `fbcon: ${boot.fbcon.join(' ') || 'none'}`);
      return JSON.stringify(boot);
    });
    const g = generate(t, VM_XVGA, [{ type: 'gpu', select: { address: DEV.bootVga }, primary: true, rom: { file: STDVGA_ROM } }], ['--single-gpu']);
    let id = 'hostpci0.0';
    t.check('generate --single-gpu passes it as the primary display with x-vga=on (the default for a VGA-class function with SeaBIOS) inside the hand-over', () => {
      const [dev] = assertGenerated(g, [DEV.bootVga]);
      assert.equal(prop(dev!, 'x-vga'), 'on', dev!);
      assert.equal(prop(dev!, 'romfile'), STDVGA_ROM, dev!);
      const script = g.r.doc!.data!.output!;
      assert.match(script, new RegExp(`^FUNCS='${DEV.bootVga}'$`, 'm'), 'the hand-over does not name the VGA');
      assert.match(script, /^handover \|\| /m, 'no hand-over before QEMU');
      id = prop(dev!, 'id') ?? id;
      return dev;
    });

    const on = await startFirmware(g.script, 'xvga');
    runs.push(on);
    const group = groupOf(DEV.bootVga);
    const during = screen(slot);
    await t.checkAsync('the script hands the VGA to vfio-pci (fbcon unbound, its framebuffer and DRM card gone) and QEMU starts paused with it realized, x-vga on, holding /dev/vfio/GROUP', async () => {
      assert.deepEqual(during.drivers, ['vfio-pci'], JSON.stringify(during));
      assert.ok(during.fbcon.length > 0 && during.fbcon.every((c) => c.endsWith('=0')), `fbcon: ${during.fbcon.join(' ')}`);
      assert.deepEqual([during.fb, during.drm], [false, false], 'framebuffer, DRM card');
      const got = await assertRealized(on.s, [id], ['x-vga', 'host']);
      assert.equal(got[id]?.['x-vga'], true, 'x-vga');
      const fds = vfioFdsOf(on.qemuPid ?? undefined);
      assert.ok(fds.includes(`/dev/vfio/${group}`), `QEMU (pid ${on.qemuPid}) holds ${JSON.stringify(fds)}`);
      return `${on.s.ms} ms: ${JSON.stringify(got)}; QEMU holds ${fds.join(' ')}`;
    });
    await t.checkAsync('QEMU opened the VFIO VGA region: L2\'s legacy VGA ranges are the device\'s (info mtree: vfio-vga-mmio@0xa0000, vfio-vga-io@0x3b0, vfio-vga-io@0x3c0)', async () => {
      assert.ok(on.s.socket, 'QEMU did not start');
      const mtree = String(qmpReturn((await qmp(on.s.socket, [hmp('info mtree -D')]))[0]));
      for (const r of VGA_REGIONS) assert.ok(mtree.includes(r), `no ${r} in info mtree`);
      return [...new Set(mtree.split('\n').filter((l) => l.includes('vfio-vga')).map((l) => l.trim()))].join(' | ');
    });
    let shown = '';
    let seconds = '';
    let vbe = '';
    const mode = { before: '', after: '' };
    if (on.s.socket) {
      vbe = vbeOff();
      mode.before = gr6();
      const t0 = Date.now();
      await qmp(on.s.socket, [{ execute: 'cont' }]);
      await waitFor(() => textScreen().includes(`Machine UUID ${on.uuid}`), L2_FIRMWARE_MS);
      seconds = ((Date.now() - t0) / 1000).toFixed(1);
      await qmp(on.s.socket, [{ execute: 'stop' }]);
      shown = textScreen();
      mode.after = gr6();
    }
    t.check('L2\'s SeaBIOS makes the passed VGA its primary display and runs its option ROM (debug port: "Enabling … for primary VGA", "Running option rom at c000:…")', () => {
      const d = on.debug();
      assert.match(d, /^PCI: Enabling \S+ for primary VGA$/m, debugTail(on));
      assert.match(d, /^Running option rom at c000:[0-9a-f]{4}$/m, debugTail(on));
      return d.split('\n').filter((l) => /primary VGA|VGA enable|option rom|vga text/i.test(l)).join(' | ');
    });
    t.check('L2\'s VGA BIOS sets text mode in the device (GR6 becomes 0x0e) and SeaBIOS\'s banner with this run\'s machine UUID appears in its text memory (L1 reads 0xb8000 through /dev/mem)', () => {
      assert.ok(shown.includes(`Machine UUID ${on.uuid}`), `after ${seconds} s (VBE enable was ${vbe}, turned off; GR6 ${mode.before} → ${mode.after}) the screen is:\n${shown}\n${debugTail(on)}`);
      assert.match(shown, /^SeaBIOS \(version \S+\)$/m, shown);
      assert.equal(mode.after, '0x0e', `GR6 ${mode.before} → ${mode.after}`);
      return `${seconds} s after cont (VBE enable was ${vbe}, turned off; GR6 ${mode.before} → ${mode.after}):\n${shown}`;
    });
    await quitScript(on);
    t.check('QEMU quits; the script exits 0 and gives the VGA back: bochs-drm with its framebuffer and DRM card, fbcon bound, no driver_override', () => {
      assert.ok(on.s.run.exited(), 'the script is still running');
      assert.equal(on.s.run.code(), 0, on.s.run.output());
      assert.match(on.s.run.output(), /given back \(status 0\)/);
      backAsAtBoot();
      assert.equal(fs.existsSync(`/run/gpuvirt-singlegpu-${VM_XVGA}.state`), false, 'the hand-over\'s state file is left');
    });

    // The control: the same script, x-vga taken out by hand.
    const plain = `${DIR}/xvga-off.sh`;
    fs.writeFileSync(plain, fs.readFileSync(g.script, 'utf8').replace(',x-vga=on', ''));
    const off = await untilPrinted(plain, 'xvga-off', runs);
    t.check('control: the same script without x-vga: no VGA region; SeaBIOS prints its banner with its UUID (debug port) but neither the mode set nor the text reaches the VGA; given back again', () => {
      assert.ok(!fs.readFileSync(plain, 'utf8').includes('x-vga'), 'x-vga is still in the script');
      for (const r of VGA_REGIONS) assert.ok(!off.mtree.includes(r), `${r} in info mtree without x-vga`);
      return assertNothingShown(off, backAsAtBoot);
    });

    // Without the ROM file: gpuvirt's script as generated from a profile without rom.file.
    const rom = romImages();
    const sg = generate(t, `${VM_XVGA}-shadow`, [{ type: 'gpu', select: { address: DEV.bootVga }, primary: true }], ['--single-gpu']);
    const shadow = await untilPrinted(sg.script, 'xvga-shadow', runs);
    t.check('without rom.file, VFIO gives L2 the kernel\'s ROM, the shadow at 0xc0000 that L1\'s firmware already ran: L2 runs it, it sets no mode and nothing reaches the screen (why the profile names the ROM file)', () => {
      const [dev] = assertGenerated(sg, [DEV.bootVga]);
      assert.equal(prop(dev!, 'x-vga'), 'on', dev!);
      assert.equal(prop(dev!, 'romfile'), null, dev!);
      assert.ok(rom.kernel.length > 0, 'the kernel gave no ROM');
      assert.ok(rom.kernel.equals(rom.shadow), 'the kernel\'s ROM is not the copy at 0xc0000');
      assert.ok(!rom.kernel.equals(rom.file.subarray(0, rom.kernel.length)), 'the kernel\'s ROM is the unrun file');
      assert.match(shadow.f.debug(), /^Start SeaVGABIOS/m, debugTail(shadow.f));
      for (const r of VGA_REGIONS) assert.ok(shadow.mtree.includes(r), `no ${r} in info mtree`);
      return `the kernel's ROM: ${rom.kernel.length} bytes, the same as at 0xc0000; the file: ${rom.file.length} bytes. ${assertNothingShown(shadow, backAsAtBoot)}`;
    });
  },
};
