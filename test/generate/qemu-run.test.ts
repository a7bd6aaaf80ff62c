// The real QEMU runs every generated script: without its vfio-pci devices the VM initialises
// completely and waits (-S) with no $DISPLAY, its UEFI variables, disks and TPM set up by the
// script; each vfio-pci device alone fails only when QEMU realizes it (no such host device
// here), never because QEMU cannot parse what gpuvirt wrote. QEMU's firmware comes from the
// distribution's descriptors, copied into the fixture root the profile is resolved against.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/sim.js';
import { ALL_CASES, type Case } from './cases.js';
import { gpuvirt } from './run.js';
import { inCI, missing, qemuDeviceProps, qemuTool } from './tools.js';

const DESCRIPTORS = '/usr/share/qemu/firmware';
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const ready = qemuTool && has('swtpm') && has('qemu-img') && existsSync(DESCRIPTORS);
const need = missing('qemu-system-x86_64, swtpm, qemu-img and the OVMF descriptors', 'qemu-system-x86 qemu-utils swtpm ovmf');
const realQemu = qemuTool ? spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { encoding: 'utf8' }).stdout.trim() : '';
const STAND_IN = new URL('./qemu-stand-in.mjs', import.meta.url).pathname;
const base = mkdtempSync(join(tmpdir(), 'gpuvirt-qemu-run-'));
afterAll(() => rmSync(base, { recursive: true, force: true }), 60_000);

interface Prepared {
  dir: string;
  script: string;
  argv: string[];
}

/** The profile with its files moved into `dir`, resolved against a copy of its fixture that has the firmware descriptors. */
async function prepare(c: Case, n: number): Promise<Prepared> {
  const dir = join(base, String(n));
  mkdirSync(join(dir, 'bin'), { recursive: true });
  const p = parse(readFileSync(c.file, 'utf8')) as Record<string, any>;
  p.targets ??= {};
  p.targets.qemu = { ...p.targets.qemu, dir: join(dir, 'vm') };
  (p.disks ?? []).forEach((d: Record<string, string>, i: number) => (d.path = join(dir, `disk ${i}.img`)));
  writeFileSync(join(dir, 'profile.yaml'), stringify(p));
  let where = ['--offline'];
  if (c.root) {
    const root = join(dir, 'root');
    cpSync(FIXTURES + c.root, root, { recursive: true, verbatimSymlinks: true });
    cpSync(DESCRIPTORS, join(root, DESCRIPTORS), { recursive: true });
    where = ['--root', root];
  }
  const r = await gpuvirt(['generate', join(dir, 'profile.yaml'), '--target', 'qemu', '--json', ...where]);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  symlinkSync(STAND_IN, join(dir, 'bin', 'qemu-system-x86_64'));
  // An mdev is a vfio-pci device too: the lines that create it in sysfs go with it.
  const mdev = /^if \[ ! -e \/sys\/bus\/mdev\/devices\/[^\n]*\n[^\n]*\/create\n\s*fi\n/gm;
  const script = r.doc.data.output as string;
  const withoutMdev = script.replace(mdev, '');
  expect(withoutMdev === script, 'mdev creation lines').toBe(!r.doc.data.argv.some((a: string) => a.includes('sysfsdev=')));
  return { dir, script: withoutMdev, argv: r.doc.data.argv };
}

/** Starts the script; resolves with QEMU's run state once QMP answers (init done), or its exit. */
function start(p: Prepared, keepVfio: string): Promise<{ status: string | null; code: number | null; stderr: string; proc: ChildProcess }> {
  writeFileSync(join(p.dir, 'vm.sh'), p.script);
  rmSync(join(p.dir, 'qmp.sock'), { force: true });
  const env = { PATH: `${join(p.dir, 'bin')}:/usr/bin:/bin:/usr/sbin:/sbin`, GPUVIRT_TEST_DIR: p.dir, GPUVIRT_KEEP_VFIO: keepVfio, GPUVIRT_REAL_QEMU: realQemu };
  const proc = spawn('sh', [join(p.dir, 'vm.sh')], { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (b) => (stderr += String(b)));
  return new Promise((resolve) => {
    let done = false;
    const finish = (status: string | null, code: number | null) => {
      if (done) return;
      done = true;
      resolve({ status, code, stderr, proc });
    };
    proc.on('exit', (code) => setTimeout(() => finish(null, code), 50));
    const poll = () => {
      if (done) return;
      if (!existsSync(join(p.dir, 'qmp.sock'))) return void setTimeout(poll, 100);
      const s = createConnection(join(p.dir, 'qmp.sock'));
      let buf = '';
      s.on('error', () => setTimeout(poll, 100));
      s.on('data', (d) => {
        buf += String(d);
        if (buf.includes('"QMP"') && !buf.includes('"return": {}')) s.write('{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n');
        const m = /"status": "([a-z-]+)"/.exec(buf);
        if (m) {
          s.destroy();
          finish(m[1]!, null);
        }
      });
    };
    poll();
  });
}

let cpuProps: Set<string> | null = null;
const hostCpuProps = () => (cpuProps ??= qemuDeviceProps('host-x86_64-cpu'));

function renderNodes(): string[] {
  try {
    return readdirSync('/dev/dri').filter((n) => n.startsWith('renderD'));
  } catch {
    return [];
  }
}

/** Stops the script's QEMU (its process group) and the TPM emulator it started (a daemon of its own). */
async function stop(p: Prepared, proc: ChildProcess): Promise<void> {
  const kill = (pid: number) => {
    try {
      process.kill(pid, 'SIGKILL');
      return true;
    } catch {
      return false;
    }
  };
  kill(-proc.pid!);
  const pidFile = join(p.dir, 'vm', 'swtpm.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile);
  kill(pid);
  // Wait until it is gone (a zombie counts as gone): the next run binds the same socket.
  const alive = () => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
}

describe.each(ALL_CASES.map((c, n) => ({ ...c, n })))('$name with the real QEMU', (c) => {
  it('without vfio-pci: initialises headless and waits; each vfio-pci device fails only at realize', async (ctx) => {
    if (!ready && !inCI) ctx.skip(need);
    expect(ready, need).toBe(true);
    const p = await prepare(c, c.n);
    expect(p.argv).toContain('-nodefaults');
    expect(p.argv[p.argv.indexOf('-display') + 1]).toMatch(/^(none|egl-headless)$/);
    // The stand-in runs -cpu max (no KVM here): the -cpu properties are checked by name instead.
    const [model, ...flags] = p.argv[p.argv.indexOf('-cpu') + 1]!.split(',');
    expect(model).toBe('host');
    for (const f of flags) expect(hostCpuProps().has(f.split('=')[0]!), `-cpu host has no property ${f}`).toBe(true);
    const gl = p.argv.some((a) => a.startsWith('virtio-vga-gl'));
    const run = await start(p, '');
    await stop(p, run.proc);
    if (gl && run.status === null && !renderNodes().length) {
      // VirGL needs a GPU render node, which this machine does not have: that, and only that, may stop it.
      expect(run.stderr).toMatch(/egl|render ?node|opengl/i);
    } else {
      // -cpu max under TCG warns about SMT on AMD hosts: the stand-in's CPU, not gpuvirt's.
      expect(run.stderr.replace(/^.*warning: This family of AMD CPU doesn't support hyperthreading.*\n(Please configure.*\n)?/gm, '')).not.toMatch(/error|warning/i);
      expect(run.status, run.stderr).toBe('prelaunch');
    }
    if (p.argv.some((a) => a.startsWith('-tpmdev'))) expect(existsSync(join(p.dir, 'vm', 'tpm'))).toBe(true);
    if (p.argv.some((a) => a.includes('unit=1,file='))) expect(existsSync(join(p.dir, 'vm', 'OVMF_VARS.fd'))).toBe(true);
    const vfio = p.argv.filter((a) => a.startsWith('vfio-pci,'));
    for (const [k, dev] of vfio.entries()) {
      const alone = await start(p, String(k));
      await stop(p, alone.proc);
      expect(alone.status, dev).toBe(null);
      // vfio_realize's own error: the device's options were all accepted.
      expect(alone.stderr, dev).toMatch(/-device vfio-pci,[^\n]*: vfio \S+: (no such host device|failed to)/);
    }
  }, 120_000);
});
