// gpuvirt's record of the mediated devices it makes (state.json `mdevs`): apply, mdev create and
// vgpu create write it, status lists it with what the host shows now, mdev remove drops it, and
// release removes (and undefines) what apply made, refusing one a VM holds.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { linkName } from '../../src/host/host.js';
import { paths } from '../../src/host/paths.js';
import { readState, writeState } from '../../src/state.js';
import { machine, type Machine } from '../helpers/sim.js';

const PARENT = '0000:00:02.0';
const TYPE = 'i915-GVTg_V5_4';
const APPLIED = '4b20d080-1b54-4048-85b3-a6a62d165c01';
const CREATED = '6f4bc7a2-2e2c-4d3f-9a2b-0c6c0a1b2c3d';
const GVTG = join(mkdtempSync(join(tmpdir(), 'gpuvirt-mdev-records-')), 'office.yaml');
writeFileSync(GVTG, `apiVersion: gpuvirt/v1
name: office-gvtg
memory: 4GiB
cpu: { cores: 2 }
devices:
  - { type: mdev, parent: { address: ${PARENT} }, mdevType: ${TYPE}, uuid: ${APPLIED} }
`);
const CLOCK = '2026-06-01T12:00:00.000Z';
const config = (uuid: string) => `/etc/mdevctl.d/${PARENT}/${uuid}`;
const dev = (uuid: string) => `${paths.mdevDevices}/${uuid}`;
const DEFINE = `mdevctl define --auto --uuid ${APPLIED} --parent ${PARENT} --type ${TYPE}`;
const UNDEFINE = `mdevctl undefine --uuid ${APPLIED} --parent ${PARENT}`;

function gvt(mdevctl = true): Machine {
  const m = machine('intel-gvtg-desktop');
  if (mdevctl) m.host.writeFile('/usr/sbin/mdevctl', '', 0o755);
  return m;
}

async function applied(mdevctl = true): Promise<Machine> {
  const m = gvt(mdevctl);
  const r = await m.run(['apply', GVTG, '--yes', '--json']);
  expect(r.code, r.stdout).toBe(0);
  return m;
}

/** A process that holds the mdev's VFIO group open, as QEMU does while the VM runs. */
function holdOpen(m: Machine, uuid: string): void {
  const group = linkName(m.host, `${dev(uuid)}/iommu_group`);
  mkdirSync(`${m.root}/proc/4242/fd`, { recursive: true });
  symlinkSync(`/dev/vfio/${group}`, `${m.root}/proc/4242/fd/17`);
  writeFileSync(`${m.root}/proc/4242/comm`, 'qemu-system-x86\n');
}

describe('mdev records', () => {
  it('apply records the mdev it creates and defines; status lists it, as it is now', async () => {
    const m = await applied();
    expect(readState(m.host).mdevs).toEqual({
      [APPLIED]: { uuid: APPLIED, parent: PARENT, type: TYPE, persisted: true, command: 'apply', profile: 'office-gvtg', since: CLOCK },
    });
    const s = await m.run(['status', '--json']);
    expect(s.doc.data.mdevs).toEqual([{ ...readState(m.host).mdevs![APPLIED], present: true, defined: true }]);
    expect(s.doc.warnings).toEqual([]);
    const text = await m.run(['status']);
    expect(text.stdout).toContain('Mediated devices gpuvirt made:');
    expect(text.stdout).toContain(`${APPLIED}  ${TYPE} on ${PARENT}: exists; defined in mdevctl; made by apply of office-gvtg`);
    // undefined behind gpuvirt's back: status says so, and warns
    m.host.removeFile(config(APPLIED));
    const after = await m.run(['status', '--json']);
    expect(after.doc.data.mdevs[0]).toMatchObject({ present: true, defined: false });
    expect(after.doc.warnings).toEqual([`mediated device ${APPLIED} is no longer defined in mdevctl: it is not created again at boot`]);
  });

  it('without persistence the record says so; an mdev that existed before apply is not recorded', async () => {
    const m = gvt();
    expect((await m.run(['apply', GVTG, '--no-persist', '--yes'])).code).toBe(0);
    expect(readState(m.host).mdevs?.[APPLIED]).toMatchObject({ persisted: false, command: 'apply' });
    // applying with persistence later marks the same record persisted, keeping when it was made
    expect((await m.run(['apply', GVTG, '--yes'])).code).toBe(0);
    expect(readState(m.host).mdevs?.[APPLIED]).toMatchObject({ persisted: true, since: CLOCK });

    const other = gvt();
    expect((await other.run(['mdev', 'create', '00:02.0', TYPE, '--uuid', APPLIED, '--yes'])).code).toBe(0);
    const st = readState(other.host);
    delete st.mdevs;
    writeState(other.host, st);
    expect((await other.run(['apply', GVTG, '--no-persist', '--yes'])).code).toBe(0);
    expect(readState(other.host).mdevs).toBeUndefined();
  });

  it('mdev create and vgpu create record theirs; mdev remove drops the record', async () => {
    const m = gvt();
    expect((await m.run(['mdev', 'create', '00:02.0', TYPE, '--uuid', CREATED, '--persist', '--yes'])).code).toBe(0);
    expect(readState(m.host).mdevs?.[CREATED]).toEqual({ uuid: CREATED, parent: PARENT, type: TYPE, persisted: true, command: 'mdev create', profile: null, since: CLOCK });
    const r = await m.run(['mdev', 'remove', CREATED, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(readState(m.host).mdevs).toBeUndefined();

    const v = gvt(false);
    expect((await v.run(['vgpu', 'create', '00:02.0', '--type', TYPE, '--uuid', CREATED, '--yes'])).code).toBe(0);
    expect(readState(v.host).mdevs?.[CREATED]).toMatchObject({ command: 'vgpu create', persisted: false });
  });

  it('mdev remove of a recorded device that is gone drops only the record', async () => {
    const m = gvt(false);
    expect((await m.run(['mdev', 'create', '00:02.0', TYPE, '--uuid', CREATED, '--yes'])).code).toBe(0);
    m.host.writeAttr(`${dev(CREATED)}/remove`, '1'); // removed behind gpuvirt's back
    const dry = await m.run(['mdev', 'remove', CREATED, '--dry-run', '--json']);
    expect(dry.doc.data.steps.map((s: { action: string }) => s.action)).toEqual(['write file /var/lib/gpuvirt/state.json']);
    const r = await m.run(['mdev', 'remove', CREATED, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.warnings).toEqual([`${CREATED} is gone and mdevctl does not define it: only gpuvirt's record of it is dropped`]);
    expect(readState(m.host).mdevs).toBeUndefined();
    expect((await m.run(['mdev', 'remove', CREATED, '--yes'])).code).toBe(6);
  });

  it('mdev remove refuses a device a VM holds open (exit 7), and removes nothing', async () => {
    const m = gvt(false);
    expect((await m.run(['mdev', 'create', '00:02.0', TYPE, '--uuid', CREATED, '--yes'])).code).toBe(0);
    holdOpen(m, CREATED);
    const r = await m.run(['mdev', 'remove', CREATED, '--yes', '--json']);
    expect(r.code).toBe(7);
    expect(r.doc.data.refusals).toEqual([expect.objectContaining({ code: 'mdev-held', address: PARENT, force: null })]);
    expect(r.doc.data.refusals[0].message).toMatch(/qemu-system-x86 \(pid 4242\) holds \/dev\/vfio\/\d+ open/);
    expect(m.host.exists(dev(CREATED))).toBe(true);
  });
});

describe('release of what apply made', () => {
  it('--all removes the mdev and undefines it: the plan, the run, the record', async () => {
    const m = await applied();
    const dry = await m.run(['release', '--all', '--dry-run', '--json']);
    expect(dry.code, dry.stdout).toBe(0);
    expect(dry.doc.data.steps.map((s: { action: string }) => s.action)).toEqual([
      `write 1 > ${dev(APPLIED)}/remove`,
      `check ${dev(APPLIED)} is gone`,
      `run ${UNDEFINE}`,
      `check ${config(APPLIED)} is gone`,
      'write file /var/lib/gpuvirt/state.json',
    ]);
    expect(dry.doc.data.steps[0].undo).toEqual([{ kind: 'create-mdev', uuid: APPLIED, parent: PARENT, type: TYPE }]);
    expect(dry.doc.data.steps[2].undo).toEqual([{ kind: 'run', argv: DEFINE.split(' '), title: `define ${APPLIED} in mdevctl again`, unless: [{ fact: { kind: 'exists', path: config(APPLIED) }, value: 'yes' }] }]);
    expect(dry.doc.data.mdevs).toEqual([expect.objectContaining({ uuid: APPLIED, present: true, persisted: true, profile: 'office-gvtg' })]);
    const text = await m.run(['release', '--all', '--dry-run']);
    expect(text.stdout).toContain(`${APPLIED}  ${TYPE} on ${PARENT} · made by apply of office-gvtg · defined in mdevctl`);
    m.testExec.calls.length = 0;
    const r = await m.run(['release', '--all', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(m.testExec.calls.map((c) => c.join(' '))).toEqual([UNDEFINE]);
    expect(m.host.exists(dev(APPLIED))).toBe(false);
    expect(m.host.exists(config(APPLIED))).toBe(false);
    expect(readState(m.host).mdevs).toBeUndefined();
    expect((await m.run(['status', '--json'])).doc.data.mdevs).toEqual([]);
  });

  it('the parent address or the UUID selects it too; --all leaves what mdev create made, and names it', async () => {
    for (const arg of ['00:02.0', APPLIED.toUpperCase()]) {
      const m = await applied(false);
      const r = await m.run(['release', arg, '--yes', '--json']);
      expect(r.code, r.stdout).toBe(0);
      expect(r.doc.data.mdevs.map((x: { uuid: string }) => x.uuid)).toEqual([APPLIED]);
      expect(m.host.exists(dev(APPLIED))).toBe(false);
    }
    const m = gvt(false);
    expect((await m.run(['mdev', 'create', '00:02.0', TYPE, '--uuid', CREATED, '--yes'])).code).toBe(0);
    const r = await m.run(['release', '--all', '--dry-run', '--json']);
    expect(r.doc.data.mdevs).toEqual([]);
    expect(r.doc.warnings).toContain(`mediated device ${CREATED} was made by \`mdev create\`: \`gpuvirt mdev remove ${CREATED}\` removes it`);
    const named = await m.run(['release', CREATED, '--yes', '--json']);
    expect(named.code, named.stdout).toBe(0);
    expect(m.host.exists(dev(CREATED))).toBe(false);
  });

  it('an mdev gone after a reboot without mdevctl: release drops its record', async () => {
    const m = await applied(false);
    m.host.writeAttr(`${dev(APPLIED)}/remove`, '1');
    const r = await m.run(['release', '--all', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data.mdevs).toEqual([expect.objectContaining({ uuid: APPLIED, present: false })]);
    expect(r.doc.data.steps.map((s: { action: string }) => s.action)).toEqual(['write file /var/lib/gpuvirt/state.json']);
    expect(readState(m.host).mdevs).toBeUndefined();
  });

  it('a definition gpuvirt did not make is left, and said; one it made without mdevctl installed now is said', async () => {
    const m = await applied(false);
    m.host.writeFile(config(APPLIED), '{"mdev_type": "i915-GVTg_V5_4", "start": "auto", "attrs": []}');
    const r = await m.run(['release', '--all', '--dry-run', '--json']);
    expect(r.doc.warnings).toContain(`mdevctl defines ${APPLIED}, and gpuvirt did not: it is left defined and is created again at boot (\`gpuvirt mdev remove ${APPLIED}\` undefines it)`);
    const p = await applied(true);
    p.host.removeFile('/usr/sbin/mdevctl');
    const q = await p.run(['release', '--all', '--dry-run', '--json']);
    expect(q.doc.warnings).toContain(`mdevctl defines ${APPLIED} (/etc/mdevctl.d) but is not installed to undefine it: it may be created again at boot`);
  });

  it('refuses an mdev a VM holds (exit 7): nothing is removed or undefined', async () => {
    const m = await applied();
    holdOpen(m, APPLIED);
    m.testExec.calls.length = 0;
    const r = await m.run(['release', '--all', '--yes', '--json']);
    expect(r.code).toBe(7);
    expect(r.doc.data.refusals).toEqual([expect.objectContaining({ code: 'mdev-held', address: PARENT, force: null })]);
    expect(m.testExec.calls).toEqual([]);
    expect(m.host.exists(dev(APPLIED))).toBe(true);
    expect(m.host.exists(config(APPLIED))).toBe(true);
  });

  it('a UUID gpuvirt has no record of is said, not an error', async () => {
    const r = await gvt().run(['release', CREATED, '--dry-run', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.data.noop).toBe(true);
    expect(r.doc.warnings).toEqual([`gpuvirt has no record of a mediated device ${CREATED}: \`gpuvirt mdev remove ${CREATED}\` removes any mediated device`]);
  });
});

describe('status on a host with mdev records', () => {
  const T4_RUNNING = 'c2177883-f1bb-47f0-914d-32a22e3a8804'; // exists in the nvidia-t4-mdev fixture
  const GONE = '7a1c4e2b-9d3f-4c6a-8b5e-1f2d3c4b5a69';

  it('lists each with whether it exists and whether mdevctl defines it; an older state file has none', async () => {
    const m = machine('nvidia-t4-mdev');
    // A state file written before mdevs were recorded reads as it always did.
    m.host.writeFile('/var/lib/gpuvirt/state.json', '{\n  "version": 1,\n  "devices": {}\n}\n');
    expect((await m.run(['status', '--json'])).doc.data.mdevs).toEqual([]);
    const record = (uuid: string, persisted: boolean) => ({ uuid, parent: '0000:41:00.0', type: 'nvidia-222', persisted, command: 'apply' as const, profile: 't4-desk', since: CLOCK });
    writeState(m.host, { version: 1, devices: {}, mdevs: { [GONE]: record(GONE, true), [T4_RUNNING]: record(T4_RUNNING, false) } });
    m.host.writeFile(`/etc/mdevctl.d/0000:41:00.0/${GONE}`, '{"mdev_type": "nvidia-222", "start": "auto", "attrs": []}');
    const s = await m.run(['status', '--json']);
    expect(s.code).toBe(0);
    expect(s.doc.data.mdevs).toEqual([
      { ...record(GONE, true), present: false, defined: true },
      { ...record(T4_RUNNING, false), present: true, defined: false },
    ]);
    const text = (await m.run(['status'])).stdout;
    expect(text).toContain(`${GONE}  nvidia-222 on 0000:41:00.0: gone; defined in mdevctl; made by apply of t4-desk`);
    expect(text).toContain(`${T4_RUNNING}  nvidia-222 on 0000:41:00.0: exists; until reboot; made by apply of t4-desk`);
  });

  it('a state file whose mdev record is not gpuvirt\'s is refused with one line', async () => {
    const m = machine('nvidia-t4-mdev');
    m.host.writeFile('/var/lib/gpuvirt/state.json', JSON.stringify({ version: 1, devices: {}, mdevs: { [GONE]: { uuid: GONE, parent: '../../etc', type: 'x', persisted: true, command: 'apply', profile: null, since: CLOCK } } }));
    const r = await m.run(['status', '--json']);
    expect(r.code).toBe(1);
    expect(r.doc.error.message).toMatch(/state.json is not readable gpuvirt state: mdevs\..*\.parent/);
  });
});
