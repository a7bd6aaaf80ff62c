// The battery of hostile trees (issue: a confined host). Each case builds its tree from a
// fixture at test time, runs commands under the simulated kernel, and checks through
// hostile.run that nothing outside the root changed or was printed, then that the exit code
// and the one-line message are the documented ones (README "Exit codes": 7 refused for an
// unsafe tree or value, 2 usage, 1 for unreadable state).
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { paths } from '../../src/host/paths.js';
import { failureLines, hostile, walkDigest } from '../helpers/hostile.js';
import { captureIO } from '../helpers/io.js';
import { FIXTURES } from '../helpers/sim.js';
import { makeSimHost } from '../../src/sim/host.js';

const NV = 'intel-desktop-nvidia';
const REBUILT = { 'update-initramfs -u -k all': { exitCode: 0, stdout: '', stderr: '' } };
const GPU = '0000:01:00.0';

function expectRefused(r: { code: number; stderr: string }, ...parts: string[]): void {
  expect(r.code, r.stderr).toBe(7);
  const lines = failureLines(r as never);
  expect(lines.length).toBeLessThanOrEqual(2);
  for (const p of parts) expect(lines[0]).toContain(p);
}

describe('links out of the root, at every level gpuvirt reads or writes', () => {
  it.each([
    ['a driver store (unbind)', '/sys/bus/pci/drivers/nvidia/unbind', 'victim'],
    ['a device attribute (driver_override)', `/sys/devices/pci0000:00/0000:00:01.0/${GPU}/driver_override`, 'victim'],
    ['the state directory', paths.stateDir, 'dir'],
  ])('%s: passthrough is refused before anything changes', async (_what, hostPath, target) => {
    const h = hostile(NV);
    if (hostPath.startsWith('/sys')) expect(fs.existsSync(join(h.root, hostPath))).toBe(true);
    const driver = () => fs.readlinkSync(join(h.root, paths.pciAttr(GPU, 'driver')));
    const before = driver();
    h.linkOut(hostPath, target);
    const r = await h.run(['passthrough', '01:00.0', '--yes']);
    if (hostPath.startsWith('/sys/bus')) {
      // Found at the write itself: the run fails and is rolled back (exit 1), naming the link.
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout + r.stderr).toContain('unbind: a symbolic link where gpuvirt writes an attribute');
    } else expectRefused(r, 'outside the root');
    expect(driver()).toBe(before);
  });

  it.each([
    ['udev rules', '/etc/udev/rules.d'],
    ['modprobe.d', '/etc/modprobe.d'],
    ['the initramfs hooks', '/etc/initramfs-tools/hooks'],
  ])('%s linked out: passthrough --persist writes nothing outside', async (_what, hostPath) => {
    const h = hostile(NV, REBUILT);
    h.linkOut(hostPath, 'dir');
    const r = await h.run(['passthrough', '01:00.0', '--persist', '--yes']);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(3);
  });

  it('the run directory linked out: the lock\'s informative file is not written there', async () => {
    const h = hostile(NV);
    h.linkOut('/run', 'dir');
    const r = await h.run(['passthrough', '01:00.0', '--yes']);
    expect(r.code, r.stderr).not.toBe(3);
  });

  it('an absolute link is resolved from the tree\'s own /: the state lands inside the root', async () => {
    const h = hostile(NV);
    h.linkOut(paths.stateDir, 'dir', 'absolute');
    const r = await h.run(['passthrough', '01:00.0', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(join(h.root, h.outside, 'dir', 'state.json'))).toBe(true);
  });

  it('proc/cmdline linked to a secret: doctor and cmdline refuse and never print it', async () => {
    const h = hostile(NV);
    h.linkOut(paths.procCmdline, 'secret');
    for (const argv of [['doctor'], ['cmdline'], ['doctor', '--json']]) {
      const r = await h.run(argv);
      if (argv.includes('--json')) {
        expect(r.code).toBe(7);
        expect(JSON.parse(r.stdout).error.code).toBe('E_UNSAFE_PATH');
      } else expectRefused(r, '/proc/cmdline', 'outside the root');
    }
  });

  it('proc/cmdline as an absolute link to a secret reads the tree\'s own (absent) file', async () => {
    const h = hostile(NV);
    h.linkOut(paths.procCmdline, 'secret', 'absolute');
    const r = await h.run(['cmdline']);
    expect(r.code).not.toBe(3);
  });

  it('a device directory linked out of the tree', async () => {
    const h = hostile(NV);
    h.linkOut(`${paths.pciDevices}/0000:ee:00.0`, 'dir');
    for (const argv of [['doctor'], ['list']]) expectRefused(await h.run(argv), '0000:ee:00.0');
  });
});

describe('every file a command writes, linked out of the root', () => {
  const OK = { exitCode: 0, stdout: '', stderr: '' };
  it.each([
    ['setup (GRUB)', 'iommu-off-cmdline', ['setup', '--yes'], '/etc/default/grub', 'victim', { 'update-grub': OK }],
    ['setup --vfio-modules (modules-load.d)', 'iommu-off-cmdline', ['setup', '--vfio-modules', '--yes'], '/etc/modules-load.d', 'dir', { 'update-grub': OK, 'update-initramfs -u -k all': OK }],
    ['setup --vfio-modules (initramfs-tools modules)', 'iommu-off-cmdline', ['setup', '--vfio-modules', '--yes'], '/etc/initramfs-tools/modules', 'victim', { 'update-grub': OK, 'update-initramfs -u -k all': OK }],
    ['setup (systemd-boot /etc/kernel/cmdline)', 'amd-desktop-shared', ['setup', '--param', 'iommu=pt', '--yes'], '/etc/kernel/cmdline', 'victim', {}],
    ['setup (loader entries)', 'amd-desktop-shared', ['setup', '--param', 'iommu=pt', '--yes'], '/boot/loader/entries', 'dir', {}],
    ['the backups directory', 'iommu-off-cmdline', ['setup', '--yes'], '/var/lib/gpuvirt/backups', 'dir', { 'update-grub': OK }],
    ['sriov --persist (udev rules)', 'server-mxgpu-sriov', ['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--bind', 'vfio-pci', '--persist', '--yes'], '/etc/udev/rules.d', 'dir', {}],
    ['sriov state', 'server-mxgpu-sriov', ['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--yes'], '/var/lib/gpuvirt', 'dir', {}],
  ])('%s: nothing outside changes, and the run ends cleanly', async (_what, fixture, argv, hostPath, target, programs) => {
    for (const how of ['relative', 'absolute'] as const) {
      const h = hostile(fixture as string, programs as never);
      h.linkOut(hostPath as string, target as string, how);
      const r = await h.run(argv as string[]);
      expect(r.code, `${how}: ${r.stderr}`).not.toBe(3);
      if (how === 'relative') expect(r.code, r.stderr).not.toBe(0);
    }
  });

  it('snapshot of a tree whose proc/cmdline links to a secret: the archive keeps the link, never the secret', async () => {
    const h = hostile(NV);
    h.linkOut(paths.procCmdline, 'secret');
    const out = join(h.outside, '..', `snap-${Date.now()}.tar.gz`);
    try {
      const r = await h.m.run(['snapshot', '--out', out]);
      expect(r.code).not.toBe(3);
      if (fs.existsSync(out)) expect(gunzipSync(fs.readFileSync(out)).includes(h.token)).toBe(false);
    } finally {
      fs.rmSync(out, { force: true });
    }
  });
});

describe('files that are not what they claim', () => {
  it('a FIFO as proc/cmdline, as a device attribute and as a profile: an error naming it, never a hang', async () => {
    const h = hostile(NV);
    h.fifo(paths.procCmdline);
    expectRefused(await h.run(['cmdline']), '/proc/cmdline', 'FIFO');
    // list reads a function's ids from its uevent; where uevent lacks them, from vendor, device, ...
    const g = hostile(NV);
    g.fifo(paths.pciAttr(GPU, 'uevent'));
    expectRefused(await g.run(['list']), 'uevent', 'FIFO');
    const v = hostile(NV);
    v.put(paths.pciAttr(GPU, 'uevent'), `PCI_SLOT_NAME=${GPU}\n`);
    v.fifo(paths.pciAttr(GPU, 'vendor'));
    expectRefused(await v.run(['list']), 'vendor', 'FIFO');
    const profile = join(g.outside, 'profile.fifo');
    spawnSync('mkfifo', [profile]);
    const r = await g.m.run(['profile', 'validate', profile]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('not a regular file');
  });

  it.runIf(process.geteuid?.() === 0)('a device node (/dev/zero) under the root is refused, not read forever', async () => {
    const h = hostile(NV);
    fs.rmSync(join(h.root, 'proc/cmdline'));
    expect(spawnSync('mknod', [join(h.root, 'proc/cmdline'), 'c', '1', '5']).status).toBe(0);
    expectRefused(await h.run(['cmdline']), '/proc/cmdline', 'device node');
  });

  it('a link to this machine\'s /dev/zero leaves the root and is refused', async () => {
    const h = hostile(NV);
    h.link(paths.procCmdline, '../'.repeat(40) + 'dev/zero');
    expectRefused(await h.run(['doctor']), '/proc/cmdline');
  });

  it('a symlink loop among the devices is a clean refusal, not a bug', async () => {
    const h = hostile(NV);
    h.link(`${paths.pciDevices}/0000:ee:00.0`, '0000:ee:00.1');
    h.link(`${paths.pciDevices}/0000:ee:00.1`, '0000:ee:00.0');
    for (const argv of [['doctor'], ['list']]) expectRefused(await h.run(argv), 'loop');
  });

  it('a huge attribute is refused at its size limit', async () => {
    const h = hostile(NV);
    h.put(paths.pciAttr(GPU, 'uevent'), 'x'.repeat(200 * 1024));
    expectRefused(await h.run(['list']), 'uevent', 'larger than');
    // Where uevent lacks the ids, the attributes are read: a huge one is refused the same way.
    const v = hostile(NV);
    v.put(paths.pciAttr(GPU, 'uevent'), `PCI_SLOT_NAME=${GPU}\n`);
    v.put(paths.pciAttr(GPU, 'vendor'), 'x'.repeat(200 * 1024));
    expectRefused(await v.run(['list']), 'vendor', 'larger than');
  });

  it('a driver link whose name carries a newline is refused before it reaches state or modprobe.d', async () => {
    const h = hostile(NV, REBUILT);
    h.link('/sys/bus/pci/drivers/nvidia/module', "../../../../module/x\ninstall nvidia /bin/sh -c 'touch /pwned'");
    const r = await h.run(['passthrough', '01:00.0', '--persist', '--yes']);
    expectRefused(r, '/sys/bus/pci/drivers/nvidia/module');
    expect(fs.existsSync(join(h.root, paths.persist.modprobe))).toBe(false);
    expect(fs.existsSync(join(h.root, paths.stateFile))).toBe(false);
  });

  it('control characters from pci.ids are escaped in text output', async () => {
    const h = hostile(NV);
    h.put('/usr/share/misc/pci.ids', '# pci.ids\n10de  NVIDIA\x1b]0;owned\x07 Corp\n\t2204  GA102 \x1b[2J[RTX 3090]\n');
    const r = await h.run(['list']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    expect(r.stdout).toContain('\\x1b');
  });
});

describe('state and manifests are checked against their schema', () => {
  const state = (devices: Record<string, unknown>, sriov?: Record<string, unknown>) => `${JSON.stringify({ version: 1, devices, ...(sriov ? { sriov } : {}) })}\n`;
  const device = (over: Record<string, unknown> = {}) => ({
    address: GPU, target: 'vfio-pci', originalDriver: 'nvidia', originalModule: 'nvidia', originalOverride: null,
    set: [GPU], persisted: true, status: 'bound', since: '2026-01-01T00:00:00.000Z', ...over,
  });

  it.each([
    ['a udev injection in target', device({ target: 'vfio-pci", RUN+="/bin/sh -c \'touch /pwned\'' })],
    ['a newline in the module', device({ originalModule: 'nvidia\ninstall x /bin/sh' })],
    ['.. in an address of the set', device({ set: ['../../outside'] })],
    ['a driver with a quote', device({ originalDriver: 'nv"idia' })],
  ])('%s: release --persist and status refuse the state', async (_what, rec) => {
    const h = hostile(NV, REBUILT);
    h.put(paths.stateFile, state({ [GPU]: rec }), 0o600);
    for (const argv of [['release', '--all', '--persist', '--yes'], ['status']]) {
      const r = await h.run(argv);
      expect(r.code, r.stderr).toBe(1);
      expect(failureLines(r)[0]).toContain('is not readable gpuvirt state');
    }
    expect(fs.existsSync(join(h.root, paths.persist.udevRule))).toBe(false);
  });

  it.each([
    ['pf', { pf: '0000:c1:00.0"\nRUN+="x', numVfs: 2 }],
    ['bind', { bind: 'vfio-pci\nExecStart=/bin/sh' }],
    ['numVfs', { numVfs: '2"; rm -rf /' }],
  ])('an SR-IOV record with an injection in %s is refused', async (_f, over) => {
    const h = hostile(NV);
    const pf = '0000:c1:00.0';
    const rec = { pf, numVfs: 2, bind: 'vfio-pci', adapter: 'nvidia', persisted: true, originalNumVfs: 0, originalAutoprobe: null, status: 'done', since: 'x', ...over };
    h.put(paths.stateFile, state({}, { [pf]: rec }), 0o600);
    const r = await h.run(['status']);
    expect(r.code).toBe(1);
    expect(failureLines(r)[0]).toContain('is not readable gpuvirt state');
  });

  const manifest = (files: unknown[], over: Record<string, unknown> = {}) => JSON.stringify({
    format: 1, command: 'setup', runId: 'run1', createdAt: 'x', bootloader: 'grub', change: { add: [], remove: [] },
    files, commands: [], initramfsRebuilt: false, ...over,
  });
  const sha = 'a'.repeat(64);

  it.each([
    ['.. creating a file outside', [{ path: '/../../outside/evil.rules', existed: true, afterSha256: sha }], {}],
    ['.. deleting a file outside', [{ path: '/etc/../../victim', existed: false, afterSha256: sha }], {}],
    ['a file setup never edits', [{ path: '/etc/passwd', existed: false, afterSha256: sha }], {}],
    ['a relative path', [{ path: 'etc/default/grub', existed: true, afterSha256: sha }], {}],
    ['a program setup never runs', [], { commands: [['sh', '-c', 'touch /pwned']] }],
    ['a run id that is not its directory', [], { runId: '../../x' }],
  ])('setup --undo --force refuses a manifest with %s', async (_what, files, over) => {
    const h = hostile('iommu-off-cmdline', { 'update-grub': { exitCode: 0, stdout: '', stderr: '' } });
    h.put(`${paths.backupDir}/run1/manifest.json`, manifest(files, over), 0o600);
    h.put(`${paths.backupDir}/run1/etc/default/grub`, 'GRUB_CMDLINE_LINUX_DEFAULT=""\n');
    h.put(`${paths.backupDir}/run1/outside/evil.rules`, 'evil\n');
    // The tree as setup would change it: the lock's informative file under /run aside.
    const tree = () => walkDigest(h.root).split('\n').filter((l) => !l.startsWith('run')).join('\n');
    const before = tree();
    const r = await h.run(['setup', '--undo', '--yes', '--force']);
    expectRefused(r, 'is not a setup manifest gpuvirt can undo');
    expect(tree()).toBe(before);
  });
});

describe('root rules', () => {
  async function cli(argv: string[], env: Record<string, string>) {
    const io = captureIO();
    const code = await main(argv, { io, env, platform: 'linux' });
    return { code, stdout: io.stdout, stderr: io.stderr };
  }

  it('a root other than / is read-only without GPUVIRT_SIMULATE: nothing in it changes', async () => {
    const sim = makeSimHost(FIXTURES + NV);
    const outside = fs.mkdtempSync(join(sim.root, '..', 'gpuvirt-outside-'));
    try {
      fs.rmSync(join(sim.root, '.sim-kernel.json'), { force: true });
      fs.writeFileSync(join(outside, 'victim'), 'victim\n');
      fs.rmSync(join(sim.root, 'sys/bus/pci/drivers/nvidia/unbind'));
      fs.symlinkSync(join(outside, 'victim'), join(sim.root, 'sys/bus/pci/drivers/nvidia/unbind'));
      const before = walkDigest(sim.root);
      const r = await cli(['passthrough', '01:00.0', '--yes', '--force', '--root', sim.root], {});
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(new RegExp(`^gpuvirt: --root ${sim.root} is read-only: not writing /\\S+$`));
      expect(walkDigest(sim.root)).toBe(before);
      expect(fs.readFileSync(join(outside, 'victim'), 'utf8')).toBe('victim\n');
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
      sim.cleanup();
    }
  });

  it.each([[[]], [['--root', '/.']], [['--root', '//']]])('GPUVIRT_SIMULATE=1 on this machine (%j) is refused', async (rootArgs) => {
    const r = await cli(['status', ...rootArgs], { GPUVIRT_SIMULATE: '1' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('GPUVIRT_SIMULATE=1 needs --root DIR');
  });

  it('a root that is a link to / is /', async () => {
    const dir = fs.mkdtempSync(join(FIXTURES, '..', '..', '..', '.tmp-root-link-'));
    try {
      fs.symlinkSync('/', join(dir, 'slash'));
      const r = await cli(['status', '--root', join(dir, 'slash')], { GPUVIRT_SIMULATE: '1' });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('GPUVIRT_SIMULATE=1 needs --root DIR');
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});

describe('backups and rewritten files', () => {
  it('keep the original\'s mode, live in a 0700 directory, and a linked config is edited at its target', async () => {
    const h = hostile('iommu-off-cmdline', { 'update-grub': { exitCode: 0, stdout: '', stderr: '' } });
    const grub = join(h.root, 'etc/default/grub');
    fs.renameSync(grub, join(h.root, 'etc/default/grub.real'));
    fs.symlinkSync('grub.real', grub);
    fs.chmodSync(join(h.root, 'etc/default/grub.real'), 0o600);
    const r = await h.run(['setup', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.lstatSync(grub).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(grub, 'utf8')).toContain('intel_iommu=on');
    expect(fs.statSync(join(h.root, 'etc/default/grub.real')).mode & 0o7777).toBe(0o600);
    const backups = join(h.root, paths.backupDir.slice(1));
    expect(fs.statSync(backups).mode & 0o7777).toBe(0o700);
    const [run] = fs.readdirSync(backups);
    expect(fs.statSync(join(backups, run!, 'etc/default/grub')).mode & 0o7777).toBe(0o600);
    const undo = await h.run(['setup', '--undo', '--yes']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(fs.lstatSync(grub).isSymbolicLink()).toBe(true);
    expect(fs.statSync(join(h.root, 'etc/default/grub.real')).mode & 0o7777).toBe(0o600);
  });

  it('a config linked out of the root is refused, and the outside file is untouched', async () => {
    const h = hostile('iommu-off-cmdline', { 'update-grub': { exitCode: 0, stdout: '', stderr: '' } });
    h.linkOut('/etc/default/grub', 'victim');
    const r = await h.run(['setup', '--yes']);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(3);
  });
});
