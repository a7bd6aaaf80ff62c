// Mediated devices kept across reboots with mdevctl (simulated by its effect on /etc/mdevctl.d,
// src/sim/mdevctl.ts): mdev create --persist, vgpu create --persist, apply, and their removal.
import { describe, expect, it } from 'vitest';
import { machine, type Machine } from '../helpers/sim.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PARENT = '0000:00:02.0';
const TYPE = 'i915-GVTg_V5_4';
const UUID = '6f4bc7a2-2e2c-4d3f-9a2b-0c6c0a1b2c3d';
const CONFIG = `/etc/mdevctl.d/${PARENT}/${UUID}`;
const DEFINE = `mdevctl define --auto --uuid ${UUID} --parent ${PARENT} --type ${TYPE}`;
const UNDEFINE = `mdevctl undefine --uuid ${UUID} --parent ${PARENT}`;
const DEFINITION = `{\n  "mdev_type": "${TYPE}",\n  "start": "auto",\n  "attrs": []\n}`;

const gvt = (mdevctl = true): Machine => {
  const m = machine('intel-gvtg-desktop');
  if (mdevctl) m.host.writeFile('/usr/sbin/mdevctl', '', 0o755);
  return m;
};
const ran = (m: Machine) => m.testExec.calls.map((c) => c.join(' '));
const create = ['mdev', 'create', '00:02.0', TYPE, '--uuid', UUID];

describe('mdev create --persist', () => {
  it('creates the device, then defines it with mdevctl to start whenever its parent appears', async () => {
    const m = gvt();
    const dry = await m.run([...create, '--persist', '--dry-run', '--json']);
    expect(dry.doc.data.steps.map((s: { action: string }) => s.action)).toEqual([
      `write ${UUID} > /sys/class/mdev_bus/${PARENT}/mdev_supported_types/${TYPE}/create`,
      `check /sys/bus/mdev/devices/${UUID} exists`,
      `run ${DEFINE}`,
      `check ${CONFIG} exists`,
      'write file /var/lib/gpuvirt/state.json',
    ]);
    const r = await m.run([...create, '--persist', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(ran(m)).toEqual([DEFINE]);
    expect(m.host.readText(CONFIG)).toBe(DEFINITION);
    expect(m.host.exists(`/sys/bus/mdev/devices/${UUID}`)).toBe(true);
  });

  it('without mdevctl it is refused (exit 5), saying what persistence there is instead', async () => {
    const m = gvt(false);
    const r = await m.run([...create, '--persist', '--yes', '--json']);
    expect(r.code).toBe(5);
    expect(r.doc.data.refusals[0].message).toMatch(/mdevctl is not installed .*the QEMU script gpuvirt generates creates it again/);
    expect(m.host.exists(`/sys/bus/mdev/devices/${UUID}`)).toBe(false);
  });

  it('a define that fails removes the device it created, and leaves no definition behind', async () => {
    const m = gvt();
    m.exec.failOn({ argv: DEFINE.split(' '), exitCode: 1, stderr: 'Error: something\n' });
    const r = await m.run([...create, '--persist', '--yes', '--json']);
    expect(r.code).toBe(1);
    expect(r.doc.data.applied.rollback.ok).toBe(true);
    expect(m.host.exists(`/sys/bus/mdev/devices/${UUID}`)).toBe(false);
    expect(m.host.exists('/etc/mdevctl.d')).toBe(false);
  });

  it('a UUID mdevctl defines with another type is refused', async () => {
    const m = gvt();
    m.host.writeFile(CONFIG, DEFINITION.replace(TYPE, 'i915-GVTg_V5_8'));
    const r = await m.run([...create, '--persist', '--yes', '--json']);
    expect(r.code).toBe(5);
    expect(r.doc.data.refusals[0]).toMatchObject({ code: 'mdevctl-defined', force: null });
  });
});

describe('mdev remove and mdevctl', () => {
  it('removes the device and undefines it; the undo defines it again', async () => {
    const m = gvt();
    expect((await m.run([...create, '--persist', '--yes'])).code).toBe(0);
    const dry = await m.run(['mdev', 'remove', UUID, '--dry-run', '--json']);
    const undefine = dry.doc.data.steps.find((s: { action: string }) => s.action === `run ${UNDEFINE}`);
    expect(undefine.undo).toEqual([{ kind: 'run', argv: DEFINE.split(' '), title: `define ${UUID} in mdevctl again`, unless: [{ fact: { kind: 'exists', path: CONFIG }, value: 'yes' }] }]);
    const r = await m.run(['mdev', 'remove', UUID, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(m.host.exists(CONFIG)).toBe(false);
    expect(m.host.exists(`/sys/bus/mdev/devices/${UUID}`)).toBe(false);
  });

  it('a device mdevctl defines but that is not running is only undefined', async () => {
    const m = gvt();
    m.host.writeFile(CONFIG, DEFINITION);
    const r = await m.run(['vgpu', 'remove', UUID, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(ran(m)).toEqual([UNDEFINE]);
    expect(m.host.exists(CONFIG)).toBe(false);
  });
});

describe('vgpu create --persist on an mdev parent', () => {
  it('defines the mdev with mdevctl', async () => {
    const m = gvt();
    const r = await m.run(['vgpu', 'create', '00:02.0', '--type', TYPE, '--uuid', UUID, '--persist', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(m.host.readText(CONFIG)).toBe(DEFINITION);
  });
});

describe('apply with an mdev', () => {
  const PROFILE_UUID = '4b20d080-1b54-4048-85b3-a6a62d165c01';
  const GVTG = join(mkdtempSync(join(tmpdir(), 'gpuvirt-mdevctl-')), 'office.yaml');
  writeFileSync(GVTG, `apiVersion: gpuvirt/v1
name: office
memory: 4GiB
cpu: { cores: 2 }
devices:
  - { type: mdev, parent: { address: ${PARENT} }, mdevType: ${TYPE}, uuid: ${PROFILE_UUID} }
`);

  it('defines the profile\'s mdev with mdevctl, once', async () => {
    const m = gvt();
    const r = await m.run(['apply', GVTG, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(ran(m)).toEqual([`mdevctl define --auto --uuid ${PROFILE_UUID} --parent ${PARENT} --type ${TYPE}`]);
    expect(m.host.readText(`/etc/mdevctl.d/${PARENT}/${PROFILE_UUID}`)).toBe(DEFINITION);
    expect((await m.run(['apply', GVTG, '--yes', '--json'])).doc.data.noop).toBe(true);
  });

  it('without mdevctl it says the mdev is not persistent, and with --no-persist it does not define it', async () => {
    const without = await gvt(false).run(['apply', GVTG, '--dry-run', '--json']);
    expect(without.doc.warnings.join('\n')).toMatch(new RegExp(`mediated device ${PROFILE_UUID} .* is not persistent: mdevctl is not installed`));
    const m = gvt();
    const r = await m.run(['apply', GVTG, '--no-persist', '--dry-run', '--json']);
    expect(r.doc.data.steps.some((s: { action: string }) => s.action.includes('mdevctl'))).toBe(false);
  });
});
