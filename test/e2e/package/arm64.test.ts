// The linux-arm64 executable, run where it can be here: under qemu-user, with Debian 12's own
// arm64 libraries (debootstrap --foreign unpacks them; nothing of the root is configured or
// run but the executable). It has no code cache (that is made by running the target's Node),
// so only what it prints is checked: the same as bin/gpuvirt on an example host and profile.
//
// Needs root (or sudo without a password), an x64 host, debootstrap, qemu-aarch64-static (Debian: qemu-user-static) and
// Debian's archive (GPUVIRT_DEBIAN_MIRROR); skipped without them, failed with CI set.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asRoot, canBeRoot, has, removeTree, sh } from './as-root.js';

const REPO = new URL('../../../', import.meta.url).pathname;
const MIRROR = process.env.GPUVIRT_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const FIXTURE = path.join(REPO, 'test', 'fixtures', 'sysfs', 'intel-desktop-nvidia');
const PROFILE = path.join(REPO, 'profiles', 'intel-gvtg.yaml');

function missing(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `an x64 Linux host (this is ${process.platform}-${process.arch})`;
  if (!canBeRoot) return 'root, or sudo without a password (debootstrap needs it)';
  const tools = ['debootstrap', 'qemu-aarch64-static'].filter((t) => !has(t));
  return tools.length ? `${tools.join(', ')} (apt-get install --no-install-recommends debootstrap qemu-user-static)` : undefined;
}

const why = missing();
if (why) {
  if (process.env.CI) {
    describe('linux-arm64 executable', () => {
      it('has what it needs (CI installs it and must never skip)', () => {
        throw new Error(`missing ${why}`);
      });
    });
  } else {
    process.stderr.write(`gpuvirt arm64 e2e skipped: missing ${why}\n`);
    describe.skip(`linux-arm64 executable (skipped: missing ${why})`, () => {
      it('runs under qemu-user', () => {});
    });
  }
} else {
  describe('linux-arm64 executable under qemu-user with Debian 12 arm64 libraries', () => {
    let scratch = '';
    let sysroot = '';
    const exe = path.join(REPO, 'build', 'gpuvirt-linux-arm64');
    const arm64 = (args: string[]) => sh('qemu-aarch64-static', ['-L', sysroot, exe, ...args], { env: { PATH: '/usr/bin:/bin', SOURCE_DATE_EPOCH: '1700000000' } });
    const fromClone = (args: string[]) => sh(process.execPath, [path.join(REPO, 'bin', 'gpuvirt'), ...args], { env: { PATH: '/usr/bin:/bin', SOURCE_DATE_EPOCH: '1700000000' } });

    beforeAll(() => {
      scratch = mkdtempSync(path.join(os.tmpdir(), 'gpuvirt-arm64-'));
      sysroot = path.join(scratch, 'root');
      const built = sh(process.execPath, [path.join(REPO, 'scripts', 'package', 'sea.mjs'), '--arch', 'arm64'], { cwd: REPO });
      if (built.code !== 0) throw new Error(`npm run sea -- --arch arm64 failed:\n${built.stdout}${built.stderr}`);
      const boot = asRoot('debootstrap', ['--arch=arm64', '--foreign', '--variant=minbase', 'bookworm', sysroot, MIRROR]);
      if (boot.code !== 0) throw new Error(`debootstrap failed (exit ${boot.code}):\n${boot.stdout.slice(-3000)}${boot.stderr}`);
    }, 600_000);

    afterAll(() => {
      if (scratch) removeTree(scratch, readFileSync('/proc/self/mountinfo', 'utf8'));
    }, 300_000);

    it('is an aarch64 executable and prints the version', () => {
      expect(sh('od', ['-An', '-tx1', '-j18', '-N2', exe]).stdout.trim()).toBe('b7 00'); // e_machine EM_AARCH64
      const version = (fromClone(['--version']).stdout);
      expect(arm64(['--version'])).toMatchObject({ code: 0, stdout: version, stderr: '' });
    });

    it('prints what bin/gpuvirt prints: doctor, list, generate', () => {
      for (const args of [['doctor', '--json', '--root', FIXTURE], ['list', '--root', FIXTURE], ['generate', PROFILE, '--offline', '--target', 'libvirt']]) {
        const want = fromClone(args);
        expect(want.stdout.length).toBeGreaterThan(0);
        expect({ args, ...arm64(args) }).toEqual({ args, ...want });
      }
    }, 120_000);
  });
}
