// Faults injected into the real kernel in the middle of a run. Whatever fails, the devices of
// the set must end exactly as they were before the run (driver links and driver_override).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { DEV } from '../../topology.js';
import { recordedDevices, type Run } from '../commands.js';
import type { ChangeData } from '../contract.js';
import { LEFT_AS_FOUND, type Scenario, type Test } from '../framework.js';
import { driverLoaded, sh, snapshot, write } from '../sysfs.js';
import { assertApplied } from './passthrough.js';

const SLOT = [DEV.gpu, DEV.gpuAudio];
/** kmod reads install commands from here; each scenario removes its own. */
const FAULT_CONF = '/etc/modprobe.d/gpuvirt-e2e-fault.conf';

export function injectModprobeRule(t: Test, rule: string): void {
  fs.mkdirSync('/etc/modprobe.d', { recursive: true });
  fs.writeFileSync(FAULT_CONF, `${rule}\n`);
  t.cleanup(() => fs.rmSync(FAULT_CONF, { force: true }));
}

export function failedRun(r: Run<Pick<ChangeData, 'applied'>>) {
  const applied = r.doc?.data?.applied;
  assert.equal(r.status, 1, 'exit status 1 (failed and rolled back)');
  assert.equal(applied?.ok, false, 'applied.ok');
  assert.equal(applied?.rollback?.ok, true, `rollback: ${JSON.stringify(applied?.rollback)}`);
  return applied;
}

/**
 * Loading vfio-pci (the plan's first step) also unbinds the audio function, through a modprobe
 * install command, so the plan's "unbind 01:00.1 from snd_hda_intel" meets a kernel that says
 * ENODEV after the display function has already moved to vfio-pci.
 */
export const faultMidPlan: Scenario = {
  id: 'fault: the audio function loses its driver mid-run',
  machines: ['intel'],
  checks: [
    'the run fails (exit 1) at the audio function\'s unbind with ENODEV, and the rollback reports ok',
    'both functions are back: drivers and driver_override as before',
    'nothing is left on vfio-pci and gpuvirt keeps no record',
  ],
  run(t) {
    sh(['modprobe', '-r', 'vfio-pci']);
    assert.equal(driverLoaded('vfio-pci'), false, 'setup: vfio-pci must not be loaded, so that the plan loads it');
    injectModprobeRule(t, `install vfio_pci /sbin/modprobe --ignore-install vfio_pci && echo ${DEV.gpuAudio} > /sys/bus/pci/drivers/snd_hda_intel/unbind`);
    const before = snapshot(SLOT);
    const r = t.gpuvirt<ChangeData>('passthrough', DEV.gpu, '--yes');
    t.check('the run fails (exit 1) at the audio function\'s unbind with ENODEV, and the rollback reports ok', () => {
      const failed = failedRun(r)?.steps.find((s) => s.status === 'failed');
      assert.match(failed?.action ?? '', new RegExp(`${DEV.gpuAudio}.*snd_hda_intel/unbind`), 'the failing step');
      assert.match(failed?.error ?? '', /ENODEV/);
      return failed?.error ?? '';
    });
    t.check('both functions are back: drivers and driver_override as before', () => assert.deepEqual(snapshot(SLOT), before));
    t.check('nothing is left on vfio-pci and gpuvirt keeps no record', () => {
      const bound = fs.readdirSync('/sys/bus/pci/drivers/vfio-pci').filter((n) => /^[0-9a-f]{4}:/.test(n));
      assert.deepEqual(bound, []);
      assert.deepEqual(recordedDevices(), []);
    });
  },
};

/** release meets a driver that cannot be loaded: it must put the slot back on vfio-pci. */
export const faultRelease: Scenario = {
  id: 'fault: release cannot load the audio driver',
  machines: ['intel'],
  checks: [
    'setup: the slot is on vfio-pci and snd_hda_intel is unloaded',
    'release fails (exit 1) and its rollback reports ok',
    'after the failed release both functions are as before it',
    'once the driver can load again, release gives back bochs-drm and snd_hda_intel',
  ],
  run(t) {
    const boot = snapshot(SLOT);
    const pt = t.gpuvirt<ChangeData>('passthrough', DEV.gpu, '--yes');
    const unload = sh(['modprobe', '-r', 'snd_hda_intel']);
    injectModprobeRule(t, 'install snd_hda_intel /bin/false');
    t.check('setup: the slot is on vfio-pci and snd_hda_intel is unloaded', () => {
      assertApplied(pt);
      assert.equal(unload.status, 0, unload.out);
      assert.equal(driverLoaded('snd_hda_intel'), false);
    });
    const held = snapshot(SLOT);
    const rel = t.gpuvirt<ChangeData>('release', DEV.gpu, '--yes');
    t.check('release fails (exit 1) and its rollback reports ok', () => {
      failedRun(rel);
    });
    t.check('after the failed release both functions are as before it', () => assert.deepEqual(snapshot(SLOT), held));
    fs.rmSync(FAULT_CONF, { force: true });
    const again = t.gpuvirt<ChangeData>('release', DEV.gpu, '--yes');
    t.check('once the driver can load again, release gives back bochs-drm and snd_hda_intel', () => {
      assertApplied(again);
      assert.deepEqual(snapshot(SLOT), boot);
    });
  },
};

/** A driver_override someone else set on the audio function (naming a driver that does not exist). */
export const foreignOverride: Scenario = {
  id: 'fault: a foreign driver_override on the audio function',
  machines: ['intel'],
  checks: [
    'passthrough either binds the whole slot or fails and rolls back, never half-bound',
    'release (or the rollback) restores snd_hda_intel and the foreign driver_override',
  ],
  run(t) {
    const overrideFile = `/sys/bus/pci/devices/${DEV.gpuAudio}/driver_override`;
    write(overrideFile, 'gpuvirt-e2e-absent');
    t.cleanup(() => write(overrideFile, '\n'));
    const before = snapshot(SLOT);
    const pt = t.gpuvirt<ChangeData>('passthrough', DEV.gpu, '--yes');
    t.check('passthrough either binds the whole slot or fails and rolls back, never half-bound', () => {
      if (pt.status === 0) assert.deepEqual(SLOT.map((a) => snapshot([a])[a]?.driver), ['vfio-pci', 'vfio-pci']);
      else {
        failedRun(pt);
        assert.deepEqual(snapshot(SLOT), before);
      }
      return `exit ${pt.status}`;
    });
    const rel = pt.status === 0 ? t.gpuvirt<ChangeData>('release', DEV.gpu, '--yes') : null;
    t.check('release (or the rollback) restores snd_hda_intel and the foreign driver_override', () => {
      if (rel) assertApplied(rel);
      assert.deepEqual(snapshot(SLOT), before);
    });
  },
};
