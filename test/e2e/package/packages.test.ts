// The packages where users install them: a clean Debian 12 root (debootstrap minbase from
// Debian's archive, plus pci.ids, which the package recommends) with no Node at all. Builds the
// .deb from these sources (npm run deb), installs it with dpkg, runs the installed gpuvirt (in a
// mount namespace with the host's /proc, /sys and /dev, so doctor reads a real kernel), compares
// its output on the example hosts and profiles with bin/gpuvirt's, then purges it and checks
// that no file is left behind. Then the same for the .rpm (npm run rpm), installed into that
// root by this machine's rpm (--root): its files in Fedora's places, the program run from
// them, and `rpm -e` leaving nothing behind. That root is Debian's, so rpm cannot resolve the
// package's dependencies there: what it requires is checked instead (glibc 2.28 at most, and
// only libraries every Fedora and RHEL 8+ system has).
//
// Needs root (or sudo without a password), linux-x64, dpkg-deb, rpmbuild, debootstrap, unshare
// and Debian's archive (GPUVIRT_DEBIAN_MIRROR, default http://deb.debian.org/debian). Without
// them it is skipped, saying what is missing; with CI set it fails instead, since CI installs
// them (.ci/run).
import { cpSync, existsSync, lstatSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asRoot, canBeRoot, has, removeTree, sh } from './as-root.js';

const REPO = new URL('../../../', import.meta.url).pathname;
const MIRROR = process.env.GPUVIRT_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const VERSION = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const FIXTURE = 'intel-desktop-nvidia';
const PROFILE = 'intel-gvtg.yaml';

function missing(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `linux-x64 (this is ${process.platform}-${process.arch})`;
  if (!canBeRoot) return 'root, or sudo without a password (debootstrap, chroot and dpkg need it)';
  const tools = ['dpkg-deb', 'rpmbuild', 'debootstrap', 'unshare', 'chroot', 'xz'].filter((t) => !has(t));
  return tools.length ? `${tools.join(', ')} (apt-get install --no-install-recommends debootstrap dpkg rpm xz-utils util-linux coreutils)` : undefined;
}

/** Every path under root (but the scratch /tmp and the mount points /proc, /sys, /dev, /run) with its type. */
function fileList(root: string): string[] {
  const pruned = ['tmp', 'proc', 'sys', 'dev', 'run'].flatMap((d, i) => [...(i ? ['-o'] : []), '-path', path.join(root, d)]);
  const r = asRoot('find', [root, '-mindepth', '1', '(', ...pruned, ')', '-prune', '-o', '-printf', '%y %P\\n']);
  if (r.code !== 0) throw new Error(`find ${root}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).sort();
}

/** What bin/gpuvirt (Node, dist/) prints for argv. */
function fromClone(args: string[]) {
  return sh(process.execPath, [path.join(REPO, 'bin', 'gpuvirt'), ...args], { env: { PATH: process.env.PATH ?? '', SOURCE_DATE_EPOCH: '1700000000' } });
}

const why = missing();
if (why) {
  if (process.env.CI) {
    describe('Linux packages', () => {
      it('has what it needs (CI installs it and must never skip)', () => {
        throw new Error(`missing ${why}`);
      });
    });
  } else {
    process.stderr.write(`gpuvirt package e2e skipped: missing ${why}\n`);
    describe.skip(`Linux packages (skipped: missing ${why})`, () => {
      it('installs, runs and purges', () => {});
    });
  }
} else {
  describe('The .deb and the .rpm in a clean Debian 12 root without Node', () => {
    const timings: string[] = [];
    let scratch = '';
    let root = '';
    let deb = '';
    let rpm = '';
    let before: string[] = [];

    const timed = <T>(what: string, f: () => T): T => {
      const t0 = performance.now();
      try {
        return f();
      } finally {
        timings.push(`${what} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
    };
    /** A command inside the root, in a mount namespace with the host's /proc, /sys and /dev (terminals) mounted, gone when it exits. */
    const inRoot = (script: string) =>
      asRoot('unshare', ['--mount', '--fork', '--pid', '--mount-proc=' + path.join(root, 'proc'), 'sh', '-c',
        `mount -t sysfs -o ro sysfs "$1/sys" && mount --rbind /dev "$1/dev" && exec chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c "$2"`, 'sh', root, script]);

    beforeAll(() => {
      scratch = mkdtempSync(path.join(os.tmpdir(), 'gpuvirt-deb-'));
      root = path.join(scratch, 'root');
      const built = timed('npm run deb', () => sh(process.execPath, [path.join(REPO, 'scripts', 'package', 'deb.mjs')], { cwd: REPO }));
      if (built.code !== 0) throw new Error(`building the .deb failed:\n${built.stdout}${built.stderr}`);
      deb = path.join(REPO, built.stdout.trim());
      const rpmBuilt = timed('npm run rpm', () => sh(process.execPath, [path.join(REPO, 'scripts', 'package', 'rpm.mjs')], { cwd: REPO }));
      if (rpmBuilt.code !== 0) throw new Error(`building the .rpm failed:\n${rpmBuilt.stdout}${rpmBuilt.stderr}`);
      rpm = path.join(REPO, rpmBuilt.stdout.trim());
      // pci.ids: the package recommends it (apt installs it along), and doctor names devices from it.
      const boot = timed('debootstrap', () => asRoot('debootstrap', ['--variant=minbase', '--include=pci.ids', 'bookworm', root, MIRROR]));
      if (boot.code !== 0) throw new Error(`debootstrap failed (exit ${boot.code}):\n${boot.stdout.slice(-3000)}${boot.stderr}`);
      cpSync(deb, path.join(root, 'tmp', 'gpuvirt.deb'));
      cpSync(path.join(REPO, 'test', 'fixtures', 'sysfs', FIXTURE), path.join(root, 'tmp', FIXTURE), { recursive: true, verbatimSymlinks: true });
      before = fileList(root);
    }, 900_000);

    afterAll(() => {
      if (timings.length) process.stderr.write(`gpuvirt package e2e: ${timings.join(', ')}\n`);
      if (scratch) removeTree(scratch, readFileSync('/proc/self/mountinfo', 'utf8'));
    }, 300_000);

    it('the root has no Node', () => {
      const r = inRoot('command -v node nodejs; ls /usr/lib/*/libnode* 2>/dev/null; dpkg -l "nodejs*" 2>/dev/null | grep ^ii; true');
      expect(r.stdout).toBe('');
      expect(r.code).toBe(0);
    });

    it('installs with dpkg', () => {
      const r = timed('dpkg -i', () => inRoot('dpkg -i /tmp/gpuvirt.deb'));
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(inRoot('command -v gpuvirt').stdout).toBe('/usr/bin/gpuvirt\n');
    });

    it('gpuvirt --version', () => {
      expect(inRoot('gpuvirt --version')).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    });

    it('gpuvirt doctor --json reads this kernel and prints one JSON document', () => {
      const r = timed('doctor', () => inRoot('GPUVIRT_DEBUG=1 gpuvirt doctor --json'));
      expect([0, 1], r.stderr).toContain(r.code);
      const doc = JSON.parse(r.stdout) as { command: string; ok: boolean; data: { checks: { id: string }[] } };
      expect(doc).toMatchObject({ schemaVersion: 1, command: 'doctor', ok: r.code === 0 });
      expect(doc.data.checks.map((c) => c.id)).toContain('cpu.virtualization');
      // GPUVIRT_DEBUG=1 makes the executable say when V8 turned its code cache down.
      expect(r.stderr).not.toMatch(/code cache/);
    });

    it('prints what bin/gpuvirt prints for an example host', () => {
      for (const args of [['doctor', '--json'], ['doctor'], ['list', '--json'], ['sriov', 'status', '--json']]) {
        const r = inRoot(`SOURCE_DATE_EPOCH=1700000000 gpuvirt ${args.join(' ')} --root /tmp/${FIXTURE}`);
        const want = fromClone([...args, '--root', path.join(REPO, 'test', 'fixtures', 'sysfs', FIXTURE)]);
        expect({ args, ...r, error: undefined }).toEqual({ args, ...want, error: undefined });
      }
    });

    it('decides colour when it runs: on a terminal, not on a pipe nor with NO_COLOR', () => {
      // script(1) (bsdutils, in every Debian root) gives the command a terminal.
      const onTerminal = (env: string) => inRoot(`${env} script -qec "gpuvirt doctor --root /tmp/${FIXTURE}" /dev/null`);
      const ESC = '\u001b[';
      expect(onTerminal('').stdout).toContain(ESC);
      expect(onTerminal('NO_COLOR=1').stdout).not.toContain(ESC);
      const piped = inRoot(`gpuvirt doctor --root /tmp/${FIXTURE} | cat`);
      expect(piped.stdout).toContain('cpu.virtualization');
      expect(piped.stdout).not.toContain(ESC);
    });

    it('gpuvirt generate on an example profile, as bin/gpuvirt does', () => {
      for (const target of ['qemu', 'libvirt', 'proxmox']) {
        const r = inRoot(`gpuvirt generate /usr/share/doc/gpuvirt/examples/${PROFILE} --offline --target ${target}`);
        const want = fromClone(['generate', path.join(REPO, 'profiles', PROFILE), '--offline', '--target', target]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout.length).toBeGreaterThan(0);
        expect({ target, ...r, error: undefined }).toEqual({ target, ...want, error: undefined });
      }
    });

    it('ships the man page and completions bash loads', () => {
      expect(inRoot('gzip -dc /usr/share/man/man1/gpuvirt.1.gz | head -1').stdout).toMatch(/^\.TH GPUVIRT 1 /);
      const r = inRoot(`bash -c '. /usr/share/bash-completion/completions/gpuvirt; COMP_WORDS=(gpuvirt sriov ""); COMP_CWORD=2; _gpuvirt; echo "\${COMPREPLY[*]}"'`);
      expect(r).toMatchObject({ code: 0, stdout: 'status enable disable\n' });
      for (const f of ['/usr/share/zsh/vendor-completions/_gpuvirt', '/usr/share/fish/vendor_completions.d/gpuvirt.fish']) {
        expect(existsSync(path.join(root, f)), f).toBe(true);
      }
    });

    it('dpkg --purge leaves no file behind', () => {
      const r = timed('dpkg --purge', () => inRoot('dpkg --purge gpuvirt'));
      expect(r.code, r.stderr).toBe(0);
      expect(lstatSync(path.join(root, 'usr', 'bin')).isDirectory()).toBe(true);
      expect(fileList(root)).toEqual(before);
    });

    // The .rpm, into the same root, by this machine's rpm. Its database goes where Fedora's did
    // before rpm 4.16 (the root has none): rpm's own record, deleted after `rpm -e`.
    const RPMDB = '/var/lib/rpm';
    // Debian's rpm warns on stderr that it is not Debian's package manager: that line is dropped.
    const rpmIn = (args: string[]) => {
      const r = asRoot('rpm', ['--root', root, '--dbpath', RPMDB, ...args]);
      return { ...r, stderr: r.stderr.split('\n').filter((l) => !/^rpm: (RPM should not be used directly|However assuming you know)/.test(l)).join('\n') };
    };

    it('the .rpm requires only glibc (2.28 at most), libstdc++ and libgcc, by the libraries Fedora and RHEL 8+ have', () => {
      expect(sh('rpm', ['-K', '--nosignature', rpm]).stdout).toMatch(/digests OK/);
      const requires = sh('rpm', ['-qp', '--requires', rpm]).stdout.split('\n').filter(Boolean);
      const libraries = new Set(requires.filter((r) => !r.startsWith('rpmlib(') && !r.startsWith('rtld(')).map((r) => r.replace(/\(.*$/, '')));
      expect([...libraries].sort()).toEqual(['ld-linux-x86-64.so.2', 'libc.so.6', 'libdl.so.2', 'libgcc_s.so.1', 'libm.so.6', 'libpthread.so.0', 'libstdc++.so.6']);
      const glibc = requires.map((r) => /^libc\.so\.6\(GLIBC_2\.(\d+)/.exec(r)).filter((m) => m !== null).map((m) => Number(m[1]));
      expect(glibc.length).toBeGreaterThan(0);
      expect(Math.max(...glibc)).toBeLessThanOrEqual(28);
      expect(sh('rpm', ['-qp', '--qf', '%{NAME} %{VERSION} %{ARCH}', rpm]).stdout).toBe(`gpuvirt ${VERSION} x86_64`);
    });

    it('the .rpm holds the files the .deb holds, in Fedora\'s places', () => {
      // Regular files, path and size: `dpkg-deb -c` lines end "size date time ./path".
      const inDeb = sh('dpkg-deb', ['-c', deb]).stdout.split('\n').filter((l) => l.startsWith('-'))
        .map((l) => /(\d+) \S+ \S+ \.\/(.+)$/.exec(l)!).map(([, size, p]) => `${p!.replace('zsh/vendor-completions', 'zsh/site-functions').replace('doc/gpuvirt/copyright', 'licenses/gpuvirt/copyright')} ${size}`);
      const inRpm = sh('rpm', ['-qp', '--qf', '[%{FILEMODES:perms} %{FILESIZES} %{FILENAMES}\n]', rpm]).stdout.split('\n').filter((l) => l.startsWith('-'))
        .map((l) => l.split(' ')).map(([, size, p]) => `${p!.slice(1)} ${size}`);
      expect(inDeb.length).toBeGreaterThan(10);
      expect(inRpm.sort()).toEqual(inDeb.sort());
    });

    it('installs the .rpm with rpm', () => {
      const r = timed('rpm -i', () => rpmIn(['-i', '--nodeps', rpm]));
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(inRoot('command -v gpuvirt').stdout).toBe('/usr/bin/gpuvirt\n');
      for (const f of ['/usr/share/zsh/site-functions/_gpuvirt', '/usr/share/licenses/gpuvirt/copyright', '/usr/share/fish/vendor_completions.d/gpuvirt.fish', `/usr/share/doc/gpuvirt/examples/${PROFILE}`]) {
        expect(existsSync(path.join(root, f)), f).toBe(true);
      }
      // Every file as the package has it (its dependencies are not in this root's rpm database).
      expect(rpmIn(['-V', '--nodeps', 'gpuvirt'])).toMatchObject({ code: 0, stdout: '' });
    });

    it('the installed gpuvirt runs: --version, doctor --json on this kernel, generate, completions', () => {
      expect(inRoot('gpuvirt --version')).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
      const doctor = inRoot('GPUVIRT_DEBUG=1 gpuvirt doctor --json');
      expect([0, 1], doctor.stderr).toContain(doctor.code);
      expect(JSON.parse(doctor.stdout)).toMatchObject({ command: 'doctor', ok: doctor.code === 0 });
      expect(doctor.stderr).not.toMatch(/code cache/);
      const r = inRoot(`gpuvirt generate /usr/share/doc/gpuvirt/examples/${PROFILE} --offline --target libvirt`);
      const want = fromClone(['generate', path.join(REPO, 'profiles', PROFILE), '--offline', '--target', 'libvirt']);
      expect({ ...r, error: undefined }).toEqual({ ...want, error: undefined });
      const completion = inRoot(`bash -c '. /usr/share/bash-completion/completions/gpuvirt; COMP_WORDS=(gpuvirt sriov ""); COMP_CWORD=2; _gpuvirt; echo "\${COMPREPLY[*]}"'`);
      expect(completion).toMatchObject({ code: 0, stdout: 'status enable disable\n' });
    });

    it('rpm -e leaves no file behind', () => {
      const r = timed('rpm -e', () => rpmIn(['-e', 'gpuvirt']));
      expect(r.code, r.stderr).toBe(0);
      expect(asRoot('rm', ['-rf', '--one-file-system', path.join(root, RPMDB)]).code).toBe(0);
      // /usr/share/licenses is the filesystem package's on Fedora and RHEL, so not the package's
      // to own: Debian's root lacked it, rpm made it for the package's license, and it stays.
      expect(fileList(root)).toEqual([...before, 'd usr/share/licenses'].sort());
    });
  });
}
