// Every value that reaches a boot-time file (udev rule, modprobe.d, systemd unit, initramfs
// hook) is checked against what that file can carry: an injection string in any field is
// refused with the field named, never written.
import { describe, expect, it } from 'vitest';
import { modprobeConf, udevRule, type PersistedDevice } from '../../src/passthrough/persist.js';
import { planSriovPersist, type PersistedPf } from '../../src/sriov/persist.js';
import { planPersist } from '../../src/passthrough/persist.js';
import type { Host } from '../../src/host/host.js';
import { configDir } from '../../src/profiles/apply-plan.js';

const INJECTIONS = [
  'vfio-pci", RUN+="/bin/sh -c \'touch /pwned\'',
  'x\ninstall nvidia /bin/sh -c id',
  'x\nExecStart=/bin/sh',
  '$(id)', '`id`', 'a b', '../../etc', 'x;id', '-c', '', 'x\0y', '\x1b[2J',
];
const emptyHost = { readText: () => null } as unknown as Host;
const dev: PersistedDevice = { address: '0000:01:00.0', target: 'vfio-pci', originalModule: 'nvidia' };
const pf: PersistedPf = { pf: '0000:c1:00.0', numVfs: 2, bind: 'vfio-pci', adapter: 'generic', vfs: ['0000:c1:00.1'] };

describe('boot-time files refuse values they cannot carry', () => {
  it.each(INJECTIONS)('passthrough files: %j in every field', (bad) => {
    for (const field of ['address', 'target', 'originalModule'] as const) {
      if (field === 'originalModule' && bad === '') continue; // no module: no softdep line at all
      const d = { ...dev, [field]: bad } as PersistedDevice;
      expect(() => {
        udevRule([d]);
        modprobeConf([d]);
        planPersist(emptyHost, [d], { kind: 'dracut', reason: '', rebuild: null } as never);
      }, field).toThrow(expect.objectContaining({ code: 'E_UNSAFE_VALUE' }));
    }
  });

  // NVIDIA PFs have no early file (gpuvirt-host.service runs sriov-manage from the record, whose schema checks the address).
  it.each(INJECTIONS)('SR-IOV files: %j in every field, for every adapter with an early file', (bad) => {
    for (const adapter of ['generic', 'intel', 'amd-gim']) {
      for (const over of [{ pf: bad }, { bind: bad }, { vfs: [bad] }, { numVfs: bad }]) {
        if ('vfs' in over && adapter !== 'generic' && adapter !== 'intel') continue;
        const p = { ...pf, adapter, ...over } as unknown as PersistedPf;
        expect(() => planSriovPersist(emptyHost, [p]), `${adapter} ${JSON.stringify(over)}`).toThrow(expect.objectContaining({ code: 'E_UNSAFE_VALUE' }));
      }
    }
  });

  it('a profile named . or .. keeps its configs in a directory of its own', () => {
    for (const name of ['.', '..', '...']) {
      const dir = configDir({ name } as never);
      expect(dir.split('/').slice(-1)[0]).toMatch(/^_+$/);
      expect(dir.startsWith('/var/lib/gpuvirt/vms/')).toBe(true);
    }
  });

  it('ordinary values still render', () => {
    expect(udevRule([dev])).toContain('KERNEL=="0000:01:00.0"');
    expect(modprobeConf([dev])).toContain('softdep nvidia pre: vfio-pci');
    expect(planSriovPersist(emptyHost, [pf, { ...pf, pf: '0000:c2:00.0', adapter: 'amd-gim' }]).length).toBe(2);
  });
});
