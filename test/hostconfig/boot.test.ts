// The boot-time re-apply: `host apply --persist` records the config and enables one unit, the
// unit's own run (`host apply --boot --wait-ready`) puts a drifted host back and waits, bounded,
// for devices that appear late, and `host unpersist` removes it all; every change goes through
// the engine, so a fault at any step leaves the host as it was, and a kill is recovered.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Host } from '../../src/host/host.js';
import { paths } from '../../src/host/paths.js';
import { HOST_STATE, HOST_UNIT, HOST_UNIT_WANTS, hostUnit } from '../../src/hostconfig/boot.js';
import { notReady, POLL_MS, waitReady } from '../../src/hostconfig/ready.js';
import { loadHostConfigText } from '../../src/hostconfig/load.js';
import { PciNames } from '../../src/pci/names.js';
import { dying, type Death } from '../helpers/dying.js';
import { machine, type Machine } from '../helpers/sim.js';
import { treeDiff, treeState } from '../helpers/tree-state.js';
import { configFile } from './files.js';

const OK = { exitCode: 0, stdout: '', stderr: '' };
const TEXT = `apiVersion: gpuvirt/v1
kind: HostConfig
configs:
  vdi:   # a comment the recorded copy keeps
    devices:
      - select: { address: "0000:c1:00.0" }
        sriov: { vfs: 2, vfDriver: vfio-pci }
      - select: { address: "0000:81:00.0" }
        driver: vfio-pci
`;
const FILE = configFile(TEXT);
const PERSIST = ['host', 'apply', '-f', FILE, '-c', 'vdi', '--persist'];
const BIN = new URL('../../bin/gpuvirt', import.meta.url).pathname;

/** A server; systemctl is the simulator's (enable and disable make and remove the .wants link). */
const server = (): Machine => machine('server-mxgpu-sriov');

/** The unit's own command line, run against the machine: the recorded copy under its root. */
const bootArgv = (m: Machine, wait = 5) => ['host', 'apply', '--boot', '-f', join(m.root, HOST_STATE), '-c', 'vdi', '--wait-ready', String(wait), '--json'];

const mutating = (plan: { kind: string }[]) => plan.flatMap((s, i) => (['write', 'exec', 'file', 'remove-file'].includes(s.kind) ? [i] : []));

describe('the boot unit', () => {
  it('runs `host apply --boot` of the recorded file and config, after the drivers, never restarted', () => {
    const unit = hostUnit('vdi');
    expect(unit).toContain(`ExecStart=gpuvirt host apply --boot -f ${HOST_STATE} -c vdi --wait-ready 120\n`);
    expect(unit).toMatch(/^After=.*systemd-modules-load\.service.*systemd-udev-trigger\.service/m);
    expect(unit).toMatch(/^Type=oneshot$/m);
    expect(unit).toContain('WantedBy=multi-user.target');
    expect(unit).not.toMatch(/^Restart=/m);
    expect(() => hostUnit('a%n')).toThrow(/config name "a%n" is not/);
    expect(() => hostUnit('a b')).toThrow(/config name/);
  });

  const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  it.skipIf(!analyze)('passes systemd-analyze verify (and a broken unit does not)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-unit-'));
    // systemd finds `gpuvirt` on its own search path; here it is this checkout's.
    const file = join(dir, 'gpuvirt-host.service');
    writeFileSync(file, hostUnit('vdi').replace('ExecStart=gpuvirt ', `ExecStart=${BIN} `));
    const good = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    expect([good.status, good.stderr]).toEqual([0, '']);
    // The same check on broken units: it says so (a bad value is only a warning to systemd).
    writeFileSync(file, hostUnit('vdi').replace('ExecStart=gpuvirt ', `ExecStart=${BIN} `).replace('Type=oneshot', 'Type=oneshoot'));
    expect(spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' }).stderr).toContain('Failed to parse service type');
    writeFileSync(file, hostUnit('vdi').replace('ExecStart=gpuvirt ', `ExecStart=${BIN}-missing `));
    expect(spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' }).status).not.toBe(0);
  });
});

describe('host apply --persist and host unpersist', { timeout: 300_000 }, () => {
  it('records the file and config, enables the unit, and a second run changes nothing', async () => {
    const m = server();
    const r = await m.run([...PERSIST, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data).toMatchObject({ changed: true, failed: false, persisted: { config: 'vdi', file: HOST_STATE, unit: 'gpuvirt-host.service' } });
    expect(r.doc.data.msg).toContain('applied again at every boot (gpuvirt-host.service)');
    expect(m.host.readText(HOST_STATE)).toBe(TEXT);
    expect(m.host.readText(HOST_UNIT)).toBe(hostUnit('vdi'));
    expect(m.testExec.calls).toContainEqual(['systemctl', 'enable', 'gpuvirt-host.service']);
    expect(m.drivers(['0000:81:00.0'])['0000:81:00.0']!.driver).toBe('vfio-pci');
    const again = await m.run([...PERSIST, '--yes', '--json']);
    expect(again.doc.data).toMatchObject({ changed: false, noop: true });
    // The recorded copy is a config like any other: assert passes with it.
    expect((await m.run(['host', 'assert', '-f', join(m.root, HOST_STATE), '-c', 'vdi', '--json'])).code).toBe(0);
  });

  it('persists a host that already matches (only the record, the unit and the early files), and --dry-run writes nothing', async () => {
    const m = server();
    expect((await m.run(['host', 'apply', '-f', FILE, '-c', 'vdi', '--yes'])).code).toBe(0);
    const dry = await m.run([...PERSIST, '--dry-run', '--json']);
    expect(dry.doc.data.steps.map((s: { title: string }) => s.title)).toEqual([
      `record the host config in ${HOST_STATE}`, `write ${HOST_UNIT} (apply config vdi at boot)`, 'reload systemd units', 'apply config vdi at every boot (enable gpuvirt-host.service)',
      // The early files: the VF count as the PF's driver binds, the passthrough GPU claimed before its host driver.
      `write ${paths.sriovPersist.udevRule}`, `write ${paths.persist.udevRule}`, `write ${paths.persist.modprobe}`,
    ]);
    expect(m.host.readText(HOST_UNIT)).toBeNull();
    const r = await m.run([...PERSIST, '--yes', '--json']);
    expect(r.doc.data).toMatchObject({ changed: true });
    expect(m.host.readLink(HOST_UNIT_WANTS)).not.toBeNull();
    expect(m.host.readText(paths.persist.udevRule)).toContain('KERNEL=="0000:81:00.0", ATTR{driver_override}="vfio-pci"');
    expect(m.host.readText(paths.sriovPersist.udevRule)).toContain('KERNEL=="0000:c1:00.0", ATTR{sriov_drivers_autoprobe}="0", ATTR{sriov_numvfs}="2"');
  });

  it('unpersist disables and removes the unit and the record; then nothing is left to do', async () => {
    const m = server();
    await m.run([...PERSIST, '--yes']);
    const st = await m.run(['status', '--json']);
    expect(st.doc.data.hostConfig).toMatchObject({
      config: 'vdi', file: HOST_STATE, unit: 'gpuvirt-host.service', enabled: true, legacy: [],
      devices: [{ select: 'address "0000:c1:00.0"', vfs: 2, vfDriver: 'vfio-pci' }, { select: 'address "0000:81:00.0"', driver: 'vfio-pci' }],
    });
    expect(st.doc.data.hostConfig.early).toContainEqual({ file: paths.persist.udevRule, holds: ['0000:81:00.0 on vfio-pci'] });
    expect(st.doc.data.hostConfig.early).toContainEqual({ file: paths.sriovPersist.udevRule, holds: expect.arrayContaining(['0000:c1:00.0: 2 VFs on vfio-pci']) });
    expect((await m.run(['status'])).stdout).toContain(`At boot: gpuvirt-host.service applies config vdi from ${HOST_STATE}`);
    const r = await m.run(['host', 'unpersist', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data.config).toBe('vdi');
    expect(m.host.readText(HOST_UNIT)).toBeNull();
    expect(m.host.readText(HOST_STATE)).toBeNull();
    expect(m.host.readLink(HOST_UNIT_WANTS)).toBeNull();
    for (const f of [paths.persist.udevRule, paths.persist.modprobe, paths.sriovPersist.udevRule]) expect(m.host.readText(f)).toBeNull();
    expect(m.testExec.calls).toContainEqual(['systemctl', 'disable', 'gpuvirt-host.service']);
    // The host keeps its state: only the next boot no longer applies it.
    expect(m.drivers(['0000:81:00.0'])['0000:81:00.0']!.driver).toBe('vfio-pci');
    expect((await m.run(['host', 'unpersist', '--yes', '--json'])).doc.data.noop).toBe(true);
    expect((await m.run(['status', '--json'])).doc.data.hostConfig).toBeNull();
  });

  it('--boot and --persist together are a usage error', async () => {
    const r = await server().run([...PERSIST, '--boot', '--json']);
    expect(r.code).toBe(2);
  });

  for (const [name, prepare, argv] of [
    ['apply --persist', async (_m: Machine) => undefined, [...PERSIST, '--yes', '--json']],
    ['unpersist', async (m: Machine) => void (await m.run([...PERSIST, '--yes'])), ['host', 'unpersist', '--yes', '--json']],
  ] as const) {
    it(`${name}: a fault at any step leaves the host byte-identical; a kill is found and recovered`, async () => {
      const probe = server();
      await prepare(probe);
      const plan: { kind: string; title: string }[] = (await probe.run([...argv.filter((a) => a !== '--yes'), '--dry-run'])).doc.data.steps;
      expect(plan.some((s) => s.title.includes('gpuvirt-host.service'))).toBe(true);
      for (const i of mutating(plan)) {
        const m = server();
        await prepare(m);
        const before = treeState(m.root);
        const death: Death = { atStep: i, after: 0, dead: false, faultOnly: true };
        const r = await m.run([...argv], { seams: (h, e) => dying(h, e, death) });
        expect(death.faulted, `step ${i} was reached`).toBe(true);
        expect(r.code, `fault at step ${i} (${plan[i]!.title})`).toBe(1);
        expect(treeDiff(before, treeState(m.root)), `after a fault at step ${i} (${plan[i]!.title})`).toEqual([]);
      }
      for (const i of mutating(plan)) {
        const m = server();
        await prepare(m);
        const before = treeState(m.root);
        const death: Death = { atStep: i, after: 0, dead: false };
        await m.run([...argv], { seams: (h, e) => dying(h, e, death) });
        expect(death.dead, `the kill at step ${i} happened`).toBe(true);
        const next = await m.run([...argv]);
        expect(next.code, `the run after a kill at step ${i}`).toBe(1);
        const rec = await m.run(['recover', '--yes', '--json']);
        expect(rec.code, `recover after a kill at step ${i}: ${JSON.stringify(rec.doc)}`).toBe(0);
        expect(treeDiff(before, treeState(m.root)), `after a kill at step ${i} (${plan[i]!.title}) and recover`).toEqual([]);
      }
    });
  }
});

/**
 * The host as boot finds it: `address` is not enumerated until `appearAfter` sleeps have passed,
 * and its driver link is not there until `boundAfter` sleeps (the PF driver still loading).
 */
function lateDevice(host: Host, address: string, clock: { sleeps: number }, appearAfter: number, boundAfter = appearAfter): Host {
  const dir = `${paths.pciDevices}/${address}`;
  const hidden = (p: string) => (clock.sleeps < appearAfter && (p === dir || p.startsWith(`${dir}/`))) || (clock.sleeps < boundAfter && p === `${dir}/driver`);
  return new Proxy(host, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const fn = value.bind(target);
      switch (prop) {
        case 'list':
          return (p: string) => {
            const names: string[] | null = fn(p);
            return p === paths.pciDevices && clock.sleeps < appearAfter ? names?.filter((n) => n !== address) ?? null : names;
          };
        case 'exists': case 'isDirectory':
          return (p: string) => (hidden(p) ? false : fn(p));
        case 'readText': case 'readLink':
          return (p: string) => (hidden(p) ? null : fn(p));
        default:
          return fn;
      }
    },
  });
}

describe('--wait-ready', { timeout: 120_000 }, () => {
  const simulated = () => {
    const clock = { sleeps: 0, slept: 0 };
    return { clock, sleep: async (ms: number) => void ((clock.sleeps += 1), (clock.slept += ms)) };
  };

  it('the boot run waits for a PF that appears late and whose driver binds later, then applies', async () => {
    const m = server();
    await m.run([...PERSIST, '--yes']);
    // A reboot: the VFs are gone and the GPU is back on its host driver.
    expect((await m.run(['host', 'apply', '-f', FILE, '-c', 'vdi', '--yes'])).code).toBe(0);
    await m.run(['sriov', 'disable', '0000:c1:00.0', '--yes']);
    await m.run(['release', '0000:81:00.0', '--yes']);
    expect((await m.run(['host', 'assert', '-f', FILE, '-c', 'vdi'])).code).toBe(1);
    const { clock, sleep } = simulated();
    const r = await m.run(bootArgv(m, 30), { sleep, seams: (h, e) => ({ host: lateDevice(h, '0000:c1:00.0', clock, 3, 5), exec: e }) });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.doc.data).toMatchObject({ changed: true, failed: false, ready: { ready: true, polls: 6, missing: [] } });
    expect(r.stderr).toContain('no device matches address "0000:c1:00.0" yet');
    expect(r.stderr).toContain('0000:c1:00.0: waiting for its PF driver to bind');
    expect(clock.slept).toBe(5 * POLL_MS);
    expect((await m.run(['host', 'assert', '-f', FILE, '-c', 'vdi'])).code).toBe(0);
  });

  it('gives up at the bound, changes nothing and exits 9, naming what never came', async () => {
    const m = server();
    await m.run([...PERSIST, '--yes']);
    await m.run(['sriov', 'disable', '0000:c1:00.0', '--yes']);
    const before = treeState(m.root);
    const { clock, sleep } = simulated();
    const r = await m.run(bootArgv(m, 4), { sleep, seams: (h, e) => ({ host: lateDevice(h, '0000:c1:00.0', clock, Infinity), exec: e }) });
    expect(r.code).toBe(9);
    expect(r.doc.ok).toBe(false);
    expect(r.doc.data).toMatchObject({ failed: true, changed: false, ready: { ready: false, polls: 5, waitedMs: 4000 } });
    expect(r.doc.data.msg).toMatch(/^not ready after 4 s \(5 looks\), nothing was changed: devices\[0\]: no device matches address "0000:c1:00.0" yet/);
    expect(clock.slept).toBe(4000);
    expect(treeDiff(before, treeState(m.root))).toEqual([]);
  });

  it('a host that is ready is not waited for; a VF named by address that its PF will make is not waited for', async () => {
    const m = server();
    const { clock, sleep } = simulated();
    const vfFile = configFile(`apiVersion: gpuvirt/v1\nkind: HostConfig\nconfigs:\n  x:\n    devices:\n      - select: { address: "0000:c1:00.0" }\n        sriov: { vfs: 2 }\n      - select: { address: "0000:c1:01.1" }\n        driver: vfio-pci\n`);
    const cfg = loadHostConfigText(readFileSync(vfFile, 'utf8')).file!.configs.x!;
    expect(notReady(m.host, new PciNames([m.host]), cfg)).toEqual([]);
    // ...while one that is no VF-to-be is waited for.
    const other = { ...cfg, devices: [...cfg.devices, { select: { address: '0000:c1:07.0' }, driver: 'vfio-pci' as const }] };
    expect(notReady(m.host, new PciNames([m.host]), other)).toEqual(['devices[2]: no device matches address "0000:c1:07.0" yet']);
    const r = await m.run(['host', 'apply', '-f', FILE, '-c', 'vdi', '--wait-ready', '60', '--dry-run', '--json'], { sleep });
    expect(r.doc.data.ready).toEqual({ ready: true, polls: 1, waitedMs: 0, missing: [] });
    expect(clock.sleeps).toBe(0);
  });

  it('the wait is bounded by the number of looks even when the clock stands still', async () => {
    let sleeps = 0;
    const w = await waitReady(() => ['never'], 3, { sleep: async () => void sleeps++, now: () => 0 });
    expect(w).toEqual({ ready: false, polls: 4, waitedMs: 3000, missing: ['never'] });
    expect(sleeps).toBe(3);
    const fast = await waitReady(() => ['never'], 10, { sleep: async () => undefined, now: (() => { let t = 0; return () => (t += 6000); })() });
    expect(fast.polls).toBeLessThan(4);
    expect(await waitReady(() => [], 0, { sleep: async () => { throw new Error('no sleep when ready'); }, now: () => 0 })).toMatchObject({ ready: true, polls: 1 });
  });

  it('rejects a --wait-ready that is not whole seconds up to an hour', async () => {
    for (const v of ['-1', '1.5', 'soon', '3601']) expect((await server().run(['host', 'apply', '-f', FILE, '-c', 'vdi', '--wait-ready', v, '--dry-run'])).code, v).toBe(2);
  });
});

describe('--boot', () => {
  it('exits 10 when the kernel command line needs a reboot, and reboots nothing', async () => {
    const m = machine('iommu-off-cmdline', { 'update-grub': OK });
    const file = configFile('apiVersion: gpuvirt/v1\nkind: HostConfig\nconfigs:\n  iommu:\n    host: { iommu: true }\n');
    const r = await m.run(['host', 'apply', '--boot', '-f', file, '-c', 'iommu', '--json']);
    expect(r.code, r.stdout).toBe(10);
    expect(r.doc.data).toMatchObject({ changed: true, reboot_required: true });
    expect(r.doc.data.msg).toContain('gpuvirt does not reboot');
    expect(m.testExec.calls.map((c) => c[0])).not.toContain('reboot');
    expect(m.testExec.calls.map((c) => c[0])).not.toContain('systemctl');
  });
});

describe('status reads what is kept at boot only where there is some', () => {
  it('hostConfig is null on a host that keeps nothing, and shown for each file or record that keeps something', async () => {
    const { machine } = await import('../helpers/sim.js');
    const { EARLY_FILES, LEGACY_UNITS } = await import('../../src/hostconfig/boot.js');
    const status = async (prepare: (h: Host) => void) => {
      const m = machine('intel-desktop-nvidia');
      prepare(m.host);
      const r = await m.run(['status', '--json']);
      expect(r.code, r.stdout).toBe(0);
      return r.doc.data.hostConfig;
    };
    expect(await status(() => undefined)).toBeNull();
    for (const file of [HOST_STATE, HOST_UNIT, ...EARLY_FILES, ...LEGACY_UNITS]) {
      const text = file === HOST_STATE ? 'apiVersion: gpuvirt/v1\nkind: HostConfig\nconfigs:\n  local:\n    devices: []\n' : file === HOST_UNIT ? hostUnit('local') : '# kept\n';
      expect(await status((h) => h.writeFile(file, text)), file).not.toBeNull();
    }
    // An earlier version's flag in state.json, and nothing else.
    const flagged = await status((h) => h.writeFile('/var/lib/gpuvirt/state.json', JSON.stringify({
      version: 1, devices: { '0000:01:00.0': { address: '0000:01:00.0', target: 'vfio-pci', originalDriver: 'nvidia', originalModule: 'nvidia', originalOverride: null, set: [], persisted: true, status: 'bound', since: '2026-01-01T00:00:00.000Z' } },
    })));
    expect(flagged.legacy).toEqual([expect.stringContaining('0000:01:00.0: on vfio-pci at boot')]);
  });
});
