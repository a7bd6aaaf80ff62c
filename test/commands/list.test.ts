// gpuvirt list against the real lspci on every fixture, and its own grouping rules.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { captureIO } from '../helpers/io.js';
import { FIXTURES } from '../helpers/sim.js';

interface Device {
  address: string; vendorId: string; deviceId: string; subsystemVendorId: string | null; subsystemDeviceId: string | null;
  classId: string; driver: string | null; iommuGroup: number | null;
}

async function list(machine: string, extra: string[] = []): Promise<{ iommu: boolean; groups: { id: number; devices: Device[] }[]; ungrouped: Device[]; reason: string | null }> {
  const io = captureIO();
  expect(await main(['list', '--json', '--root', FIXTURES + machine, ...extra], { io, env: {}, platform: 'linux' })).toBe(0);
  return JSON.parse(io.stdout).data;
}

/** `lspci -vmm -n -k -D` records: the fields lspci parsed from the tree itself. */
function lspci(machine: string): Record<string, string>[] {
  const r = spawnSync('lspci', ['-vmm', '-n', '-k', '-D', '-A', 'linux-sysfs', '-O', `sysfs.path=${FIXTURES}${machine}/sys/bus/pci`], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  return r.stdout.trim().split('\n\n').map((block) => Object.fromEntries(block.split('\n').map((l) => l.split(':\t') as [string, string])));
}

const machines = readdirSync(FIXTURES);
const haveLspci = spawnSync('lspci', ['--version']).status === 0;

describe.runIf(haveLspci || process.env.CI)('gpuvirt list agrees with lspci', () => {
  it.each(machines)('%s: same devices, ids, class and driver', async (machine) => {
    const data = await list(machine);
    const ours = [...data.groups.flatMap((g) => g.devices), ...data.ungrouped].sort((a, b) => (a.address < b.address ? -1 : 1));
    const theirs = lspci(machine);
    expect(ours.map((d) => d.address)).toEqual(theirs.map((t) => t.Slot));
    for (const [i, t] of theirs.entries()) {
      const d = ours[i]!;
      expect({ address: d.address, vendor: d.vendorId, device: d.deviceId, class: d.classId, driver: d.driver, sv: d.subsystemVendorId, sd: d.subsystemDeviceId }).toEqual({
        address: t.Slot, vendor: t.Vendor, device: t.Device, class: `${t.Class}${t.ProgIf ?? '00'}`, driver: t.Driver ?? null,
        sv: t.SVendor ?? (d.subsystemVendorId === '0000' ? '0000' : null), sd: t.SDevice ?? (d.subsystemDeviceId === '0000' ? '0000' : null),
      });
    }
  });
});

describe('gpuvirt list', () => {
  it('groups devices by IOMMU group; --gpus keeps only groups with a GPU', async () => {
    const all = await list('amd-desktop-shared');
    expect(all.iommu).toBe(true);
    // AMD's root complex and the IOMMU function itself sit outside every group, as on real hosts.
    expect(all.ungrouped.map((d) => d.address)).toEqual(['0000:00:00.0', '0000:00:00.2']);
    expect(all.reason).toContain('not behind the IOMMU');
    const gpus = await list('amd-desktop-shared', ['--gpus']);
    expect(gpus.groups.map((g) => g.id)).toEqual([13, 16]);
    expect(gpus.groups[0]!.devices.map((d) => d.address)).toContain('0000:02:00.0');
  });

  it('without an IOMMU lists the devices as ungrouped and says why', async () => {
    const data = await list('iommu-off-firmware');
    expect(data.groups).toEqual([]);
    expect(data.ungrouped.length).toBeGreaterThan(3);
    expect(data.reason).toContain('no IOMMU is active');
  });

  it('human output: one line per device, fits a pipe', async () => {
    const io = captureIO();
    await main(['list', '--gpus', '--root', FIXTURES + 'intel-desktop-nvidia'], { io, env: {}, platform: 'linux' });
    expect(io.stdout).toContain('IOMMU group 8\n  0000:01:00.0  VGA compatible controller [0300]: NVIDIA Corporation GA102 [GeForce RTX 3090] [10de:2204] (driver nvidia)');
  });
});
