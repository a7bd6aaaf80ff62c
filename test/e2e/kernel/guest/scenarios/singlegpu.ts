// Single-GPU hand-over on the real kernel: the GPU-like slot (bochs-display on bochs-drm with its
// fbdev framebuffer under fbcon, and its HDA function) is handed to vfio-pci by the hook
// `gpuvirt singlegpu` installs and by a `generate --single-gpu` QEMU script around a no-op
// QEMU, then given back; and a failure injected at a step of either direction gives the screen
// back. A sysfs attribute made read-only (chmod) fails its write with EACCES even for root
// (kernfs checks the mode at open); a hand-over fault is healed by the `logger` stand-in when
// the hook logs "hand-over failed", so what is checked is the give-back's answer to it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEV } from '../../topology.js';
import type { Scenario, Test } from '../framework.js';
import { driverOf, groupOf, overrideOf, read } from '../sysfs.js';
import { assertViable } from './passthrough.js';

const VM = 'e2e';
const HOOK = `/etc/libvirt/hooks/qemu.d/gpuvirt-singlegpu-${VM}`;
const DIR = '/tmp/e2e-singlegpu';
const STUBS = `${DIR}/bin`;
const SLOT = [DEV.gpu, DEV.gpuAudio];
const PCI = '/sys/bus/pci';

export interface Screen {
  drivers: (string | null)[];
  overrides: (string | null)[];
  /** The frame buffer consoles and whether each is bound. */
  fbcon: string[];
  /** The GPU's fbdev and DRM nodes, by the device they belong to. */
  fb: boolean;
  drm: boolean;
}

/** A class device (fbN, cardN) whose `device` link is `addr`, and its /dev node. */
function classNode(cls: string, match: RegExp, dev: (n: string) => string, addr: string): boolean {
  const dir = `/sys/class/${cls}`;
  return (fs.existsSync(dir) ? fs.readdirSync(dir) : []).some((n) => {
    if (!match.test(n)) return false;
    try {
      return path.basename(fs.realpathSync(`${dir}/${n}/device`)) === addr && fs.existsSync(dev(n));
    } catch {
      return false;
    }
  });
}

/** The drivers of a GPU's functions, fbcon, and the framebuffer and DRM card of function 0 (`slot[0]`). */
export function screen(slot: readonly string[] = SLOT): Screen {
  const vt = '/sys/class/vtconsole';
  const fbcon = fs.readdirSync(vt).filter((v) => /frame buffer/.test(read(`${vt}/${v}/name`) ?? '')).map((v) => `${v}=${read(`${vt}/${v}/bind`)}`);
  return {
    drivers: slot.map(driverOf), overrides: slot.map(overrideOf), fbcon,
    fb: classNode('graphics', /^fb\d+$/, (n) => `/dev/${n}`, slot[0]!),
    drm: classNode('drm', /^card\d+$/, (n) => `/dev/dri/${n}`, slot[0]!),
  };
}

const BACK: Screen = { drivers: ['bochs-drm', 'snd_hda_intel'], overrides: [null, null], fbcon: [], fb: true, drm: true };
function assertBack(s: Screen, boot: Screen): void {
  assert.deepEqual(s, { ...BACK, fbcon: boot.fbcon });
}

function assertHandedOver(s: Screen): void {
  assert.deepEqual(s.drivers, ['vfio-pci', 'vfio-pci'], 'both functions on vfio-pci');
  assert.ok(s.fbcon.length > 0 && s.fbcon.every((c) => c.endsWith('=0')), `fbcon unbound: ${s.fbcon.join(' ')}`);
  assert.equal(s.fb, false, 'the GPU\'s framebuffer is gone');
  assert.equal(s.drm, false, 'the GPU\'s DRM card is gone');
}

/** Stand-ins on PATH: `logger` runs the heal script when a hand-over fails; `modprobe` fails for what `fail-modprobe` names. */
function stubs(): void {
  fs.mkdirSync(STUBS, { recursive: true });
  fs.writeFileSync(`${STUBS}/logger`, `#!/bin/sh\ncase "$*" in *"hand-over failed"*) [ -f ${DIR}/heal ] && sh ${DIR}/heal;; esac\nexit 0\n`, { mode: 0o755 });
  fs.writeFileSync(`${STUBS}/modprobe`, `#!/bin/sh\n[ "$1" = "$(cat ${DIR}/fail-modprobe 2>/dev/null)" ] && exit 1\nexec /sbin/modprobe "$@"\n`, { mode: 0o755 });
}

function runSh(script: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync('/bin/sh', [script, ...args], { encoding: 'utf8', timeout: 120_000, env: { PATH: `${STUBS}:/usr/sbin:/usr/bin:/sbin:/bin` } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const hook = (op: string, sub: string) => runSh(HOOK, [VM, op, sub, '-']);

/** Makes a sysfs attribute read-only until healed (by the hook's failure log, or the cleanup). */
function readOnly(t: Test, file: string, heal: 'on-failure' | 'cleanup'): void {
  const mode = (fs.statSync(file).mode & 0o777).toString(8);
  fs.chmodSync(file, 0o444);
  if (heal === 'on-failure') fs.writeFileSync(`${DIR}/heal`, `chmod ${mode} ${file}\n`);
  t.cleanup(() => fs.chmodSync(file, parseInt(mode, 8)));
}

function clearFaults(): void {
  fs.rmSync(`${DIR}/heal`, { force: true });
  fs.rmSync(`${DIR}/fail-modprobe`, { force: true });
}

const fbconBind = () => `/sys/class/vtconsole/${fs.readdirSync('/sys/class/vtconsole').find((v) => /frame buffer/.test(read(`/sys/class/vtconsole/${v}/name`) ?? ''))}/bind`;

/** Where a hand-over is made to fail, in the order the hook meets them. */
const HANDOVER_FAULTS: [string, (t: Test) => void][] = [
  ['the console cannot be unbound', (t) => readOnly(t, fbconBind(), 'on-failure')],
  ['vfio-pci cannot be loaded', () => fs.writeFileSync(`${DIR}/fail-modprobe`, 'vfio-pci')],
  ['the GPU cannot be unbound from bochs-drm', (t) => readOnly(t, `${PCI}/drivers/bochs-drm/unbind`, 'on-failure')],
  ['driver_override cannot be written', (t) => readOnly(t, `${PCI}/devices/${DEV.gpu}/driver_override`, 'on-failure')],
  ['drivers_probe cannot be written', (t) => readOnly(t, `${PCI}/drivers_probe`, 'on-failure')],
  ['the audio function cannot be unbound (the GPU is already on vfio-pci)', (t) => readOnly(t, `${PCI}/drivers/snd_hda_intel/unbind`, 'on-failure')],
];
const handoverCheck = (name: string) => `hand-over fault: ${name}: prepare/begin exits 1 and the screen comes back`;

const QEMU_PROFILE = `apiVersion: gpuvirt/v1
name: ${VM}
machine: q35
firmware: bios
memory: 256MiB
cpu: { cores: 1 }
hugepages: false
devices:
  - type: gpu
    select: { address: "${DEV.gpu}" }
    functions: all
    primary: true
targets:
  qemu:
    binary: ${DIR}/qemu
`;
/** The no-op QEMU: records the drivers it found, exits with the status in `qemu-exit`. */
const NOOP_QEMU = `#!/bin/sh\nfor a in ${SLOT.join(' ')}; do basename "$(readlink ${PCI}/devices/$a/driver)"; done > ${DIR}/qemu-saw\nexit "$(cat ${DIR}/qemu-exit)"\n`;

export const singleGpu: Scenario = {
  id: 'single-GPU hand-over and give-back',
  machines: ['intel', 'amd'],
  checks: [
    'singlegpu installs the hook (exit 0)',
    'at boot bochs-drm drives the GPU with a framebuffer, a DRM card and fbcon bound',
    'prepare/begin exits 0: fbcon unbound, the framebuffer and DRM card gone, both functions on vfio-pci',
    'the handed-over group is viable through VFIO',
    'release/end exits 0: bochs-drm, snd_hda_intel, the framebuffer, the DRM card and fbcon are back',
    ...HANDOVER_FAULTS.map(([name]) => handoverCheck(name)),
    'give-back fault: the console cannot be bound: release/end exits 1, the GPU and its framebuffer are back',
    'generate --single-gpu: the script runs a no-op QEMU with both functions on vfio-pci, then gives the screen back',
    'generate --single-gpu: a QEMU that fails: the script exits with its status and the screen comes back',
    'singlegpu --undo removes the hook',
  ],
  run(t) {
    const madeLibvirt = !fs.existsSync('/etc/libvirt');
    fs.mkdirSync('/etc/libvirt', { recursive: true });
    t.cleanup(() => {
      if (madeLibvirt) fs.rmSync('/etc/libvirt', { recursive: true, force: true });
      fs.rmSync(DIR, { recursive: true, force: true });
      fs.rmSync(`/run/gpuvirt-singlegpu-${VM}.state`, { force: true });
    });
    stubs();
    const boot = screen();
    const install = t.gpuvirt('singlegpu', VM, DEV.gpu, '--yes', '--force');
    t.check('singlegpu installs the hook (exit 0)', () => {
      assert.equal(install.status, 0);
      assert.ok(fs.existsSync(HOOK), HOOK);
    });
    t.check('at boot bochs-drm drives the GPU with a framebuffer, a DRM card and fbcon bound', () => {
      assertBack(boot, boot);
      assert.ok(boot.fbcon.length > 0 && boot.fbcon.every((c) => c.endsWith('=1')), `fbcon: ${boot.fbcon.join(' ') || 'none'}`);
      return JSON.stringify(boot);
    });
    if (!fs.existsSync(HOOK)) return;

    const begin = hook('prepare', 'begin');
    t.check('prepare/begin exits 0: fbcon unbound, the framebuffer and DRM card gone, both functions on vfio-pci', () => {
      assert.equal(begin.status, 0, begin.out);
      assertHandedOver(screen());
    });
    t.check('the handed-over group is viable through VFIO', () => assertViable(groupOf(DEV.gpu), SLOT));
    const end = hook('release', 'end');
    t.check('release/end exits 0: bochs-drm, snd_hda_intel, the framebuffer, the DRM card and fbcon are back', () => {
      assert.equal(end.status, 0, end.out);
      assertBack(screen(), boot);
    });

    for (const [name, inject] of HANDOVER_FAULTS) {
      inject(t);
      const r = hook('prepare', 'begin');
      clearFaults();
      t.check(handoverCheck(name), () => {
        assert.equal(r.status, 1, r.out);
        assert.match(r.out, /hand-over failed: giving the GPU back/);
        assert.match(r.out, /given back \(status 0\)/);
        assertBack(screen(), boot);
        return r.out.trim().split('\n').slice(-3).join(' | ');
      });
    }

    hook('prepare', 'begin');
    const bind = fbconBind();
    readOnly(t, bind, 'cleanup');
    const failedEnd = hook('release', 'end');
    fs.chmodSync(bind, 0o644);
    t.check('give-back fault: the console cannot be bound: release/end exits 1, the GPU and its framebuffer are back', () => {
      assert.equal(failedEnd.status, 1, failedEnd.out);
      assert.match(failedEnd.out, /cannot bind console/);
      const s = screen();
      assert.deepEqual({ ...s, fbcon: [] }, { ...BACK, fbcon: [] });
      assert.ok(s.fbcon.every((c) => c.endsWith('=0')), `fbcon stays unbound: ${s.fbcon.join(' ')}`);
    });
    // The console by hand, as a user would: the next checks start from the boot screen.
    fs.writeFileSync(bind, '1');

    fs.writeFileSync(`${DIR}/profile.yaml`, QEMU_PROFILE);
    fs.writeFileSync(`${DIR}/qemu`, NOOP_QEMU, { mode: 0o755 });
    const gen = t.gpuvirt<{ output: string }>('generate', `${DIR}/profile.yaml`, '--target', 'qemu', '--single-gpu');
    fs.writeFileSync(`${DIR}/vm.sh`, gen.doc?.data?.output ?? 'exit 99\n');
    for (const [check, code] of [
      ['generate --single-gpu: the script runs a no-op QEMU with both functions on vfio-pci, then gives the screen back', 0],
      ['generate --single-gpu: a QEMU that fails: the script exits with its status and the screen comes back', 3],
    ] as const) {
      fs.writeFileSync(`${DIR}/qemu-exit`, `${code}\n`);
      fs.rmSync(`${DIR}/qemu-saw`, { force: true });
      const r = runSh(`${DIR}/vm.sh`, []);
      t.check(check, () => {
        assert.equal(gen.status, 0, 'generate exit status');
        assert.equal(r.status, code, r.out);
        assert.deepEqual(read(`${DIR}/qemu-saw`)?.split('\n'), ['vfio-pci', 'vfio-pci'], 'the drivers QEMU found');
        assertBack(screen(), boot);
      });
    }

    const undo = t.gpuvirt('singlegpu', VM, '--undo', '--yes');
    t.check('singlegpu --undo removes the hook', () => {
      assert.equal(undo.status, 0);
      assert.equal(fs.existsSync(HOOK), false);
    });
  },
};
