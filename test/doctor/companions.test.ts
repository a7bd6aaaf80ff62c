// A GPU's other functions (HDMI audio, USB-C) go to the VM with it; when the kernel put one of
// them in another IOMMU group, that group's devices go too, so the GPU is clean only when
// the companion's group is.
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { readGpus } from '../../src/doctor/facts.js';
import { SimKernel } from '../../src/sim/kernel.js';
import { SysfsBuilder } from '../helpers/sysfs-builder.js';
import { main } from '../../src/cli.js';
import { captureIO } from '../helpers/io.js';

const roots: string[] = [];
afterEach(() => {
  while (roots.length) fs.rmSync(roots.pop()!, { recursive: true, force: true });
});

function tree(audioGroupHasNic: boolean): SimKernel {
  const b = new SysfsBuilder();
  roots.push(b.root);
  b.iommu();
  for (const d of ['pcieport', 'amdgpu', 'snd_hda_intel', 'e1000e']) b.driver(d);
  b.device({ addr: '0000:00:02.0', vendor: '1b36', device: '000c', class: '060400', driver: 'pcieport', group: 1 });
  b.device({ addr: '0000:01:00.0', parent: '0000:00:02.0', vendor: '1002', device: '73bf', class: '030000', driver: 'amdgpu', group: 8, resetMethods: ['bus'] });
  b.device({ addr: '0000:01:00.1', parent: '0000:00:02.0', vendor: '1002', device: 'ab28', class: '040300', driver: 'snd_hda_intel', group: 9 });
  b.device({ addr: '0000:03:00.0', vendor: '8086', device: '10d3', class: '020000', driver: 'e1000e', group: audioGroupHasNic ? 9 : 10 });
  return new SimKernel(b.root);
}

describe('companion functions in other IOMMU groups', () => {
  it('a GPU alone in its group whose HDMI audio shares another group with a NIC is shared, naming both', () => {
    const [gpu] = readGpus(tree(true));
    expect(gpu!.blockingPeers).toEqual([]);
    expect(gpu!.isolation).toBe('shared');
    expect(gpu!.companions).toEqual([{ address: '0000:01:00.1', iommuGroup: 9, blockingPeers: [expect.objectContaining({ address: '0000:03:00.0', driver: 'e1000e' })] }]);
  });

  it('the same GPU is clean when its audio function is alone in its own group', () => {
    const [gpu] = readGpus(tree(false));
    expect(gpu!.isolation).toBe('clean');
    expect(gpu!.companions).toEqual([{ address: '0000:01:00.1', iommuGroup: 9, blockingPeers: [] }]);
  });

  it('doctor shows the companion and its blocking peer under the GPU, and counts the GPU as shared', async () => {
    const host = tree(true);
    const io = captureIO();
    await main(['doctor', '--root', host.root], { io, env: {}, platform: 'linux' });
    expect(io.stdout).toContain('its function 0000:01:00.1 (group 9) shares that group with 0000:03:00.0 [0200]');
    expect(io.stdout).toMatch(/WARN {2}gpu\.isolation +every GPU shares its IOMMU group, or a group of its own slot's other functions/);
  });
});
