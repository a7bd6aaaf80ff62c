// doctor on every fixture machine: the verdicts a careful human gives each one.
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureIO } from '../helpers/io.js';

const FIXTURES = new URL('../fixtures/sysfs/', import.meta.url).pathname;

interface Doc {
  ok: boolean;
  data: {
    host: { cpuVendor: string; bootloader: { kind: string } };
    checks: { id: string; status: string; remedy: string | null; summary: string }[];
    iommu: { firmware: string; enabled: boolean; groupCount: number };
    gpus: { address: string; isolation: string; blockingPeers: { address: string; classId: string; driver: string | null }[]; bootVga: boolean | null; physfn: string | null; sriov: { totalVfs: number; numVfs: number } | null }[];
  };
}

async function doctor(machine: string): Promise<{ code: number; doc: Doc }> {
  const io = captureIO();
  const code = await main(['doctor', '--json', '--root', FIXTURES + machine], { io, env: {}, platform: 'linux' });
  return { code, doc: JSON.parse(io.stdout) as Doc };
}

const statuses = (d: Doc) => Object.fromEntries(d.data.checks.map((c) => [c.id, c.status]));
const check = (d: Doc, id: string) => d.data.checks.find((c) => c.id === id)!;
const gpu = (d: Doc, address: string) => d.data.gpus.find((g) => g.address === address)!;

describe('doctor on the fixture machines', () => {
  it('intel-desktop-nvidia: ready, the dGPU slot is clean', async () => {
    const { code, doc } = await doctor('intel-desktop-nvidia');
    expect(code).toBe(0);
    expect(doc.ok).toBe(true);
    expect(Object.values(statuses(doc)).every((s) => s === 'pass')).toBe(true);
    expect(doc.data.iommu).toMatchObject({ firmware: 'DMAR', enabled: true });
    expect(gpu(doc, '0000:01:00.0')).toMatchObject({ isolation: 'clean', blockingPeers: [], bootVga: false });
    expect(gpu(doc, '0000:00:02.0').bootVga).toBe(true);
    expect(doc.data.host.bootloader.kind).toBe('grub');
  });

  it('amd-desktop-shared: the chipset-slot GPU shares its group with USB, SATA and the NIC', async () => {
    const { code, doc } = await doctor('amd-desktop-shared');
    expect(code).toBe(0);
    const shared = gpu(doc, '0000:06:00.0');
    expect(shared.isolation).toBe('shared');
    expect(shared.blockingPeers.map((p) => [p.classId.slice(0, 4), p.driver])).toEqual(
      expect.arrayContaining([['0c03', 'xhci_hcd'], ['0106', 'ahci']]),
    );
    // bridges in the group are never blocking peers
    expect(shared.blockingPeers.every((p) => !p.classId.startsWith('0604'))).toBe(true);
    expect(gpu(doc, '0000:09:00.0').isolation).toBe('clean');
    expect(statuses(doc)['cmdline.iommu']).toBe('pass');
    expect(check(doc, 'cmdline.iommu').summary).toContain('AMD-Vi is on by default');
    expect(doc.data.host.bootloader.kind).toBe('systemd-boot');
  });

  it('server-mxgpu-sriov: the PF and each VF (with its PF) are listed, each VF in its own group', async () => {
    const { doc } = await doctor('server-mxgpu-sriov');
    const pf = gpu(doc, '0000:41:00.0');
    expect(pf.sriov).toEqual({ totalVfs: 8, numVfs: 4 });
    const vfs = doc.data.gpus.filter((g) => g.physfn === '0000:41:00.0');
    expect(vfs).toHaveLength(4);
    expect(vfs.every((v) => v.isolation === 'clean')).toBe(true);
    expect(doc.data.host.bootloader.kind).toBe('proxmox-boot-tool');
    expect(statuses(doc)['gpu.reset']).toBe('pass');
  });

  it('iommu-off-firmware: firmware has no DMAR; the remedy is the firmware setup', async () => {
    const { code, doc } = await doctor('iommu-off-firmware');
    expect(code).toBe(1);
    expect(doc.ok).toBe(false);
    expect(statuses(doc)).toMatchObject({ 'iommu.firmware': 'fail', 'iommu.enabled': 'fail', 'gpu.isolation': 'skip' });
    expect(check(doc, 'iommu.enabled').remedy).toContain('firmware setup');
    expect(doc.data.gpus.every((g) => g.isolation === 'unknown')).toBe(true);
  });

  it('iommu-off-cmdline: DMAR present, kernel left VT-d off; the remedy edits GRUB and runs update-grub', async () => {
    const { code, doc } = await doctor('iommu-off-cmdline');
    expect(code).toBe(1);
    expect(statuses(doc)).toMatchObject({ 'iommu.firmware': 'pass', 'iommu.enabled': 'fail', 'cmdline.iommu': 'fail' });
    const remedy = check(doc, 'cmdline.iommu').remedy!;
    expect(remedy).toContain('intel_iommu=on');
    expect(remedy).toContain('/etc/default/grub');
    expect(remedy).toContain('update-grub');
    expect(check(doc, 'cmdline.iommu').summary).toContain('CONFIG_INTEL_IOMMU_DEFAULT_ON');
  });

  it('container-no-iommu: no virtualization, no KVM, no IOMMU; nothing crashes and nothing is passed', async () => {
    const { code, doc } = await doctor('container-no-iommu');
    expect(code).toBe(1);
    expect(statuses(doc)).toMatchObject({ 'cpu.virtualization': 'fail', 'kvm.device': 'fail', 'iommu.enabled': 'fail', 'gpu.isolation': 'skip' });
    expect(statuses(doc)['cmdline.iommu']).not.toBe('pass');
    expect(doc.data.gpus).toEqual([]);
    expect(doc.data.iommu.enabled).toBe(false);
  });

  it('two-identical-gpus: both clean, told apart by address, one is the boot GPU', async () => {
    const { doc } = await doctor('two-identical-gpus');
    const [a, b] = doc.data.gpus;
    expect(a!.isolation).toBe('clean');
    expect(b!.isolation).toBe('clean');
    expect([a!.bootVga, b!.bootVga].sort()).toEqual([false, true]);
    expect(statuses(doc)['gpu.isolation']).toBe('pass');
  });

  it('shared-with-boot-disk: the GPU shares its group with the NVMe system disk', async () => {
    const { doc } = await doctor('shared-with-boot-disk');
    const g = gpu(doc, '0000:01:00.0');
    expect(g.isolation).toBe('shared');
    expect(g.blockingPeers.map((p) => p.driver)).toContain('nvme');
  });

  it('a --root that is not a host tree (no sys/bus/pci) says so, exit 2, and gives no firmware advice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'not-a-host-'));
    mkdirSync(join(dir, 'src'));
    for (const json of [true, false]) {
      const io = captureIO();
      const code = await main(['doctor', ...(json ? ['--json'] : []), '--root', dir], { io, env: {}, platform: 'linux' });
      expect(code).toBe(2);
      const out = io.stdout + io.stderr;
      expect(out).toContain('not a Linux host tree');
      expect(out).not.toMatch(/firmware|VT-d|IOMMU/);
      if (json) expect(JSON.parse(io.stdout).error.code).toBe('E_NOT_A_HOST');
    }
  });

  it('reset fixtures: each GPU shows its reset state, the count says "1 warning"', async () => {
    const io = captureIO();
    await main(['doctor', '--root', FIXTURES + 'polaris-no-vendor-reset'], { io, env: {}, platform: 'linux' });
    expect(io.stdout).toMatch(/\n9 passed, 1 warning, 0 failed, 0 skipped\n$/);
    expect(io.stdout).toContain('reset: AMD Polaris 10 (RX 470/480/570/580/590) does not reset cleanly');
    const single = await doctor('navi10-single-gpu-vendor-reset');
    const g = single.doc.data.gpus[0] as unknown as { bootVga: boolean; reset: { verdict: string; command: string; family: { family: string } } };
    expect(g).toMatchObject({ bootVga: true, reset: { verdict: 'needs-setup', command: 'gpuvirt setup --reset', family: { family: 'Navi 10' } } });
    expect(check(single.doc, 'gpu.reset').summary).toContain('0000:0b:00.0 (boot GPU) is AMD Navi 10');
    const without = await doctor('navi10-single-gpu');
    expect((without.doc.data.gpus[0] as unknown as { reset: { verdict: string } }).reset.verdict).toBe('needs-vendor-reset');
    expect(check(without.doc, 'gpu.reset').remedy).toContain('install vendor-reset');
  });
});
