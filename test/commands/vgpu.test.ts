// `gpuvirt vgpu types|status`: both mechanisms, text and --json, MIG through recorded nvidia-smi.
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import type { Exec } from '../../src/host/exec.js';
import { captureIO } from '../helpers/io.js';
import { RecordedExec } from '../helpers/recorded-exec.js';

const FIXTURES = new URL('../fixtures/sysfs/', import.meta.url).pathname;

async function run(machine: string, argv: string[], exec?: Exec) {
  const io = captureIO();
  const code = await main([...argv, '--root', FIXTURES + machine], { io, env: {}, platform: 'linux', ...(exec ? { makeExec: () => exec } : {}) });
  return { code, stdout: io.stdout, stderr: io.stderr, doc: argv.includes('--json') ? JSON.parse(io.stdout) : null };
}

describe('gpuvirt vgpu types', () => {
  it('vendor-specific VFIO: types over the free VFs (L40S, two VFs taken)', async () => {
    const { code, doc } = await run('nvidia-l40s-vfio', ['vgpu', 'types', '--json']);
    expect(code).toBe(0);
    expect(doc.data.devices).toEqual([{ address: '0000:41:00.0', name: expect.any(String), mechanism: 'vendor-vfio', parents: expect.any(Array), types: [{ id: '1152', name: 'NVIDIA L40S-8Q', available: 30, migBacked: false, parent: '0000:41:00.0' }] }]);
    expect(doc.data.devices[0].parents).toHaveLength(32);
  });

  it('mdev on each VF (A40 before 6.8): one entry per type, the VFs\' instances added up', async () => {
    const { doc } = await run('nvidia-a40-mdev', ['vgpu', 'types', '--json']);
    const dev = doc.data.devices[0];
    expect(dev.mechanism).toBe('mdev');
    expect(dev.parents).toHaveLength(32);
    expect(dev.types.map((t: { id: string; available: number; parent: string }) => [t.id, t.available, t.parent])).toEqual([
      ['nvidia-557', 31, '0000:41:00.0'], ['nvidia-558', 31, '0000:41:00.0'], ['nvidia-559', 31, '0000:41:00.0'],
    ]);
    expect((await run('nvidia-a40-mdev', ['vgpu', 'types'])).stdout).toContain('(mdev on each of 32 VFs)');
    const status = await run('nvidia-a40-mdev', ['vgpu', 'status', '--json']);
    expect(status.doc.data.devices[0].instances).toEqual([{ uuid: '5b6a7c1e-2d3f-4a5b-8c9d-0e1f2a3b4c5d', parent: '0000:41:00.4', type: 'nvidia-557', typeName: 'NVIDIA A40-8Q' }]);
  });

  it('mdev: the T4\'s types with available instances, as text', async () => {
    const { code, stdout } = await run('nvidia-t4-mdev', ['vgpu', 'types', '0000:41:00.0']);
    expect(code).toBe(0);
    expect(stdout).toContain('(mdev)');
    expect(stdout).toMatch(/nvidia-222\s+GRID T4-1Q\s+15 available/);
    expect(stdout).toMatch(/nvidia-226\s+GRID T4-16Q\s+0 available/);
  });

  it('MIG-backed types are marked; a VF address selects its GPU', async () => {
    const { doc } = await run('nvidia-h100-mig', ['vgpu', 'types', '0000:41:00.5', '--json']);
    expect(doc.data.devices[0].types.map((t: { name: string; migBacked: boolean }) => [t.name, t.migBacked])).toEqual([['NVIDIA H100-1-10C', true], ['NVIDIA H100-2-20C', true]]);
  });

  it('a GPU without vGPU types: exit 5 with a pointer to doctor', async () => {
    const { code, stderr } = await run('nvidia-t4-mdev', ['vgpu', 'types', '0000:c1:00.0']);
    expect(code).toBe(5);
    expect(stderr).toContain('0000:c1:00.0 offers no vGPU types');
    expect((await run('intel-desktop-nvidia', ['vgpu', 'types'])).stdout).toContain('no GPU offers vGPU types');
  });
});

describe('gpuvirt vgpu status', () => {
  it('vendor-specific VFIO: the type on each VF', async () => {
    const { doc } = await run('nvidia-l40s-vfio', ['vgpu', 'status', '--json']);
    const vfs = doc.data.devices[0].vfs;
    expect(vfs).toHaveLength(32);
    expect(vfs.slice(0, 3).map((v: { currentType: string | null; currentName: string | null }) => [v.currentType, v.currentName])).toEqual([['1152', 'NVIDIA L40S-8Q'], ['1152', 'NVIDIA L40S-8Q'], [null, null]]);
    expect(doc.data.mig).toEqual([]);
    expect((await run('nvidia-l40s-vfio', ['vgpu', 'status'])).stdout).toMatch(/VF {2}0 {2}0000:41:00\.4 {2}NVIDIA L40S-8Q \(1152\)/);
  });

  it('mdev: the instance with its type and parent', async () => {
    const { doc } = await run('nvidia-t4-mdev', ['vgpu', 'status', '--json']);
    expect(doc.data.devices[0].instances).toEqual([{ uuid: 'c2177883-f1bb-47f0-914d-32a22e3a8804', parent: '0000:41:00.0', type: 'nvidia-222', typeName: 'GRID T4-1Q' }]);
  });

  it('MIG layout from recorded nvidia-smi, and the MIG-backed vGPU on its GPU instance', async () => {
    const exec = new RecordedExec('nvidia-h100-mig');
    const { doc } = await run('nvidia-h100-mig', ['vgpu', 'status', '--json'], exec);
    expect(doc.data.mig).toEqual([{ address: '0000:41:00.0', known: true, reason: null, current: 'Enabled', pending: 'Enabled', gpuInstances: [
      { id: 1, computeInstances: [0], multiprocessors: 42, memoryMiB: 40192 },
      { id: 5, computeInstances: [0], multiprocessors: 28, memoryMiB: 19968 },
      { id: 13, computeInstances: [0], multiprocessors: 14, memoryMiB: 9856 },
    ], profiles: expect.arrayContaining([{ name: '1g.10gb', id: 19, instances: 7 }, { name: '7g.80gb', id: 0, instances: 1 }]) }]);
    expect(doc.data.devices[0].vfs[0]).toMatchObject({ currentType: '1063', gpuInstanceId: 1 });
    expect(exec.unused()).toEqual([]);
    const text = (await run('nvidia-h100-mig', ['vgpu', 'status'], new RecordedExec('nvidia-h100-mig'))).stdout;
    expect(text).toContain('VF  0  0000:41:00.4  type 1063 on GPU instance 1');
    expect(text).toContain('GPU instance 13: compute instances 0 · 14 SMs · 9856 MiB');
    expect(text).toContain("GPU instance profiles (gpuvirt's table): 1g.10gb (id 19) ×7");
  });

  it('under --root without a seam: MIG unknown, with the reason', async () => {
    const { doc, stdout } = { ...(await run('nvidia-h100-mig', ['vgpu', 'status', '--json'])), stdout: (await run('nvidia-h100-mig', ['vgpu', 'status'])).stdout };
    expect(doc.data.mig[0]).toMatchObject({ known: false, reason: expect.stringContaining('--root') });
    expect(stdout).toContain('MIG: unknown: gpuvirt runs no programs under --root');
  });
});
