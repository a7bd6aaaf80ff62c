// A fake root for running the single-GPU shell steps (the libvirt hook, the QEMU wrapper) under
// dash and bash, never against this machine's /sys: stub systemctl, modprobe and logger on
// PATH, and a small stand-in for the kernel's driver core (driver links follow unbind,
// driver_override + drivers_probe, platform framebuffer unbind/bind), answering each write
// within 10 ms. The scripts run as an unprivileged user, so a write can be made to fail the way
// a sysfs write fails (EACCES), which root would not see.
//
// Faults: each names one step. A hand-over fault lasts until the script logs "hand-over
// failed" (the logger stub heals it then), so what is checked is the give-back's answer to a
// failure at that step; a give-back fault is set while the VM runs and stays.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'vitest';
import type { HookSpec } from '../../src/singlegpu/script.js';

export const SPEC: HookSpec = { vm: 'win11', functions: ['0000:0b:00.0', '0000:0b:00.1'], modules: ['amdgpu', 'snd_hda_intel'], displayManager: 'gdm.service' };
export const NATIVE: Record<string, string> = { '0000:0b:00.0': 'amdgpu', '0000:0b:00.1': 'snd_hda_intel' };
const [GPU, AUDIO] = SPEC.functions as [string, string];
const PCI = 'sys/bus/pci';
const FBDRV = 'sys/bus/platform/drivers/efi-framebuffer';
const VTCON = 'sys/class/vtconsole/vtcon1';
// Root runs the scripts as nobody: a file mode then decides whether a write fails.
const USER: { uid?: number; gid?: number } = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

export interface Fake {
  root: string;
  calls: () => string[];
  driver: (a: string) => string | null;
  read: (p: string) => string;
  /** Turns a give-back fault on (while the VM runs). */
  inject: (f: GivebackFault) => void;
  stop: () => void;
  settle: () => void;
}

/** Where a hand-over can fail, in the order the steps run; `waits`: the step fails by timing out. */
export const HANDOVER_FAULTS = {
  'the state file cannot be written': { waits: false },
  'systemctl stop fails': { waits: false },
  'the display manager stays active': { waits: true },
  'the console cannot be unbound': { waits: false },
  'the firmware framebuffer cannot be unbound': { waits: false },
  'vfio-pci cannot be loaded': { waits: false },
  'the GPU cannot be unbound from its driver': { waits: false },
  'the GPU does not let go of its driver': { waits: true },
  'the audio function cannot be unbound from its driver': { waits: false },
  'driver_override cannot be written': { waits: false },
  'drivers_probe cannot be written': { waits: false },
  'vfio-pci does not bind the GPU': { waits: true },
  'vfio-pci does not bind the audio function': { waits: true },
} as const;
export type HandoverFault = keyof typeof HANDOVER_FAULTS;

/** Where a give-back can fail, and what it then cannot bring back (everything else must come back). */
export const GIVEBACK_FAULTS = {
  'vfio-pci\'s unbind cannot be written': { log: 'cannot unbind 0000:0b:00.0 from vfio-pci', left: { [GPU]: 'vfio-pci', [AUDIO]: 'vfio-pci' } },
  'vfio-pci does not let go of the functions': { log: '0000:0b:00.0 is still on vfio-pci', left: { [GPU]: 'vfio-pci', [AUDIO]: 'vfio-pci' } },
  'driver_override cannot be cleared': { log: 'cannot clear driver_override of 0000:0b:00.0', left: { [GPU]: 'vfio-pci' } },
  'the GPU driver cannot be loaded': { log: 'modprobe amdgpu failed', left: { [GPU]: null } },
  'drivers_probe cannot be written': { log: 'drivers_probe 0000:0b:00.0 failed', left: { [GPU]: null, [AUDIO]: null } },
  'the audio driver does not bind': { log: '0000:0b:00.1 has no driver', left: { [AUDIO]: null } },
  'the firmware framebuffer cannot be bound': { log: 'cannot bind efi-framebuffer.0 to efi-framebuffer', left: { fb: true } },
  'the console cannot be bound': { log: 'cannot bind console vtcon1', left: { vtcon: true } },
  'systemctl start fails': { log: 'systemctl start gdm.service failed', left: { dm: true } },
} as const;
export type GivebackFault = keyof typeof GIVEBACK_FAULTS;

const made: Fake[] = [];
export function cleanUp(): void {
  while (made.length) {
    const f = made.pop()!;
    f.stop();
    fs.rmSync(f.root, { recursive: true, force: true });
  }
}

export function fakeHost(fault: HandoverFault | null = null): Fake {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpuvirt-hook-'));
  const at = (p: string) => path.join(root, p);
  const w = (p: string, c: string) => (fs.mkdirSync(path.dirname(at(p)), { recursive: true }), fs.writeFileSync(at(p), c));
  const flag = (name: string) => fs.existsSync(at(`faults/${name}`));
  for (const d of ['amdgpu', 'snd_hda_intel', 'vfio-pci']) for (const f of ['bind', 'unbind']) w(`${PCI}/drivers/${d}/${f}`, '');
  w(`${PCI}/drivers_probe`, '');
  const link = (a: string, d: string) => fs.symlinkSync(`../../drivers/${d}`, at(`${PCI}/devices/${a}/driver`));
  for (const a of SPEC.functions) {
    w(`${PCI}/devices/${a}/driver_override`, '(null)\n');
    link(a, NATIVE[a]!);
  }
  w('sys/class/vtconsole/vtcon0/bind', '1\n');
  w('sys/class/vtconsole/vtcon0/name', '(S) dummy device\n');
  w(`${VTCON}/bind`, '1\n');
  w(`${VTCON}/name`, '(M) frame buffer device\n');
  w(`${FBDRV}/bind`, '');
  w(`${FBDRV}/unbind`, '');
  w(`${FBDRV}/efi-framebuffer.0/uevent`, '');
  w('dm-active', '');
  fs.mkdirSync(at('faults'));
  const stub = (name: string, body: string) => w(`bin/${name}`, `#!/bin/sh\necho "${name} $*" >> "${root}/calls"\n${body}\n`);
  const fails = (step: string) => `[ -e "${root}/faults/${step}" ] && exit 1`;
  stub('systemctl', `case "$1" in
  is-active) [ -f "${root}/dm-active" ];;
  stop) ${fails('dm-stop')}; [ -e "${root}/faults/dm-stays" ] || rm -f "${root}/dm-active";;
  start) ${fails('dm-start')}; touch "${root}/dm-active";;
esac`);
  stub('modprobe', `${fails('modprobe-$1')}; exit 0`);
  stub('logger', `case "$*" in *"hand-over failed"*) sh "${root}/heal";; esac; exit 0`);

  // A fault: a flag the stubs or the driver core read, or a file made read-only; heal undoes it.
  const heal: string[] = [];
  const readOnly = (p: string) => {
    fs.chmodSync(at(p), 0o444);
    heal.push(`chmod 644 "${at(p)}"`);
  };
  const setFlag = (name: string) => {
    w(`faults/${name}`, '');
    heal.push(`rm -f "${at(`faults/${name}`)}"`);
  };
  switch (fault) {
    case null: break;
    case 'the state file cannot be written': w('run', 'not a directory'); heal.push(`rm -f "${at('run')}"`); break;
    case 'systemctl stop fails': setFlag('dm-stop'); break;
    case 'the display manager stays active': setFlag('dm-stays'); break;
    case 'the console cannot be unbound': readOnly(`${VTCON}/bind`); break;
    case 'the firmware framebuffer cannot be unbound': readOnly(`${FBDRV}/unbind`); break;
    case 'vfio-pci cannot be loaded': setFlag('modprobe-vfio-pci'); break;
    case 'the GPU cannot be unbound from its driver': readOnly(`${PCI}/drivers/amdgpu/unbind`); break;
    case 'the GPU does not let go of its driver': setFlag('keep-amdgpu'); break;
    case 'the audio function cannot be unbound from its driver': readOnly(`${PCI}/drivers/snd_hda_intel/unbind`); break;
    case 'driver_override cannot be written': readOnly(`${PCI}/devices/${GPU}/driver_override`); break;
    case 'drivers_probe cannot be written': readOnly(`${PCI}/drivers_probe`); break;
    case 'vfio-pci does not bind the GPU': setFlag(`no-vfio-${GPU}`); break;
    case 'vfio-pci does not bind the audio function': setFlag(`no-vfio-${AUDIO}`); break;
  }
  w('heal', `${heal.join('\n')}\n`);
  for (const f of fs.readdirSync(at('bin'))) fs.chmodSync(at(`bin/${f}`), 0o755);
  if (USER.uid !== undefined) chownTree(root, USER.uid, USER.gid!);

  // The driver core's answers to the writes, polled: what the scripts wait for.
  const take = (p: string) => {
    const v = fs.readFileSync(at(p), 'utf8').trim();
    if (v) fs.writeFileSync(at(p), '');
    return v;
  };
  const driverOf = (a: string) => {
    try {
      return path.basename(fs.readlinkSync(at(`${PCI}/devices/${a}/driver`)));
    } catch {
      return null;
    }
  };
  const tick = () => {
    for (const d of ['amdgpu', 'snd_hda_intel', 'vfio-pci']) {
      const u = take(`${PCI}/drivers/${d}/unbind`);
      const keep = flag(d === 'vfio-pci' ? 'keep-vfio' : `keep-${d}`);
      if (u && driverOf(u) === d && !keep) fs.unlinkSync(at(`${PCI}/devices/${u}/driver`));
    }
    const a = take(`${PCI}/drivers_probe`);
    if (a && driverOf(a) === null) {
      const o = fs.readFileSync(at(`${PCI}/devices/${a}/driver_override`), 'utf8').trim();
      const d = o && o !== '(null)' ? o : NATIVE[a]!;
      // A driver binds only once its module is loaded (a failed modprobe leaves it out).
      const blocked = d === 'vfio-pci' ? flag(`no-vfio-${a}`) : flag(`modprobe-${d}`) || flag(`no-native-${a}`);
      if (!blocked) link(a, d);
    }
    const fbU = take(`${FBDRV}/unbind`);
    if (fbU) fs.rmSync(at(`${FBDRV}/${fbU}`), { recursive: true });
    const fbB = take(`${FBDRV}/bind`);
    if (fbB) w(`${FBDRV}/${fbB}/uevent`, '');
  };
  const timer = setInterval(tick, 10);
  const fake: Fake = {
    root,
    calls: () => (fs.existsSync(at('calls')) ? fs.readFileSync(at('calls'), 'utf8').trim().split('\n') : []),
    driver: driverOf,
    read: (p) => fs.readFileSync(at(p), 'utf8'),
    inject: (f) => {
      switch (f) {
        case 'vfio-pci\'s unbind cannot be written': fs.chmodSync(at(`${PCI}/drivers/vfio-pci/unbind`), 0o444); break;
        case 'vfio-pci does not let go of the functions': w('faults/keep-vfio', ''); break;
        case 'driver_override cannot be cleared': fs.chmodSync(at(`${PCI}/devices/${GPU}/driver_override`), 0o444); break;
        case 'the GPU driver cannot be loaded': w('faults/modprobe-amdgpu', ''); break;
        case 'drivers_probe cannot be written': fs.chmodSync(at(`${PCI}/drivers_probe`), 0o444); break;
        case 'the audio driver does not bind': w(`faults/no-native-${AUDIO}`, ''); break;
        case 'the firmware framebuffer cannot be bound': fs.chmodSync(at(`${FBDRV}/bind`), 0o444); break;
        case 'the console cannot be bound': fs.chmodSync(at(`${VTCON}/bind`), 0o444); break;
        case 'systemctl start fails': w('faults/dm-start', ''); break;
      }
    },
    stop: () => clearInterval(timer),
    settle: tick,
  };
  made.push(fake);
  return fake;
}

function chownTree(p: string, uid: number, gid: number): void {
  fs.lchownSync(p, uid, gid);
  if (fs.lstatSync(p).isDirectory()) for (const n of fs.readdirSync(p)) chownTree(path.join(p, n), uid, gid);
}

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs `script` (already written under the fake root) with `shell`, as the unprivileged user. */
export function runScript(shell: string, f: Fake, script: string, args: string[], opts: { tenths?: number; onStart?: (pid: number) => void; stdin?: string } = {}): Promise<Ran> {
  if (USER.uid !== undefined) fs.chownSync(script, USER.uid, USER.gid!);
  return new Promise((resolve) => {
    const env: Record<string, string> = { PATH: `${f.root}/bin:/usr/bin:/bin`, GPUVIRT_HOOK_ROOT: f.root };
    if (opts.tenths !== undefined) env.GPUVIRT_HOOK_TENTHS = String(opts.tenths);
    const p = spawn(shell, [script, ...args], { env, ...USER, stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.on('data', (d) => (stderr += d));
    if (opts.stdin !== undefined) {
      p.stdin!.on('error', () => {});
      p.stdin!.end(opts.stdin);
    }
    if (opts.onStart) opts.onStart(p.pid!);
    p.on('close', (code, signal) => {
      f.settle();
      resolve({ code, signal, stderr });
    });
  });
}

/** The hand-over is done: every function on vfio-pci, fbcon and the framebuffer unbound, the display manager stopped. */
export function handedOver(f: Fake): void {
  for (const a of SPEC.functions) expect(f.driver(a)).toBe('vfio-pci');
  expect(f.read(`${VTCON}/bind`).trim()).toBe('0');
  expect(f.read('sys/class/vtconsole/vtcon0/bind').trim()).toBe('1');
  expect(fs.existsSync(path.join(f.root, `${FBDRV}/efi-framebuffer.0`))).toBe(false);
  expect(fs.existsSync(path.join(f.root, 'dm-active'))).toBe(false);
}

/**
 * The screen is back: fbcon bound, the framebuffer bound, the host drivers, the display manager
 * running, the state file gone; except what `left` names (a give-back fault's part).
 */
export function screenBack(f: Fake, left: { [k: string]: string | null | boolean } = {}): void {
  expect(f.read(`${VTCON}/bind`).trim()).toBe(left.vtcon ? '0' : '1');
  expect(fs.existsSync(path.join(f.root, `${FBDRV}/efi-framebuffer.0`))).toBe(!left.fb);
  for (const a of SPEC.functions) expect(f.driver(a), a).toBe(a in left ? left[a] : NATIVE[a]);
  expect(fs.existsSync(path.join(f.root, 'dm-active'))).toBe(!left.dm);
  expect(fs.existsSync(path.join(f.root, 'run/gpuvirt-singlegpu-win11.state'))).toBe(false);
}
