// One way a binding survives a reboot: every command's --persist edits the boot record
// (/etc/gpuvirt/host.yaml, a host config), and the boot files are generated from it by one
// function; a user's own `host apply --persist` config is edited only where it names the device
// by address alone, refused where its own selectors say otherwise; hosts set up by earlier
// versions (state.json flags, their own units) are shown and converted.
import { mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { paths } from '../../src/host/paths.js';
import { HOST_STATE, HOST_UNIT, HOST_UNIT_WANTS, hostUnit } from '../../src/hostconfig/boot.js';
import { loadHostConfigText } from '../../src/hostconfig/load.js';
import { LOCAL_CONFIG } from '../../src/hostconfig/record.js';
import { readState, stateText } from '../../src/state.js';
import { machine, type Machine } from '../helpers/sim.js';
import { configFile } from './files.js';

const REBUILT = { exitCode: 0, stdout: '', stderr: '' };
const GPU = '0000:01:00.0';
const AUDIO = '0000:01:00.1';
const NIC = '0000:c1:00.0';
const MI = '0000:81:00.0';

const desktop = (): Machine => {
  const m = machine('intel-desktop-nvidia', { 'update-initramfs -u -k all': REBUILT });
  m.host.writeFile('/usr/sbin/update-initramfs', '', 0o755);
  return m;
};

const record = (m: Machine) => {
  const text = m.host.readText(HOST_STATE);
  return text === null ? null : loadHostConfigText(text).file;
};

describe('the single commands\' --persist edit the one record', () => {
  it('passthrough --persist records each address in config local, enables the unit, writes the early files; again is no change; release --persist takes it all away', async () => {
    const m = desktop();
    const r = await m.run(['passthrough', '01:00.0', '--persist', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    const text = m.host.readText(HOST_STATE)!;
    // Addresses written quoted, as everything gpuvirt writes.
    expect(text).toContain(`select: { address: "${GPU}" }`);
    expect(record(m)!.configs[LOCAL_CONFIG]!.devices).toEqual([
      { select: { address: GPU }, driver: 'vfio-pci' }, { select: { address: AUDIO }, driver: 'vfio-pci' },
    ]);
    expect(m.host.readText(HOST_UNIT)).toBe(hostUnit(LOCAL_CONFIG));
    expect(m.host.readLink(HOST_UNIT_WANTS)).not.toBeNull();
    expect(m.host.readText(paths.persist.udevRule)).toContain(`KERNEL=="${GPU}", ATTR{driver_override}="vfio-pci"`);
    expect(m.host.readText(paths.persist.udevRule)).toContain(HOST_STATE);
    expect(m.host.readText(paths.persist.modprobe)).toContain('softdep nvidia pre: vfio-pci');
    // The recorded config is what the host is: assert passes with it.
    expect((await m.run(['host', 'assert', '-f', `${m.root}${HOST_STATE}`, '-c', LOCAL_CONFIG])).code).toBe(0);
    // state.json keeps what release needs, not whether it is kept at boot: that is the record's.
    expect(Object.values(readState(m.host).devices).map((d) => d.persisted)).toEqual([false, false]);
    const st = (await m.run(['status', '--json'])).doc.data;
    expect(st.devices.map((d: { persisted: boolean }) => d.persisted)).toEqual([true, true]);
    expect(st.hostConfig).toMatchObject({ config: LOCAL_CONFIG, file: HOST_STATE, enabled: true, legacy: [] });
    expect(st.hostConfig.early).toContainEqual({ file: paths.persist.udevRule, holds: [`${GPU} on vfio-pci`, `${AUDIO} on vfio-pci`] });

    const again = await m.run(['passthrough', '01:00.0', '--persist', '--yes', '--json']);
    expect(again.doc.data.noop).toBe(true);
    expect(m.testExec.calls.filter((c) => c[0] === 'update-initramfs')).toHaveLength(1);

    expect((await m.run(['release', '01:00.0', '--persist', '--yes'])).code).toBe(0);
    for (const f of [HOST_STATE, HOST_UNIT, HOST_UNIT_WANTS, paths.persist.udevRule, paths.persist.modprobe, paths.persist.initramfsToolsHook]) expect(m.host.exists(f), f).toBe(false);
    expect(m.testExec.calls.filter((c) => c[0] === 'update-initramfs')).toHaveLength(2);
    expect((await m.run(['status', '--json'])).doc.data.hostConfig).toBeNull();
  });

  it('sriov and passthrough share the record; sriov disable --persist takes out only its PF; host unpersist removes everything generated', async () => {
    const m = machine('server-mxgpu-sriov');
    expect((await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--bind', 'vfio-pci', '--persist', '--yes'])).code).toBe(0);
    expect((await m.run(['passthrough', '81:00.0', '--persist', '--yes'])).code).toBe(0);
    expect(record(m)!.configs[LOCAL_CONFIG]!.devices).toEqual([
      { select: { address: NIC }, sriov: { vfs: 2, vfDriver: 'vfio-pci' } }, { select: { address: MI }, driver: 'vfio-pci' },
    ]);
    expect(m.host.readText(paths.sriovPersist.udevRule)).toContain(`KERNEL=="${NIC}", ATTR{sriov_drivers_autoprobe}="0", ATTR{sriov_numvfs}="2"`);
    const again = await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--bind', 'vfio-pci', '--persist', '--yes', '--json']);
    expect(again.doc.data.noop, JSON.stringify(again.doc.data.steps)).toBe(true);
    // A count changed without --persist follows into the record (the PF stays kept, with its new count).
    expect((await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '4', '--bind', 'vfio-pci', '--yes'])).code).toBe(0);
    expect(record(m)!.configs[LOCAL_CONFIG]!.devices[0]).toEqual({ select: { address: NIC }, sriov: { vfs: 4, vfDriver: 'vfio-pci' } });
    expect(m.host.readText(paths.sriovPersist.udevRule)).toContain('ATTR{sriov_numvfs}="4"');

    expect((await m.run(['sriov', 'disable', 'c1:00.0', '--persist', '--yes'])).code).toBe(0);
    expect(record(m)!.configs[LOCAL_CONFIG]!.devices).toEqual([{ select: { address: MI }, driver: 'vfio-pci' }]);
    expect(m.host.exists(paths.sriovPersist.udevRule)).toBe(false);
    expect(m.host.exists(paths.persist.udevRule)).toBe(true);

    const un = await m.run(['host', 'unpersist', '--yes', '--json']);
    expect(un.code, un.stdout).toBe(0);
    for (const f of [HOST_STATE, HOST_UNIT, paths.persist.udevRule, paths.persist.modprobe]) expect(m.host.exists(f), f).toBe(false);
    // The host keeps its state.
    expect(m.drivers([MI])[MI]!.driver).toBe('vfio-pci');
    expect((await m.run(['status', '--json'])).doc.data.devices.map((d: { persisted: boolean }) => d.persisted)).toEqual([false]);
  });
});

// A user's fleet file: two configs, comments, a selector by id for the second MI210-class GPU.
const USER = `apiVersion: gpuvirt/v1
kind: HostConfig
configs:
  vdi:   # the user's comment stays
    devices:
      - select: { id: "1002:74a1", index: 1 }
        driver: vfio-pci
  other:
    devices:
      - select: { all: true }
        driver: pci-stub
`;

describe('a user\'s host apply --persist config and the single commands', () => {
  it('adds address entries to the recorded config, keeps the rest as written, refuses what contradicts the user\'s selectors, and host apply --persist says what it drops', async () => {
    const m = machine('server-mxgpu-sriov');
    const file = configFile(USER);
    expect((await m.run(['host', 'apply', '-f', file, '-c', 'vdi', '--persist', '--yes'])).code).toBe(0);
    expect(m.host.readText(paths.persist.udevRule)).toContain(`KERNEL=="${MI}", ATTR{driver_override}="vfio-pci"`);

    // The user's entry already keeps 81:00.0 on vfio-pci: nothing to add.
    const same = await m.run(['passthrough', '81:00.0', '--persist', '--yes', '--json']);
    expect(same.doc.data.noop, JSON.stringify(same.doc.data.steps)).toBe(true);
    expect(m.host.readText(HOST_STATE)).toBe(USER);

    // ...and another driver for it would rewrite the user's selector: refused, nothing written.
    const before = m.host.readText(HOST_STATE);
    const clash = await m.run(['passthrough', '81:00.0', '--driver', 'pci-stub', '--persist', '--yes', '--json']);
    expect(clash.code).toBe(7);
    expect(clash.stdout).toContain('devices[0] of config vdi');
    expect(clash.stdout).toContain('id 1002:74a1, index 1');
    expect(m.host.readText(HOST_STATE)).toBe(before);
    expect(m.drivers([MI])[MI]!.driver).toBe('vfio-pci');
    // Removing what the user's selector keeps is refused the same way.
    expect((await m.run(['release', '81:00.0', '--persist', '--yes'])).code).toBe(7);

    // A device the user's config does not name: an address entry in config vdi, everything else as written.
    expect((await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--persist', '--yes'])).code).toBe(0);
    const text = m.host.readText(HOST_STATE)!;
    expect(text).toContain('# the user\'s comment stays');
    expect(text).toContain('select: { all: true }');
    expect(record(m)!.configs.vdi!.devices).toEqual([
      { select: { id: '1002:74a1', index: 1 }, driver: 'vfio-pci' }, { select: { address: NIC }, sriov: { vfs: 2 } },
    ]);
    expect(record(m)!.configs.other).toEqual(loadHostConfigText(USER).file!.configs.other);
    expect(m.host.readText(HOST_UNIT)).toBe(hostUnit('vdi'));
    expect(m.host.readText(paths.sriovPersist.udevRule)).toContain(`KERNEL=="${NIC}", ATTR{sriov_numvfs}="2"`);

    // The user's file recorded again replaces the record: what it drops is said, and its early files follow.
    const re = await m.run(['host', 'apply', '-f', file, '-c', 'vdi', '--persist', '--yes', '--json']);
    expect(re.code, re.stdout).toBe(0);
    expect(re.doc.warnings.join('\n')).toContain(`config vdi replaces the boot record (config vdi): ${NIC} with 2 VFs no longer kept at boot`);
    expect(m.host.readText(HOST_STATE)).toBe(USER);
    expect(m.host.exists(paths.sriovPersist.udevRule)).toBe(false);
  });
});

// What an earlier gpuvirt left: state.json `persisted` flags, its own boot files and the sriov-manage unit.
const OLD_UNIT = '/etc/systemd/system/gpuvirt-nvidia-sriov.service';
const OLD_WANTS = '/etc/systemd/system/multi-user.target.wants/gpuvirt-nvidia-sriov.service';
function oldHost(): Machine {
  const m = machine('server-mxgpu-sriov');
  const since = '2026-01-01T00:00:00.000Z';
  m.host.writeFile(paths.stateFile, stateText({
    version: 1,
    devices: { [MI]: { address: MI, target: 'vfio-pci', originalDriver: null, originalModule: null, originalOverride: null, originalKnown: true, set: [MI], persisted: true, status: 'released', since } },
    sriov: { [NIC]: { pf: NIC, numVfs: 2, bind: 'vfio-pci', adapter: 'generic', persisted: true, originalNumVfs: 0, originalAutoprobe: true, status: 'done', since } },
  }));
  m.host.writeFile(paths.persist.udevRule, '# Written by gpuvirt (gpuvirt passthrough --persist); `gpuvirt release --persist` removes it.\n'
    + `ACTION=="add", SUBSYSTEM=="pci", KERNEL=="${MI}", ATTR{driver_override}="vfio-pci"\n`);
  m.host.writeFile(paths.sriovPersist.udevRule, '# Written by gpuvirt (gpuvirt sriov enable --persist); `gpuvirt sriov disable --persist` removes it.\n'
    + `# ${NIC}: 2 VFs on vfio-pci\nACTION=="bind", SUBSYSTEM=="pci", KERNEL=="${NIC}", ATTR{sriov_drivers_autoprobe}="0", ATTR{sriov_numvfs}="2"\n`);
  m.host.writeFile(OLD_UNIT, '[Unit]\nDescription=Enable SR-IOV virtual functions on NVIDIA GPUs (gpuvirt)\n[Service]\nType=oneshot\nExecStart=/usr/lib/nvidia/sriov-manage -e 0000:41:00.0\n[Install]\nWantedBy=multi-user.target\n');
  mkdirSync(dirname(join(m.root, OLD_WANTS)), { recursive: true });
  symlinkSync(OLD_UNIT, join(m.root, OLD_WANTS));
  return m;
}

describe('a host set up by an earlier gpuvirt', () => {
  it('status shows its records and files; the next --persist converts them into the record and removes the old unit', async () => {
    const m = oldHost();
    const st = (await m.run(['status', '--json'])).doc.data;
    expect(st.devices[0]).toMatchObject({ address: MI, persisted: true, status: 'released' });
    expect(st.sriov[0]).toMatchObject({ pf: NIC, persisted: true });
    expect(st.hostConfig).toMatchObject({ file: null, config: null });
    expect(st.hostConfig.legacy).toEqual([
      `${MI}: on vfio-pci at boot, recorded in state.json by an earlier gpuvirt`,
      `${NIC}: 2 VFs at boot, recorded in state.json by an earlier gpuvirt`,
      `${OLD_UNIT}: runs sriov-manage at boot (an earlier gpuvirt's unit)`,
    ]);
    expect(st.hostConfig.early).toContainEqual({ file: paths.persist.udevRule, holds: [`${MI} on vfio-pci`] });
    expect((await m.run(['status'])).stdout).toContain('files of an earlier gpuvirt, no record yet');

    const r = await m.run(['passthrough', '02:00.0', '--driver', 'pci-stub', '--persist', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(record(m)!.configs[LOCAL_CONFIG]!.devices).toEqual([
      { select: { address: MI }, driver: 'vfio-pci' },
      { select: { address: NIC }, sriov: { vfs: 2, vfDriver: 'vfio-pci' } },
      { select: { address: '0000:02:00.0' }, driver: 'pci-stub' },
    ]);
    expect(m.host.exists(OLD_UNIT)).toBe(false);
    expect(m.host.readLink(OLD_WANTS)).toBeNull();
    expect(m.testExec.calls).toContainEqual(['systemctl', 'disable', 'gpuvirt-nvidia-sriov.service']);
    // The early files are the record's now, under its header.
    expect(m.host.readText(paths.persist.udevRule)).toContain(HOST_STATE);
    expect(m.host.readText(paths.persist.udevRule)).toContain(`KERNEL=="${MI}", ATTR{driver_override}="vfio-pci"`);
    expect(m.host.readText(paths.sriovPersist.udevRule)).toContain(HOST_STATE);
    const state = readState(m.host);
    expect([state.devices[MI]!.persisted, state.sriov![NIC]!.persisted]).toEqual([false, false]);
    const after = (await m.run(['status', '--json'])).doc.data;
    expect(after.hostConfig.legacy).toEqual([]);
    expect(after.devices.find((d: { address: string }) => d.address === MI)).toMatchObject({ persisted: true, status: 'released' });
    expect(after.sriov[0]).toMatchObject({ persisted: true });
  });

  it('host unpersist removes its files, its unit and its flags', async () => {
    const m = oldHost();
    const r = await m.run(['host', 'unpersist', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    for (const f of [paths.persist.udevRule, paths.sriovPersist.udevRule, OLD_UNIT, OLD_WANTS, HOST_STATE]) expect(m.host.exists(f), f).toBe(false);
    const state = readState(m.host);
    expect([state.devices[MI]!.persisted, state.sriov![NIC]!.persisted]).toEqual([false, false]);
    expect((await m.run(['status', '--json'])).doc.data.hostConfig).toBeNull();
    expect((await m.run(['host', 'unpersist', '--yes', '--json'])).doc.data.noop).toBe(true);
  });
});
