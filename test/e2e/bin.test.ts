// bin/gpuvirt as a user runs it: a separate process, the built bundle, real stdout/stderr.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, cpSync, createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };
import { copyTree, simTmpDir } from '../../src/sim/host.js';
import { FIXTURES } from '../helpers/sim.js';
import { SysfsBuilder } from '../helpers/sysfs-builder.js';

const BIN = new URL('../../bin/gpuvirt', import.meta.url).pathname;
const require = createRequire(import.meta.url);
const { SPLIT, filesOf } = require('../../bin/gpuvirt') as { SPLIT: Set<string>; filesOf(name: string): { bundle: string; cache: string } };
/** A command's own bundle and cache, in this program's dist/ or in `dist` (a copy's). */
const FILES_OF = (name: string, dist?: string) => {
  const f = filesOf(name);
  return dist ? { bundle: join(dist, basename(f.bundle)), cache: join(dist, basename(f.cache)) } : f;
};
const built = existsSync(new URL('../../dist/gpuvirt.cjs', import.meta.url));

function gpuvirt(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', SOURCE_DATE_EPOCH: '1700000000', ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A copy of the named files and folders of the program in `dir`. */
function copyOfProgram(dir: string, parts: string[]): string {
  for (const f of parts) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(new URL(`../../${f}`, import.meta.url), join(dir, f), { recursive: true, preserveTimestamps: true });
  }
  return dir;
}

describe.runIf(built)('bin/gpuvirt', () => {
  let scratch = '';
  beforeAll(() => {
    scratch = mkdtempSync(join(simTmpDir(), 'gpuvirt-bin-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('--version prints the package version', () => {
    const r = gpuvirt(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('--version alone prints the version; with --json it is a document', () => {
    expect(gpuvirt(['--version'])).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const doc = JSON.parse(gpuvirt(['--version', '--json']).stdout);
    expect(doc).toMatchObject({ schemaVersion: 1, command: 'version', ok: true, data: { version: pkg.version }, timestamp: '2023-11-14T22:13:20.000Z' });
  });

  it('doctor --json on a fixture: one document, exit status from the checks', () => {
    const ok = gpuvirt(['doctor', '--json', '--root', FIXTURES + 'intel-desktop-nvidia']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ schemaVersion: 1, command: 'doctor', ok: true });
    const bad = gpuvirt(['doctor', '--json', '--root', FIXTURES + 'iommu-off-cmdline']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).ok).toBe(false);
  });

  it('human doctor on a pipe: plain text, no colour, NO_COLOR honoured', () => {
    const r = gpuvirt(['doctor', '--root', FIXTURES + 'amd-desktop-shared'], { NO_COLOR: '1' });
    expect(r.stdout).toContain('PASS  cpu.virtualization');
    expect(r.stdout).not.toMatch(/\x1b\[/);
  });

  it('bad input: one line on stderr, a usage exit code, no stack trace', () => {
    for (const args of [['passthrough', 'zz:00.0', '--root', FIXTURES + 'intel-desktop-nvidia'], ['doctor', '--root', '/no/such/root'], ['frobnicate']]) {
      const r = gpuvirt(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout).toBe('');
    }
  });

  it('passthrough and release end to end on a copy of a fixture under the simulated kernel', () => {
    const root = join(scratch, 'intel');
    copyTree(FIXTURES + 'intel-desktop-nvidia', root);
    const env = { GPUVIRT_SIMULATE: '1' };
    const dry = gpuvirt(['passthrough', '01:00.0', '--dry-run', '--root', root], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('Plan (dry run, nothing changed):');
    const apply = gpuvirt(['passthrough', '01:00.0', '--yes', '--json', '--root', root], env);
    expect(apply.code).toBe(0);
    expect(JSON.parse(apply.stdout).data.applied.ok).toBe(true);
    const list = JSON.parse(gpuvirt(['list', '--gpus', '--json', '--root', root], env).stdout);
    const slot = list.data.groups.find((g: { id: number }) => g.id === 8).devices;
    expect(slot.map((d: { driver: string }) => d.driver)).toEqual(['vfio-pci', 'vfio-pci']);
    const release = gpuvirt(['release', '01:00.0', '--yes', '--root', root], env);
    expect(release.code).toBe(0);
    const after = JSON.parse(gpuvirt(['list', '--gpus', '--json', '--root', root], env).stdout);
    expect(after.data.groups.find((g: { id: number }) => g.id === 8).devices.map((d: { driver: string }) => d.driver)).toEqual(['nvidia', 'snd_hda_intel']);
  });

  const env = { PATH: process.env.PATH ?? '', SOURCE_DATE_EPOCH: '1700000000' };
  /** Runs `code` in a node that requires bin/gpuvirt of `dir` (without running it). */
  const withLoader = (dir: string, code: string) => spawnSync(process.execPath, ['-e', `const bin = require(${JSON.stringify(join(dir, 'bin/gpuvirt'))}); ${code}`], { encoding: 'utf8', env });
  /**
   * Whether bin/gpuvirt of `dir` compiles a bundle with its code cache: 'false' when it does.
   * The whole program's, or with `name` that command's own bundle.
   */
  const cacheRejected = (dir: string, name?: string) => withLoader(dir, `
    const fs = require('fs');
    const { bundle, cache: cacheFile } = ${name ? `bin.filesOf(${JSON.stringify(name)})` : '{ bundle: bin.BUNDLE, cache: bin.CACHE }'};
    const stat = fs.statSync(bundle);
    let data; try { data = fs.readFileSync(cacheFile); } catch {}
    const stamp = bin.stampOf(stat);
    const cache = data && data.toString('latin1', 0, stamp.length) === stamp ? data.subarray(stamp.length) : undefined;
    const { script } = bin.runBundle(fs.readFileSync(bundle, 'latin1'), cache);
    process.stdout.write(String(script.cachedDataRejected));`).stdout;

  it('dist/gpuvirt.cjs and every command\'s own bundle need nothing but Node built-ins, and their code caches are accepted by this Node', () => {
    const dir = new URL('../..', import.meta.url).pathname;
    for (const name of [undefined, ...SPLIT]) {
      const file = name ? FILES_OF(name).bundle : join(dir, 'dist/gpuvirt.cjs');
      const text = readFileSync(file, 'latin1');
      const required = [...text.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!);
      expect(required.length, file).toBeGreaterThan(0);
      expect(required.filter((r) => !builtinModules.includes(r.replace(/^node:/, ''))), file).toEqual([]);
      // vm.Script (how the loaders run a bundle) has no import(): a built-in must come by require().
      expect(text.match(/\bimport\(\s*["'`][^"'`]+["'`]\s*\)/g) ?? [], file).toEqual([]);
      expect(cacheRejected(dir, name), file).toBe('false');
    }
    const r = spawnSync(process.execPath, [BIN, 'list', '--json', '--root', FIXTURES + 'qemu-amd'], { encoding: 'utf8', env: { ...env, GPUVIRT_DEBUG: '1' } });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('a command\'s own bundle holds none of the other commands, commander or inquirer', () => {
    const whole = readFileSync(new URL('../../dist/gpuvirt.cjs', import.meta.url), 'latin1');
    // Text of: init's question, commander's usage errors, inquirer, apply's register step.
    const others = ['Which GPU goes to the VM?', 'too many arguments', 'ExitPromptError', 'virsh define'];
    for (const marker of others) expect(whole, marker).toContain(marker);
    for (const name of SPLIT) {
      const text = readFileSync(FILES_OF(name).bundle, 'latin1');
      for (const marker of others) expect(text, `${name}: ${marker}`).not.toContain(marker);
      expect(text.length, name).toBeLessThan(whole.length * 0.6);
    }
  });

  it('a command\'s own bundle prints what the whole program prints, and leaves every other argv to it', () => {
    // The same program without the per-command bundles: everything runs from the whole program.
    const copy = copyOfProgram(join(scratch, 'whole-only'), ['bin/gpuvirt', 'bin/commands.js', 'bin/package.json', 'package.json', 'dist']);
    for (const name of SPLIT) {
      const own = FILES_OF(name, join(copy, 'dist'));
      rmSync(own.bundle);
      rmSync(own.cache);
    }
    const profile = new URL('../../profiles/headless-compute.yaml', import.meta.url).pathname;
    const desktop = FIXTURES + 'intel-desktop-nvidia';
    const cases = [
      ['doctor', '--root', desktop], ['doctor', '--json', '--root', desktop], ['--root', desktop, 'list', '--gpus'],
      ['status', '--root', desktop], ['sriov', 'status', '--json', '--root', FIXTURES + 'server-mxgpu-sriov'],
      ['mdev', 'types', '--root', FIXTURES + 'nvidia-vgpu-host'], ['vgpu', 'types', '--json', '--root', FIXTURES + 'nvidia-vgpu-host'],
      ['vgpu', 'status', '--root', FIXTURES + 'nvidia-vgpu-host'], ['cmdline', '--root', desktop],
      ['profile', 'validate', profile], ['profile', 'check', profile, '--json', '--root', desktop],
      ['generate', profile, '--target', 'libvirt', '--offline'],
      // Not theirs: help, usage errors, another command after an option's value, a typo.
      ['doctor', '--help'], ['list', '--bogus'], ['status', 'extra'], ['generate'], ['sriov', 'status', '--help'],
      ['--root', 'doctor', 'list'], ['profile', 'checks', profile], ['vgpu', 'typo'], ['doctor', '--json', '--bogus'],
      // Options before, between and after the words; `--root=X`, `--root` last or given twice; `--`.
      [`--root=${desktop}`, 'status'], ['sriov', '--root', desktop, 'status'], ['vgpu', '--json', 'types', `--root=${desktop}`], ['cmdline', '--root'],
      ['list', '--root', '/no/such', '--root', desktop], ['doctor', '--root', desktop, '--json', '--json'], ['--', 'doctor', '--root', desktop],
      ['doctor', '--root', desktop, '--'], ['list', '--', '--root', desktop], ['doctor', `--root=`], ['doctor', '--root', ''],
      // Help in its forms, empty and unicode words, a command word as another option's value, --version among others.
      ['doctor', '-h'], ['help', 'sriov', 'status'], ['', 'doctor'], ['doctor', ''], ['doctor', 'é'], ['dóctor'], ['-'],
      ['generate', profile, '--target', 'list', '--offline'], ['generate', '--target', 'libvirt', profile, '--offline'], ['list', 'doctor', '--root', desktop],
      ['doctor', '--version'], ['doctor', '--json', '--version'], ['--version', 'doctor'], ['profile', 'validate'], ['list', '--gpus=1', '--root', desktop],
      ['doctor', '--root', desktop, '--strict', '--json'], ['list', '--root', desktop, '--no-color', '--no-color'], ['status', '--root', '/etc/passwd'],
    ];
    const same = (args: string[], extra: Record<string, string> = {}) => {
      const mine = gpuvirt(args, extra);
      const whole = spawnSync(process.execPath, [join(copy, 'bin/gpuvirt'), ...args], { encoding: 'utf8', env: { ...env, ...extra } });
      expect({ code: mine.code, stdout: mine.stdout, stderr: mine.stderr }, `${JSON.stringify(extra)} ${args.join(' ')}`).toEqual({ code: whole.status, stdout: whole.stdout, stderr: whole.stderr });
    };
    for (const args of cases) same(args);
    // status on a host with a boot record: its own bundle has no reader for it and hands over.
    const kept = join(scratch, 'kept');
    copyTree(FIXTURES + 'intel-desktop-nvidia', kept);
    mkdirSync(join(kept, 'etc/gpuvirt'), { recursive: true });
    writeFileSync(join(kept, 'etc/gpuvirt/host.yaml'), 'apiVersion: gpuvirt/v1\nkind: HostConfig\nconfigs:\n  local:\n    devices:\n      - select: { address: "0000:01:00.0" }\n        driver: vfio-pci\n');
    for (const args of [['status', '--root', kept], ['status', '--json', '--root', kept]]) {
      const mine = gpuvirt(args);
      const whole = spawnSync(process.execPath, [join(copy, 'bin/gpuvirt'), ...args], { encoding: 'utf8', env });
      expect(mine.stdout, args.join(' ')).toContain('0000:01:00.0');
      expect({ code: mine.code, stdout: mine.stdout, stderr: mine.stderr }, args.join(' ')).toEqual({ code: whole.status, stdout: whole.stdout, stderr: whole.stderr });
    }
    // A profile the shape check does not pass: its own bundle has no zod to say why, and hands over.
    const bad = join(scratch, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: gpuvirt/v1\nname: bad\nmemory: 4GiB\ncpu: { cores: 2, threds: 2 }\ndevices:\n  - { type: gpu, select: { address: 01:00.0 }, functions: [] }\n');
    for (const args of [['profile', 'validate', bad], ['profile', 'validate', profile, bad, '--json'], ['profile', 'check', bad, '--root', desktop], ['generate', bad, '--target', 'qemu', '--offline', '--json']]) {
      const mine = gpuvirt(args);
      const whole = spawnSync(process.execPath, [join(copy, 'bin/gpuvirt'), ...args], { encoding: 'utf8', env });
      expect(mine.stdout + mine.stderr, args.join(' ')).toMatch(/did you mean \\?"threads\\?"/);
      expect({ code: mine.code, stdout: mine.stdout, stderr: mine.stderr }, args.join(' ')).toEqual({ code: whole.status, stdout: whole.stdout, stderr: whole.stderr });
    }
    // Under the simulated kernel (only the whole program has it), each on its own copy of a host.
    for (const args of [['doctor', '--json'], ['list'], ['sriov', 'status'], ['status', '--json']]) {
      const [a, b] = ['own', 'whole'].map((side) => {
        const root = join(scratch, `sim-${side}-${args[0]}`);
        copyTree(FIXTURES + 'server-mxgpu-sriov', root);
        return root;
      });
      const mine = gpuvirt([...args, '--root', a!], { GPUVIRT_SIMULATE: '1' });
      const whole = spawnSync(process.execPath, [join(copy, 'bin/gpuvirt'), ...args, '--root', b!], { encoding: 'utf8', env: { ...env, GPUVIRT_SIMULATE: '1' } });
      expect(mine.code, args.join(' ')).toBe(whole.status);
      expect(mine.stdout.replaceAll(a!, 'ROOT'), args.join(' ')).toBe(whole.stdout.replaceAll(b!, 'ROOT'));
      expect(mine.stderr.replaceAll(a!, 'ROOT')).toBe(whole.stderr.replaceAll(b!, 'ROOT'));
    }
    // What the environment says: a root, a simulated kernel on a copy, colour, a clock, debugging.
    const sim = join(scratch, 'whole-only-sim');
    copyTree(FIXTURES + 'server-mxgpu-sriov', sim);
    const envs: Record<string, string>[] = [
      { GPUVIRT_ROOT: desktop }, { GPUVIRT_ROOT: '/no/such' }, { GPUVIRT_SIMULATE: '1', GPUVIRT_ROOT: sim }, { GPUVIRT_SIMULATE: '1' },
      { NO_COLOR: '1' }, { TERM: 'dumb' }, { SOURCE_DATE_EPOCH: '1' }, { GPUVIRT_DEBUG: '1' },
    ];
    for (const extra of envs) for (const args of [['doctor'], ['sriov', 'status', '--json'], ['list', '--bogus'], ['frobnicate', '--json']]) same(args, extra);
  });

  it('a code cache is used only with the file it was made from; a damaged one is rejected; every command still runs', () => {
    const copy = copyOfProgram(join(scratch, 'stale-cache'), ['bin/gpuvirt', 'bin/commands.js', 'bin/package.json', 'package.json', 'dist']);
    const run = (args: string[]) => spawnSync(process.execPath, [join(copy, 'bin/gpuvirt'), ...args], { encoding: 'utf8', env }).stdout;
    const args = ['doctor', '--root', FIXTURES + 'server-mxgpu-sriov'];
    const expected = gpuvirt(args).stdout;
    expect(cacheRejected(copy, 'doctor')).toBe('false');
    expect(run(args)).toBe(expected);
    // doctor runs from its own bundle
    const { bundle, cache: cacheFile } = FILES_OF('doctor', join(copy, 'dist'));
    const source = readFileSync(bundle, 'latin1');
    const cache = readFileSync(cacheFile);
    const { mtime } = statSync(bundle);
    // An edit of the same length after the build (V8 alone would take the old code): the cache is not used.
    const edited = source.replace('passed, ${', 'PASSED, ${');
    expect(edited).not.toBe(source);
    expect(edited.length).toBe(source.length);
    writeFileSync(bundle, edited, 'latin1');
    const later = new Date(mtime.getTime() + 5000);
    utimesSync(bundle, later, later);
    expect(cacheRejected(copy, 'doctor')).toBe('undefined');
    expect(run(args)).toBe(expected.replace(' passed, ', ' PASSED, '));
    // The very file, the cache damaged after its stamp line: V8 rejects it and compiles the source.
    writeFileSync(bundle, source, 'latin1');
    utimesSync(bundle, mtime, mtime);
    expect(cacheRejected(copy, 'doctor')).toBe('false');
    const stampEnd = cache.indexOf(0x0a) + 1;
    writeFileSync(cacheFile, Buffer.concat([cache.subarray(0, stampEnd), Buffer.alloc(cache.length - stampEnd, 7)]));
    expect(cacheRejected(copy, 'doctor')).toBe('true');
    expect(run(args)).toBe(expected);
    // No cache at all; no bundle of its own (the whole program runs it); then no program:
    // still one line and a documented status.
    rmSync(cacheFile);
    expect(run(args)).toBe(expected);
    rmSync(bundle);
    expect(run(args)).toBe(expected);
    rmSync(join(copy, 'dist/gpuvirt.cjs'));
    const none = spawnSync(process.execPath, [join(copy, 'bin/gpuvirt'), ...args], { encoding: 'utf8', env });
    expect(none.status).toBe(3);
    expect(none.stderr).toContain('the program is not built');
  });

  it('GPUVIRT_DEBUG: a command\'s own bundle without its cache says so only when it runs the command, never before leaving an argv to the whole program', () => {
    const copy = copyOfProgram(join(scratch, 'no-own-cache'), ['bin/gpuvirt', 'bin/commands.js', 'bin/package.json', 'package.json', 'dist']);
    rmSync(FILES_OF('doctor', join(copy, 'dist')).cache);
    const debug = { ...env, GPUVIRT_DEBUG: '1' };
    const run = (args: string[]) => spawnSync(process.execPath, [join(copy, 'bin/gpuvirt'), ...args], { encoding: 'utf8', env: debug });
    for (const args of [['doctor', '--help'], ['doctor', '--bogus'], ['doctor', 'extra']]) {
      const mine = run(args);
      const whole = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: debug });
      expect({ code: mine.status, stdout: mine.stdout, stderr: mine.stderr }, args.join(' ')).toEqual({ code: whole.status, stdout: whole.stdout, stderr: whole.stderr });
    }
    const ran = run(['doctor', '--json', '--root', FIXTURES + 'qemu-amd']);
    expect(JSON.parse(ran.stdout).command).toBe('doctor');
    expect(ran.stderr).toBe('gpuvirt: the code cache was not used; every command starts slower\n');
  });

  it.runIf(spawnSync('script', ['--version']).status === 0)('on a terminal: colour unless NO_COLOR is set to something, or TERM is dumb', () => {
    // script(1) gives the command a pseudo-terminal as stdout.
    const onTerminal = (vars: string) => spawnSync('script', ['-qec', `env -u NO_COLOR ${vars} ${process.execPath} ${BIN} doctor --root ${FIXTURES}intel-desktop-nvidia`, '/dev/null'], {
      encoding: 'utf8', env: { PATH: process.env.PATH ?? '', TERM: 'xterm' },
    }).stdout;
    expect(onTerminal('')).toContain('\x1b[');
    expect(onTerminal('NO_COLOR=')).toContain('\x1b[');
    expect(onTerminal('NO_COLOR=1')).not.toContain('\x1b[');
    expect(onTerminal('TERM=dumb')).not.toContain('\x1b[');
    expect(onTerminal('NO_COLOR=1')).toContain('PASS  cpu.virtualization');
  });

  it('stdout on a full disk (/dev/full): exit 1 and one line on stderr, for a command and for help', () => {
    const full = openSync('/dev/full', 'w');
    try {
      const root = FIXTURES + 'intel-desktop-nvidia';
      for (const args of [['doctor', '--root', root], ['doctor', '--json', '--root', root], ['list', '--json', '--root', root], ['doctor', '--help'], ['--version'], ['-V']]) {
        const r = spawnSync(process.execPath, [BIN, ...args], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8', env: { PATH: process.env.PATH ?? '', SOURCE_DATE_EPOCH: '1700000000' } });
        expect(r.stderr, args.join(' ')).toBe('gpuvirt: cannot write to standard output: ENOSPC\n');
        expect(r.status, args.join(' ')).toBe(1);
      }
    } finally {
      closeSync(full);
    }
  });

  it('output larger than a full non-blocking pipe arrives whole and in order', async () => {
    // stdout is a FIFO made non-blocking (by perl, after Node's spawn has made it blocking for
    // the child) and read only after a pause: write(2) meets EAGAIN once 64 kB are queued, and
    // the rest must go through the stream, after what was written.
    const machine = new SysfsBuilder();
    try {
      machine.iommu().driver('ixgbe');
      for (let i = 0; i < 400; i++) {
        const addr = `0000:${(1 + (i >> 5)).toString(16).padStart(2, '0')}:${(i & 31).toString(16).padStart(2, '0')}.0`;
        machine.device({ addr, vendor: '8086', device: '10fb', class: '020000', driver: 'ixgbe', group: 100 + i });
      }
      const fifo = join(scratch, 'fifo');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      // This process keeps a write end open until the child is done, so opening the reading end
      // never waits for a writer, and closing it is what ends the reading.
      const writeEnd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
      const nonblocking = 'fcntl(STDOUT, F_SETFL, fcntl(STDOUT, F_GETFL, 0) | O_NONBLOCK) or die; exec @ARGV or die';
      const child = spawn('perl', ['-MFcntl', '-e', nonblocking, process.execPath, BIN, 'list', '--json', '--root', machine.root], {
        stdio: ['ignore', writeEnd, 'pipe'], env: { PATH: process.env.PATH ?? '', SOURCE_DATE_EPOCH: '1700000000' },
      });
      const closed = new Promise<number | null>((r) => child.on('close', r));
      await new Promise((r) => setTimeout(r, 1500));
      const reader = createReadStream(fifo);
      const read = new Promise<string>((resolve, reject) => {
        const chunks: Buffer[] = [];
        reader.on('data', (c) => chunks.push(c as Buffer));
        reader.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        reader.on('error', reject);
      });
      await new Promise((r) => reader.once('open', r));
      const code = await closed;
      closeSync(writeEnd);
      const text = await read;
      expect(code).toBe(0);
      expect(text.length).toBeGreaterThan(128 * 1024);
      const doc = JSON.parse(text);
      expect(doc.data.groups.length).toBe(400);
      expect(doc.data.groups.map((g: { id: number }) => g.id)).toEqual([...Array(400).keys()].map((i) => 100 + i));
    } finally {
      machine.cleanup();
    }
  });

  it.runIf(process.geteuid?.() === 0)('without GPUVIRT_SIMULATE a fixture root is read-only: nothing is written, no program runs', () => {
    const root = join(scratch, 'amd');
    copyTree(FIXTURES + 'amd-desktop-shared', root);
    const r = gpuvirt(['passthrough', '09:00.0', '--yes', '--force', '--root', root]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--root ${root} is read-only`);
    expect(r.stdout).not.toContain('modprobe');
    expect(existsSync(join(root, 'run'))).toBe(false);
  });
});

describe.runIf(!built)('bin/gpuvirt', () => {
  it.skip('skipped: dist/ is not built (npm test builds it first)', () => {});
});
