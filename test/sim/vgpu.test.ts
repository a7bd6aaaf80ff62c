// The simulated NVIDIA vendor-specific VFIO store (src/sim/vgpu.ts) on the L40S fixture: 32 VFs,
// VF0 and VF1 hold an L40S-8Q (1152); the board has 48 GiB, so six 8Q fit.
import { mkdirSync, symlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readAttr } from '../../src/host/host.js';
import { paths } from '../../src/host/paths.js';
import { readVirtfns } from '../../src/detect/pci.js';
import { parseCreatable } from '../../src/sharing/nvidia.js';
import { machine } from '../helpers/sim.js';
import { write } from '../helpers/sysfs-builder.js';

const PF = '0000:41:00.0';
const cur = (vf: string) => paths.pciAttr(vf, 'nvidia/current_vgpu_type');
const list = (m: ReturnType<typeof machine>, vf: string) => parseCreatable(readAttr(m.host, paths.pciAttr(vf, 'nvidia/creatable_vgpu_types')) ?? '').map((t) => t.id);

describe('SimKernel: nvidia/current_vgpu_type', () => {
  it('takes the running type while one more fits; then the type leaves every list and a 7th is ENOSPC', () => {
    const m = machine('nvidia-l40s-vfio');
    const vfs = readVirtfns(m.host, PF);
    for (const vf of vfs.slice(2, 6)) {
      expect(list(m, vf)).toEqual(['1152']);
      expect(write(m.host, cur(vf), '1152\n')).toBe('ok');
      expect(readAttr(m.host, cur(vf))).toBe('1152');
    }
    for (const vf of vfs) expect(list(m, vf)).toEqual([]);
    expect(readAttr(m.host, paths.pciAttr(vfs[9]!, 'nvidia/creatable_vgpu_types'))).toBe('ID    : vGPU Name');
    expect(write(m.host, cur(vfs[9]!), '1152')).toBe('ENOSPC');
    expect(write(m.host, cur(vfs[5]!), '0')).toBe('ok');
    expect(list(m, vfs[9]!)).toEqual(['1152']);
  });

  it('refuses another type while one runs (EINVAL), an id the board lacks (ENODEV), and what kstrtol(…, 10) rejects', () => {
    const m = machine('nvidia-l40s-vfio');
    const vf = readVirtfns(m.host, PF)[3]!;
    expect(write(m.host, cur(vf), '1150')).toBe('EINVAL');
    expect(write(m.host, cur(vf), '4242')).toBe('ENODEV');
    expect(write(m.host, cur(vf), 'abc')).toBe('EINVAL');
    expect(write(m.host, cur(vf), '0x480')).toBe('EINVAL');
    expect(readAttr(m.host, cur(vf))).toBe('0');
  });

  it('EPERM for a type on a VF that has one, and for 0 on a VF that has none; 0 first frees it', () => {
    const m = machine('nvidia-l40s-vfio');
    const [vf0, vf1, vf2] = readVirtfns(m.host, PF);
    expect(write(m.host, cur(vf0!), '1152')).toBe('EPERM');
    expect(write(m.host, cur(vf2!), '0')).toBe('EPERM');
    expect(write(m.host, cur(vf0!), '0')).toBe('ok');
    expect(write(m.host, cur(vf1!), '0')).toBe('ok');
    // An idle GPU offers every type on every VF again; a new size can run.
    expect(list(m, vf2!)).toHaveLength(23);
    expect(write(m.host, cur(vf0!), '1150')).toBe('ok');
    expect(list(m, vf2!)).toEqual(['1150']);
  });

  it('EBUSY while the VF is open through VFIO, by /proc/<pid>/fd or a held device', () => {
    const m = machine('nvidia-l40s-vfio');
    const [vf0, , vf2] = readVirtfns(m.host, PF);
    const group = m.host.readLink(paths.pciAttr(vf0!, 'iommu_group'))!.split('/').pop();
    mkdirSync(`${m.root}/proc/4242/fd`, { recursive: true });
    symlinkSync(`/dev/vfio/${group}`, `${m.root}/proc/4242/fd/17`);
    expect(write(m.host, cur(vf0!), '0')).toBe('EBUSY');
    expect(readAttr(m.host, cur(vf0!))).toBe('1152');
    m.host.holdOpen(vf2!, { errno: 'EBUSY' });
    expect(write(m.host, cur(vf2!), '1152')).toBe('EBUSY');
  });
});
