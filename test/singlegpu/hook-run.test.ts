// The generated hook run by dash and bash against a fake root (GPUVIRT_HOOK_ROOT), never this
// machine's /sys: stub systemctl, modprobe and logger on PATH, and a small stand-in for the
// kernel's driver core (driver links follow unbind, driver_override + drivers_probe, bind).
// Each hand-over failure must give the screen back: console, framebuffer, host driver, desktop.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hookScript, type HookSpec } from '../../src/singlegpu/script.js';

const SPEC: HookSpec = { vm: 'win11', functions: ['0000:0b:00.0', '0000:0b:00.1'], modules: ['amdgpu', 'snd_hda_intel'], displayManager: 'gdm.service' };
const NATIVE: Record<string, string> = { '0000:0b:00.0': 'amdgpu', '0000:0b:00.1': 'snd_hda_intel' };

interface Fake {
  root: string;
  calls: () => string[];
  driver: (a: string) => string | null;
  read: (p: string) => string;
  stop: () => void;
  settle: () => void;
}

const made: Fake[] = [];
afterEach(() => {
  while (made.length) {
    const f = made.pop()!;
    f.stop();
    fs.rmSync(f.root, { recursive: true, force: true });
  }
});

function fakeHost(opts: { failModprobe?: string; failStop?: boolean; vfioProbeFails?: boolean } = {}): Fake {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpuvirt-hook-'));
  const w = (p: string, c: string) => (fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true }), fs.writeFileSync(path.join(root, p), c));
  const pci = 'sys/bus/pci';
  for (const d of ['amdgpu', 'snd_hda_intel', 'vfio-pci']) for (const f of ['bind', 'unbind']) w(`${pci}/drivers/${d}/${f}`, '');
  w(`${pci}/drivers_probe`, '');
  const link = (a: string, d: string) => fs.symlinkSync(`../../drivers/${d}`, path.join(root, pci, 'devices', a, 'driver'));
  for (const a of SPEC.functions) {
    w(`${pci}/devices/${a}/driver_override`, '(null)\n');
    link(a, NATIVE[a]!);
  }
  w('sys/class/vtconsole/vtcon0/bind', '1\n');
  w('sys/class/vtconsole/vtcon0/name', '(S) dummy device\n');
  w('sys/class/vtconsole/vtcon1/bind', '1\n');
  w('sys/class/vtconsole/vtcon1/name', '(M) frame buffer device\n');
  const fb = 'sys/bus/platform/drivers/efi-framebuffer';
  w(`${fb}/bind`, '');
  w(`${fb}/unbind`, '');
  w(`${fb}/efi-framebuffer.0/uevent`, '');
  w('dm-active', '');
  const bin = path.join(root, 'bin');
  const stub = (name: string, body: string) => w(`bin/${name}`, `#!/bin/sh\necho "${name} $*" >> "${root}/calls"\n${body}\n`);
  stub('systemctl', `case "$1" in is-active) [ -f "${root}/dm-active" ];; stop) ${opts.failStop ? 'exit 1' : `rm -f "${root}/dm-active"`};; start) touch "${root}/dm-active";; esac`);
  stub('modprobe', opts.failModprobe ? `[ "$1" = ${opts.failModprobe} ] && exit 1; exit 0` : 'exit 0');
  stub('logger', 'exit 0');
  for (const f of fs.readdirSync(bin)) fs.chmodSync(path.join(bin, f), 0o755);

  // The driver core's answers to the writes, polled: what the script waits for.
  const take = (p: string) => {
    const full = path.join(root, p);
    const v = fs.readFileSync(full, 'utf8').trim();
    if (v) fs.writeFileSync(full, '');
    return v;
  };
  const driverOf = (a: string) => {
    try {
      return path.basename(fs.readlinkSync(path.join(root, pci, 'devices', a, 'driver')));
    } catch {
      return null;
    }
  };
  // The kernel answers a write before write(2) returns; the stand-in answers within 10 ms, and
  // once more when the script has exited, before anything is asserted.
  const tick = () => {
    for (const d of ['amdgpu', 'snd_hda_intel', 'vfio-pci']) {
      const u = take(`${pci}/drivers/${d}/unbind`);
      if (u && driverOf(u) === d) fs.unlinkSync(path.join(root, pci, 'devices', u, 'driver'));
    }
    const a = take(`${pci}/drivers_probe`);
    if (a && driverOf(a) === null) {
      const o = fs.readFileSync(path.join(root, pci, 'devices', a, 'driver_override'), 'utf8').trim();
      const d = o && o !== '(null)' ? o : NATIVE[a]!;
      if (!(d === 'vfio-pci' && opts.vfioProbeFails)) link(a, d);
    }
    const fbU = take(`${fb}/unbind`);
    if (fbU) fs.rmSync(path.join(root, fb, fbU), { recursive: true });
    const fbB = take(`${fb}/bind`);
    if (fbB) w(`${fb}/${fbB}/uevent`, '');
  };
  const timer = setInterval(tick, 10);
  const fake: Fake = {
    root,
    calls: () => (fs.existsSync(path.join(root, 'calls')) ? fs.readFileSync(path.join(root, 'calls'), 'utf8').trim().split('\n') : []),
    driver: driverOf,
    read: (p) => fs.readFileSync(path.join(root, p), 'utf8'),
    stop: () => clearInterval(timer),
    settle: tick,
  };
  made.push(fake);
  return fake;
}

function run(shell: string, f: Fake, args: string[]): Promise<{ code: number; stderr: string }> {
  const script = path.join(f.root, 'hook');
  fs.writeFileSync(script, hookScript(SPEC), { mode: 0o755 });
  return new Promise((resolve) => {
    const p = spawn(shell, [script, ...args], { env: { PATH: `${f.root}/bin:/usr/bin:/bin`, GPUVIRT_HOOK_ROOT: f.root } });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => {
      f.settle();
      resolve({ code: code ?? -1, stderr });
    });
  });
}

/** The screen is back: fbcon bound, the framebuffer bound, the host drivers, the display manager running. */
function screenBack(f: Fake): void {
  expect(f.read('sys/class/vtconsole/vtcon1/bind').trim()).toBe('1');
  expect(fs.existsSync(path.join(f.root, 'sys/bus/platform/drivers/efi-framebuffer/efi-framebuffer.0'))).toBe(true);
  for (const a of SPEC.functions) expect(f.driver(a)).toBe(NATIVE[a]);
  expect(fs.existsSync(path.join(f.root, 'dm-active'))).toBe(true);
  expect(fs.existsSync(path.join(f.root, 'run/gpuvirt-singlegpu-win11.state'))).toBe(false);
}

describe.each(['dash', 'bash'])('the single-GPU hook under %s', { timeout: 30_000 }, (shell) => {
  it('is valid syntax', () => {
    const file = path.join(os.tmpdir(), `gpuvirt-hook-syntax-${process.pid}.sh`);
    fs.writeFileSync(file, hookScript(SPEC));
    try {
      expect(() => execFileSync(shell, ['-n', file])).not.toThrow();
    } finally {
      fs.rmSync(file);
    }
  });

  it('prepare/begin hands the GPU over in order; release/end gives the screen back in the reverse order', async () => {
    const f = fakeHost();
    const begin = await run(shell, f, ['win11', 'prepare', 'begin', '-']);
    expect(begin.code, begin.stderr).toBe(0);
    for (const a of SPEC.functions) expect(f.driver(a)).toBe('vfio-pci');
    expect(f.read('sys/class/vtconsole/vtcon1/bind').trim()).toBe('0');
    expect(f.read('sys/class/vtconsole/vtcon0/bind').trim()).toBe('1');
    expect(fs.existsSync(path.join(f.root, 'sys/bus/platform/drivers/efi-framebuffer/efi-framebuffer.0'))).toBe(false);
    const calls = f.calls();
    expect(calls.indexOf('systemctl stop gdm.service')).toBeGreaterThan(-1);
    expect(calls.indexOf('systemctl stop gdm.service')).toBeLessThan(calls.indexOf('modprobe vfio-pci'));
    expect(calls.filter((c) => c.startsWith('logger')).length).toBeGreaterThan(0);

    const end = await run(shell, f, ['win11', 'release', 'end', '-']);
    expect(end.code, end.stderr).toBe(0);
    screenBack(f);
    const after = f.calls().slice(calls.length);
    expect(after.indexOf('modprobe amdgpu')).toBeLessThan(after.indexOf('systemctl start gdm.service'));
  });

  it('another VM, or another operation, is left alone', async () => {
    const f = fakeHost();
    expect((await run(shell, f, ['other-vm', 'prepare', 'begin', '-'])).code).toBe(0);
    expect((await run(shell, f, ['win11', 'started', 'begin', '-'])).code).toBe(0);
    expect(f.calls()).toEqual([]);
    for (const a of SPEC.functions) expect(f.driver(a)).toBe(NATIVE[a]);
  });

  for (const [name, opts] of [
    ['the display manager does not stop', { failStop: true }],
    ['vfio-pci cannot be loaded', { failModprobe: 'vfio-pci' }],
    ['vfio-pci does not bind', { vfioProbeFails: true }],
  ] as const) {
    it(`when ${name}, prepare/begin fails (the VM does not start) and the screen comes back`, async () => {
      const f = fakeHost(opts);
      const r = await run(shell, f, ['win11', 'prepare', 'begin', '-']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('hand-over failed: giving the GPU back');
      screenBack(f);
    });
  }
});
