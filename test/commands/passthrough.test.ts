import { describe, expect, it } from 'vitest';
import { machine } from '../helpers/sim.js';
import { paths } from '../../src/host/paths.js';
import { acquireLock } from '../../src/change/lock.js';

const GPU = '0000:01:00.0';
const AUDIO = '0000:01:00.1';
const SLOT = [GPU, AUDIO];

describe('passthrough on the simulated kernel', () => {
  it('--dry-run prints the plan and changes nothing', async () => {
    const m = machine('intel-desktop-nvidia');
    const before = m.drivers(SLOT);
    const r = await m.run(['passthrough', '01:00.0', '--dry-run', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.data.devices.map((d: { address: string; reason: string }) => [d.address, d.reason])).toEqual([[GPU, 'requested'], [AUDIO, 'slot']]);
    expect(r.doc.data.steps.length).toBeGreaterThan(0);
    expect(m.host.writes).toEqual([]);
    expect(m.drivers(SLOT)).toEqual(before);
  });

  it('binds the whole slot, verifies it, and performs exactly the writes the plan showed', async () => {
    const m = machine('intel-desktop-nvidia');
    const plan = (await m.run(['passthrough', '01:00.0', '--dry-run', '--json'])).doc.data.steps;
    const r = await m.run(['passthrough', '01:00.0', '--yes', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.ok).toBe(true);
    expect(m.drivers(SLOT)).toEqual({ [GPU]: { driver: 'vfio-pci', override: 'vfio-pci' }, [AUDIO]: { driver: 'vfio-pci', override: 'vfio-pci' } });
    expect(m.host.exists(paths.devVfioGroup(8))).toBe(true);
    const planned = plan.filter((s: { kind: string }) => s.kind === 'write').map((s: { path: string; value: string }) => [s.path, s.value]);
    expect(m.host.writes.map((w) => [w.path, w.value])).toEqual(planned);
    expect(m.host.writes.every((w) => w.result === 'ok')).toBe(true);
    // the identical-looking iGPU and everything else is untouched
    expect(m.drivers(['0000:00:02.0'])['0000:00:02.0']!.driver).toBe('i915');
  });

  it('a second run is a no-op', async () => {
    const m = machine('intel-desktop-nvidia');
    await m.run(['passthrough', '01:00.0', '--yes']);
    m.host.clearWrites();
    const r = await m.run(['passthrough', '01:00.0', '--yes', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.data.noop).toBe(true);
    expect(m.host.writes).toEqual([]);
  });

  it('a failure at any write is undone: every device ends on its original driver and override', async () => {
    const probe = machine('intel-desktop-nvidia');
    const plan = (await probe.run(['passthrough', '01:00.0', '--dry-run', '--json'])).doc.data.steps.filter((s: { kind: string }) => s.kind === 'write');
    expect(plan.length).toBe(6);
    for (const [i, step] of plan.entries()) {
      const m = machine('intel-desktop-nvidia');
      const before = m.drivers(SLOT);
      m.host.failOn({ path: step.path, value: step.value, errno: 'EBUSY', times: 1 });
      const r = await m.run(['passthrough', '01:00.0', '--yes', '--json']);
      expect(r.code, `failure at write ${i}`).toBe(1);
      expect(r.doc.data.applied.rollback.ok, `rollback after write ${i}`).toBe(true);
      expect(m.drivers(SLOT), `state after failing write ${i}`).toEqual(before);
      expect(m.host.exists(paths.devVfioGroup(8))).toBe(false);
      expect((await m.run(['status', '--json'])).doc.data.devices).toEqual([]);
    }
  });

  it('drivers_probe that "succeeds" without binding is caught by the verify step and undone', async () => {
    const m = machine('intel-desktop-nvidia');
    const before = m.drivers(SLOT);
    m.host.failProbe({ device: AUDIO, driver: 'vfio-pci', errno: 'EINVAL' });
    const r = await m.run(['passthrough', '01:00.0', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('0000:01:00.1 is bound to no driver, not vfio-pci');
    expect(r.stdout).toContain('Rolled back');
    expect(m.drivers(SLOT)).toEqual(before);
  });

  it('loads vfio-pci when it is not loaded, and undoes everything if loading fails', async () => {
    const ok = machine('amd-desktop-shared');
    const r = await ok.run(['passthrough', '09:00.0', '--yes', '--force', '--json']);
    expect(r.code).toBe(0);
    expect(ok.testExec.calls).toContainEqual(['modprobe', 'vfio-pci']);
    const bad = machine('amd-desktop-shared');
    const before = bad.drivers(['0000:09:00.0']);
    bad.exec.failOn({ argv: ['modprobe', 'vfio-pci'], exitCode: 1, stderr: 'modprobe: FATAL: Module vfio-pci not found' });
    const f = await bad.run(['passthrough', '09:00.0', '--yes', '--force']);
    expect(f.code).toBe(1);
    expect(f.stdout).toContain('Module vfio-pci not found');
    expect(bad.drivers(['0000:09:00.0'])).toEqual(before);
  });
});

describe('passthrough preflight on the fixture machines', () => {
  it('refuses the boot GPU while its driver drives the console; --force takes it', async () => {
    const m = machine('intel-desktop-nvidia');
    const r = await m.run(['passthrough', '00:02.0', '--yes', '--json']);
    expect(r.code).toBe(7);
    expect(r.doc.data.refusals.map((x: { code: string }) => x.code)).toEqual(['boot-vga']);
    expect(m.host.writes).toEqual([]);
    expect((await m.run(['passthrough', '00:02.0', '--yes', '--force'])).code).toBe(0);
    expect(m.drivers(['0000:00:02.0'])['0000:00:02.0']!.driver).toBe('vfio-pci');
  });

  it('refuses a GPU sharing its group with USB, SATA and a NIC, naming them; --force takes the group', async () => {
    const m = machine('amd-desktop-shared');
    const r = await m.run(['passthrough', '06:00.0', '--yes']);
    expect(r.code).toBe(7);
    expect(r.stdout).toContain('Refused:');
    expect(r.stdout).toMatch(/0000:02:00\.0 \[0c03\] \(driver xhci_hcd\) shares IOMMU group 13/);
    expect(r.stdout).toContain('--force would take 0000:02:00.0 too');
    expect(m.host.writes).toEqual([]);
    const forced = await m.run(['passthrough', '06:00.0', '--yes', '--force', '--json']);
    expect(forced.code).toBe(0);
    const taken = forced.doc.data.devices.map((d: { address: string }) => d.address);
    expect(taken).toEqual(expect.arrayContaining(['0000:06:00.0', '0000:02:00.0', '0000:02:00.1']));
    for (const a of taken) expect(m.drivers([a])[a]!.driver).toBe('vfio-pci');
    // bridges in the group keep their driver
    expect(forced.doc.data.bridges.length).toBeGreaterThan(0);
    for (const b of forced.doc.data.bridges) expect(m.drivers([b])[b]!.driver).not.toBe('vfio-pci');
  });

  it('never takes the disk that holds the root filesystem, even with --force', async () => {
    const m = machine('shared-with-boot-disk');
    const r = await m.run(['passthrough', '01:00.0', '--yes', '--force', '--json']);
    expect(r.code).toBe(7);
    const root = r.doc.data.refusals.find((x: { code: string }) => x.code === 'root-filesystem');
    expect(root.address).toBe('0000:02:00.0');
    expect(root.force).toBeNull();
    expect(m.host.writes).toEqual([]);
  });

  it('two identical GPUs: only the named one is taken', async () => {
    const m = machine('two-identical-gpus');
    const before = m.drivers(['0000:01:00.0', '0000:01:00.1']);
    expect((await m.run(['passthrough', '02:00.0', '--yes'])).code).toBe(0);
    expect(m.drivers(['0000:02:00.0'])['0000:02:00.0']!.driver).toBe('vfio-pci');
    expect(m.drivers(['0000:01:00.0', '0000:01:00.1'])).toEqual(before);
    expect(m.host.writes.some((w) => w.path.includes('new_id'))).toBe(false);
  });

  it('without an IOMMU vfio-pci is refused even with --force (the kernel would leave the GPU driverless); pci-stub is allowed', async () => {
    const m = machine('iommu-off-cmdline');
    const before = m.drivers(SLOT);
    const r = await m.run(['passthrough', '01:00.0', '--yes', '--force', '--json']);
    expect(r.code).toBe(7);
    expect(r.doc.data.refusals.map((x: { code: string }) => x.code)).toContain('no-iommu');
    expect(m.drivers(SLOT)).toEqual(before);
    expect((await m.run(['passthrough', '01:00.0', '--driver', 'pci-stub', '--yes'])).code).toBe(0);
    expect(m.drivers([GPU])[GPU]!.driver).toBe('pci-stub');
  });
});

describe('passthrough input and safety gates', () => {
  it('a malformed address or a missing device is one line and a clear exit code', async () => {
    const m = machine('intel-desktop-nvidia');
    const bad = await m.run(['passthrough', '01:00', '--yes']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n')[0]).toBe('gpuvirt: not a PCI address: "01:00"');
    const missing = await m.run(['passthrough', '0a:00.0', '--yes']);
    expect(missing.code).toBe(6);
    expect(missing.stderr).toContain('no PCI device 0000:0a:00.0');
  });

  it('needs root before touching anything, but --dry-run works without', async () => {
    const m = machine('intel-desktop-nvidia');
    const userHost = Object.assign(Object.create(Object.getPrototypeOf(m.host)), m.host, { isPrivileged: () => false });
    const { main } = await import('../../src/cli.js');
    const { captureIO } = await import('../helpers/io.js');
    const io = captureIO();
    const code = await main(['passthrough', '01:00.0', '--yes', '--root', m.root], { io, env: {}, platform: 'linux', makeHost: () => userHost, makeExec: () => m.testExec });
    expect(code).toBe(4);
    expect(io.stderr).toContain('needs root');
    expect(m.host.writes).toEqual([]);
    const dry = captureIO();
    expect(await main(['passthrough', '01:00.0', '--dry-run', '--root', m.root], { io: dry, env: {}, platform: 'linux', makeHost: () => userHost, makeExec: () => m.testExec })).toBe(0);
  });

  it('asks on a terminal, refuses without one unless --yes, and a "no" changes nothing', async () => {
    const m = machine('intel-desktop-nvidia');
    const pipe = await m.run(['passthrough', '01:00.0']);
    expect(pipe.code).toBe(2);
    expect(pipe.stderr).toContain('--yes');
    const no = await m.run(['passthrough', '01:00.0'], { tty: true, answer: false });
    expect(no.code).toBe(130);
    expect(m.host.writes).toEqual([]);
    const yes = await m.run(['passthrough', '01:00.0'], { tty: true, answer: true });
    expect(yes.code).toBe(0);
  });

  it('a second run while another holds the lock is refused (exit 8) and changes nothing; a lock file left behind is not a lock', async () => {
    const m = machine('intel-desktop-nvidia');
    m.host.mkdirp('/run');
    const held = await acquireLock(m.host, 'passthrough', 424242);
    const busy = await m.run(['passthrough', '01:00.0', '--yes']);
    expect(busy.code).toBe(8);
    expect(busy.stderr).toContain('another gpuvirt run (pid 424242, passthrough)');
    expect(m.host.writes).toEqual([]);
    held.release();
    // What a killed run leaves: the informative file without the kernel-held socket.
    m.host.writeFile(paths.lockFile, '999999 passthrough\n');
    expect((await m.run(['passthrough', '01:00.0', '--yes'])).code).toBe(0);
    expect(m.host.exists(paths.lockFile)).toBe(false);
  });
});
