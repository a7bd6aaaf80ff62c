// What setup says it will do and why, on the fixture machines: no claim the plan does not
// back, and no "already set up" on a host setup cannot make ready.
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { captureIO } from '../helpers/io.js';
import { FIXTURES } from '../helpers/sim.js';
import { makeTree } from '../helpers/tree.js';

async function setup(root: string, json = true) {
  const io = captureIO();
  const code = await main(['setup', '--dry-run', ...(json ? ['--json'] : []), '--root', root], { io, env: {}, platform: 'linux' });
  return { code, stdout: io.stdout, data: json ? JSON.parse(io.stdout).data : null };
}

describe('setup notes', () => {
  it('no initramfs generator: the plan has no initramfs step, and the notes say so instead of claiming one', async () => {
    const { data } = await setup(FIXTURES + 'qemu-amd');
    expect(data.steps.some((s: { title: string }) => /initramfs/.test(s.title))).toBe(false);
    const note = data.notes.find((n: string) => n.startsWith('vfio'));
    expect(note).not.toContain('and in the initramfs');
    expect(note).toContain('no initramfs generator');
  });

  it('with a generator, the vfio note names it and the plan rebuilds it', async () => {
    const { data } = await setup(FIXTURES + 'iommu-off-firmware');
    const rebuilds = data.steps.some((s: { title: string }) => /rebuild the initramfs/.test(s.title));
    const note = data.notes.find((n: string) => n.startsWith('vfio'));
    expect(note.includes('in the initramfs (')).toBe(rebuilds);
  });

  it('no IOMMU and no vfio modules: says what setup cannot do and why, never "already set up"', async () => {
    const r = await setup(FIXTURES + 'container-no-iommu', false);
    expect(r.stdout).not.toContain('already set up');
    expect(r.stdout).toContain('Setup cannot fix this');
    expect(r.stdout).toContain('the vfio modules are not installed');
    expect(r.stdout).toContain('no ACPI tables are visible');
    const { data } = await setup(FIXTURES + 'container-no-iommu');
    expect(data.cannot).toHaveLength(2);
    expect(data.steps).toEqual([]);
  });

  it('AMD without an IVRS table: no note that claims the table exists', async () => {
    const root = makeTree({
      'proc/cpuinfo': 'processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu svm\n',
      'proc/cmdline': 'root=/dev/sda1 quiet\n',
      'proc/sys/kernel/osrelease': '6.1.0-test\n',
      'sys/firmware/acpi/tables/APIC': '', 'sys/firmware/acpi/tables/DSDT': '',
      'sys/bus/pci/devices/.keep': '',
      'lib/modules/6.1.0-test/modules.dep': 'kernel/drivers/vfio/vfio.ko:\nkernel/drivers/vfio/pci/vfio-pci.ko:\nkernel/drivers/vfio/vfio_iommu_type1.ko:\n',
    });
    const { data } = await setup(root);
    expect(data.notes.join('\n')).not.toContain('IVRS table exists');
    expect(data.cannot.join('\n')).toContain('no ACPI DMAR or IVRS table');
    const withIvrs = await setup(FIXTURES + 'amd-desktop-shared');
    expect(withIvrs.data.notes.join('\n')).toContain('AMD-Vi is on when the IVRS table exists');
  });
});
