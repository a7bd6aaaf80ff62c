// `gpuvirt setup --reset` on the simulated kernel: vendor-reset's device_specific selected for the
// reset-bug GPUs, now (reset_method) and at every boot (a udev rule), and undone by `setup --undo`.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { machine } from '../helpers/sim.js';
import { paths } from '../../src/host/paths.js';
import { readAttr } from '../../src/host/host.js';
import { RESET_RULE, resetRule } from '../../src/reset/change.js';
import { RESET_FAMILIES, resetFamily } from '../../src/reset/families.js';

const POLARIS = '0000:01:00.0';
const NAVI = '0000:0b:00.0';
const method = (m: ReturnType<typeof machine>, a: string) => readAttr(m.host, paths.pciAttr(a, 'reset_method'));
const resetCheck = async (m: ReturnType<typeof machine>) => (await m.run(['doctor', '--json'])).doc.data.checks.find((c: { id: string }) => c.id === 'gpu.reset');

describe('setup --reset', () => {
  it('loads vendor-reset, selects device_specific, installs the rule; doctor then passes; --undo gives everything back', async () => {
    const m = machine('polaris-vendor-reset');
    expect((await resetCheck(m)).status).toBe('warn');
    const dry = await m.run(['setup', '--reset', '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect(dry.doc.data.steps.map((s: { kind: string; action: string }) => s.action)).toEqual([
      `write file ${RESET_RULE}`,
      'run modprobe vendor-reset',
      `write device_specific > ${paths.pciAttr(POLARIS, 'reset_method')}`,
      `check ${paths.pciAttr(POLARIS, 'reset_method')} has device_specific`,
      expect.stringMatching(/^write file \/var\/lib\/gpuvirt\/backups\/.*\/manifest\.json$/),
    ]);
    expect(method(m, POLARIS)).toBe('bus');

    const r = await m.run(['setup', '--reset', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data.reset).toEqual([{ address: POLARIS, family: 'Polaris 10', before: ['bus'] }]);
    expect(method(m, POLARIS)).toBe('device_specific');
    expect(m.host.exists(paths.sysModule('vendor_reset'))).toBe(true);
    expect(m.host.readText(RESET_RULE)).toContain(
      `ACTION=="add", SUBSYSTEM=="pci", KERNEL=="${POLARIS}", ATTR{vendor}=="0x1002", ATTR{device}=="0x67df", RUN+="/bin/sh -c '/sbin/modprobe vendor-reset; echo device_specific > /sys/bus/pci/devices/%k/reset_method'"`);
    expect(await resetCheck(m)).toMatchObject({ status: 'pass', summary: `every GPU a VM can take can be reset: 0000:00:02.0 (boot GPU): flr, ${POLARIS}: vendor-reset` });
    expect((await m.run(['setup', '--reset', '--yes'])).stdout).toContain('Nothing to do');

    const undo = await m.run(['setup', '--undo', '--yes']);
    expect(undo.code, undo.stdout).toBe(0);
    expect(m.host.exists(RESET_RULE)).toBe(false);
    expect(method(m, POLARIS)).toBe('bus');
  });

  it('the boot GPU of a single-GPU desktop with vendor-reset loaded: no modprobe, only the selection and the rule', async () => {
    const m = machine('navi10-single-gpu-vendor-reset');
    const r = await m.run(['setup', '--reset', '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(m.testExec.calls).toEqual([]);
    expect(method(m, NAVI)).toBe('device_specific');
    expect(r.doc.data.facts).toContainEqual({ fact: paths.pciAttr(NAVI, 'reset_method'), before: 'bus', now: 'device_specific', expected: 'device_specific' });
  });

  it('without vendor-reset it is refused with what to install, and nothing changes', async () => {
    for (const fixture of ['polaris-no-vendor-reset', 'navi10-single-gpu']) {
      const m = machine(fixture);
      const r = await m.run(['setup', '--reset', '--yes', '--json']);
      expect(r.code).toBe(7);
      expect(r.doc.data.refusals[0]).toMatchObject({ code: 'no-vendor-reset', force: null });
      expect(r.doc.data.refusals[0].message).toContain('dkms install');
      expect(m.host.writes).toEqual([]);
      expect(m.host.exists(RESET_RULE)).toBe(false);
    }
  });

  it('plain setup includes the selection when vendor-reset is there, and only names it otherwise', async () => {
    const m = machine('navi10-single-gpu-vendor-reset');
    const r = await m.run(['setup', '--dry-run', '--json']);
    expect(r.doc.data.reset.map((g: { address: string }) => g.address)).toEqual([NAVI]);
    const none = machine('navi10-single-gpu');
    const n = await none.run(['setup', '--dry-run', '--json']);
    expect(n.doc.data.refusals).toEqual([]);
    expect(n.doc.data.notes.join(' ')).toContain('need vendor-reset, which is not installed');
  });

  it('--reset with nothing that needs it says so', async () => {
    const m = machine('intel-desktop-nvidia');
    const r = await m.run(['setup', '--reset', '--yes', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.data.noop).toBe(true);
    expect(r.doc.data.notes.join(' ')).toContain('no GPU of a family vendor-reset knows');
  });
});

describe('the simulated kernel and reset_method (reset_method_store probes each method when written)', () => {
  it('device_specific is refused (EINVAL) before vendor-reset is loaded, accepted after', async () => {
    const m = machine('polaris-vendor-reset');
    expect(() => m.host.writeAttr(paths.pciAttr(POLARIS, 'reset_method'), 'device_specific')).toThrow(/EINVAL/);
    expect((await m.exec.run(['modprobe', 'vendor-reset'])).exitCode).toBe(0);
    m.host.writeAttr(paths.pciAttr(POLARIS, 'reset_method'), 'device_specific');
    expect(method(m, POLARIS)).toBe('device_specific');
    m.host.writeAttr(paths.pciAttr(POLARIS, 'reset_method'), 'default');
    expect(method(m, POLARIS)).toBe('bus');
  });

  it('vendor-reset loads only where DKMS installed it, and only claims the devices in its table', async () => {
    expect((await machine('polaris-no-vendor-reset').exec.run(['modprobe', 'vendor-reset'])).exitCode).toBe(1);
    const m = machine('polaris-vendor-reset');
    await m.exec.run(['modprobe', 'vendor-reset']);
    expect(() => m.host.writeAttr(paths.pciAttr('0000:00:02.0', 'reset_method'), 'device_specific')).toThrow(/EINVAL/);
  });
});

describe('the udev rule', () => {
  const gpu = { address: POLARIS, vendorId: '1002', deviceId: '67df', family: 'Polaris 10', before: ['bus'] };

  it('refuses any value that is not a PCI address or a 4-digit id', () => {
    for (const bad of [{ address: "0000:01:00.0' ; reboot '" }, { address: '0000:01:00.0"' }, { vendorId: '10 2' }, { deviceId: '67df"' }, { address: '01:00.0' }]) {
      expect(() => resetRule([{ ...gpu, ...bad }])).toThrow(/not a PCI address or id/);
    }
  });

  it('its RUN command is valid sh for dash and bash once udev substitutes %k', () => {
    const cmd = /RUN\+="\/bin\/sh -c '([^']*)'"/.exec(resetRule([gpu]))![1]!.replace('%k', POLARIS);
    for (const sh of ['dash', 'bash']) expect(() => execFileSync(sh, ['-n', '-c', cmd])).not.toThrow();
  });

  it('every family vendor-reset knows has 4-digit lowercase ids and a source', () => {
    for (const f of RESET_FAMILIES) {
      expect(f.source).toMatch(/vendor-reset/);
      for (const id of f.deviceIds) expect(id).toMatch(/^[0-9a-f]{4}$/);
    }
    expect(resetFamily('1002', '731F')?.family).toBe('Navi 10');
    expect(resetFamily('10de', '67df')).toBeNull();
  });
});
