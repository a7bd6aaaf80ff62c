// The plans behind release's mediated devices: which records a request takes, and the steps,
// undos, refusals and expectations for each, read from the host as it is.
import { describe, expect, it } from 'vitest';
import { paths } from '../../src/host/paths.js';
import { mdevReleaseTargets, planMdevRelease } from '../../src/mdev/release.js';
import type { GpuvirtState, MdevRecord } from '../../src/state.js';
import { machine } from '../helpers/sim.js';

const PARENT = '0000:00:02.0';
const TYPE = 'i915-GVTg_V5_4';
const A = '11111111-2222-4333-8444-555555555555';
const B = '66666666-7777-4888-8999-aaaaaaaaaaaa';
const C = 'bbbbbbbb-cccc-4ddd-8eee-ffffffffffff';
const rec = (uuid: string, command: MdevRecord['command'], persisted = false, parent = PARENT): MdevRecord =>
  ({ uuid, parent, type: TYPE, persisted, command, profile: command === 'apply' ? 'office' : null, since: '2026-06-01T12:00:00.000Z' });
const state: GpuvirtState = { version: 1, devices: {}, mdevs: { [B]: rec(B, 'apply'), [A]: rec(A, 'mdev create'), [C]: rec(C, 'apply', false, '0000:41:00.0') } };
const uuids = (r: { records: MdevRecord[] }) => r.records.map((x) => x.uuid);

describe('mdevReleaseTargets', () => {
  it('--all takes what apply made, and names the rest with the command that removes them', () => {
    const r = mdevReleaseTargets(state, { all: true, addresses: [], uuids: [] });
    expect(uuids(r)).toEqual([B, C]);
    expect(r.warnings).toEqual([`mediated device ${A} was made by \`mdev create\`: \`gpuvirt mdev remove ${A}\` removes it`]);
  });

  it('a parent address takes what apply made on it; a UUID takes that one, whoever made it', () => {
    expect(uuids(mdevReleaseTargets(state, { all: false, addresses: [PARENT], uuids: [] }))).toEqual([B]);
    expect(uuids(mdevReleaseTargets(state, { all: false, addresses: [], uuids: [A] }))).toEqual([A]);
    expect(mdevReleaseTargets(state, { all: false, addresses: ['0000:01:00.0'], uuids: [] }).records).toEqual([]);
  });

  it('a state file without mdevs takes nothing', () => {
    expect(mdevReleaseTargets({ version: 1, devices: {} }, { all: true, addresses: [], uuids: [] })).toEqual({ records: [], warnings: [] });
  });
});

describe('planMdevRelease', () => {
  it('a running, persisted mdev: removed (undo: created again), then undefined (undo: defined again); both expected gone', async () => {
    const m = machine('intel-gvtg-desktop');
    m.host.writeFile('/usr/bin/mdevctl', '', 0o755);
    expect((await m.run(['mdev', 'create', '00:02.0', TYPE, '--uuid', A, '--persist', '--yes'])).code).toBe(0);
    const p = planMdevRelease(m.host, [rec(A, 'mdev create', true)]);
    const config = `/etc/mdevctl.d/${PARENT}/${A}`;
    expect(p.steps.map((s) => [s.kind, s.title])).toEqual([
      ['write', `remove mediated device ${A}`],
      ['verify-not-exists', `${A} is gone`],
      ['exec', `undefine ${A} in mdevctl: it is not started at boot any more`],
      ['verify-not-exists', `mdevctl no longer keeps ${A}`],
    ]);
    expect(p.steps[0]!.undo).toEqual([{ kind: 'create-mdev', uuid: A, parent: PARENT, type: TYPE }]);
    expect(p.expect).toEqual([
      { fact: { kind: 'exists', path: `${paths.mdevDevices}/${A}` }, value: 'no' },
      { fact: { kind: 'exists', path: config }, value: 'no' },
    ]);
    expect(p.view).toEqual([{ ...rec(A, 'mdev create', true), present: true }]);
    expect(p.refusals).toEqual([]);
    expect(p.warnings).toEqual([]);
  });

  it('a record of an mdev that is gone and undefined plans nothing but says it is not present', () => {
    const m = machine('intel-gvtg-desktop');
    const p = planMdevRelease(m.host, [rec(B, 'apply')]);
    expect(p.steps).toEqual([]);
    expect(p.view[0]!.present).toBe(false);
  });
});
