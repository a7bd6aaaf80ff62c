// doctor's per-GPU sharing verdict on the vendor fixture machines: what a careful human says
// about how each GPU can be shared there, and what is missing.
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import type { Exec } from '../../src/host/exec.js';
import { captureIO } from '../helpers/io.js';
import { RecordedExec } from '../helpers/recorded-exec.js';

const FIXTURES = new URL('../fixtures/sysfs/', import.meta.url).pathname;

interface Sharing {
  strategy: string;
  status: string;
  summary: string;
  command: string | null;
  changes: { kind: string; what: string; command: string | null }[];
  source: string | null;
}
interface Doc {
  data: { gpus: { address: string; sharing: Sharing[] }[] };
}

async function doctor(machine: string, exec?: Exec): Promise<{ doc: Doc; text: string }> {
  const io = captureIO();
  await main(['doctor', '--json', '--root', FIXTURES + machine], { io, env: {}, platform: 'linux', ...(exec ? { makeExec: () => exec } : {}) });
  const txt = captureIO();
  await main(['doctor', '--root', FIXTURES + machine], { io: txt, env: {}, platform: 'linux', ...(exec ? { makeExec: () => exec } : {}) });
  return { doc: JSON.parse(io.stdout) as Doc, text: txt.stdout };
}

function sharing(doc: Doc, address: string): Record<string, Sharing> {
  const gpu = doc.data.gpus.find((g) => g.address === address);
  if (!gpu) throw new Error(`no GPU ${address}`);
  return Object.fromEntries(gpu.sharing.map((s) => [s.strategy, s]));
}
const statuses = (doc: Doc, address: string) => Object.fromEntries(Object.entries(sharing(doc, address)).map(([k, v]) => [k, v.status]));

describe('doctor sharing verdicts on the vendor fixtures', () => {
  it('nvidia-l40s-vfio: 32 VFs on vendor-specific VFIO, two vGPUs, no mdev on 6.8, no MIG on an L40S', async () => {
    const { doc, text } = await doctor('nvidia-l40s-vfio');
    expect(statuses(doc, '0000:41:00.0')).toEqual({ passthrough: 'now', sriov: 'now', 'vendor-vfio': 'now', mdev: 'after', mig: 'impossible', 'virtio-gpu': 'unknown' });
    const s = sharing(doc, '0000:41:00.0');
    expect(s.sriov!.summary).toContain('32 of 32 VFs enabled');
    expect(s['vendor-vfio']!.summary).toBe('vGPU types creatable: 1; free VFs: 30; VFs holding a vGPU: 2');
    expect(s.mdev!.changes[0]).toMatchObject({ kind: 'kernel', what: expect.stringContaining('older than 6.8') });
    expect(s.mig!.source).toContain('MIG user guide');
    // a VF is passed through alone
    expect(statuses(doc, '0000:41:00.6')).toEqual({ passthrough: 'now' });
    expect(text).toMatch(/now\s+vendor-vfio\s+vGPU types creatable: 1/);
  });

  it('nvidia-vgpu-host (VFs off): vendor-VFIO types after `gpuvirt sriov enable`', async () => {
    const { doc } = await doctor('nvidia-vgpu-host');
    const s = sharing(doc, '0000:41:00.0');
    expect(s.sriov).toMatchObject({ status: 'now', command: 'gpuvirt sriov enable 0000:41:00.0 --vfs 32' });
    expect(s['vendor-vfio']!.status).toBe('after');
    expect(s['vendor-vfio']!.changes).toEqual([{ kind: 'command', what: expect.stringContaining('sriov-manage -e'), command: 'gpuvirt sriov enable 0000:41:00.0 --vfs 32' }]);
  });

  it('nvidia-t4-mdev: mdev now with one type left; no SR-IOV, so no vendor-specific VFIO either', async () => {
    const { doc } = await doctor('nvidia-t4-mdev');
    expect(statuses(doc, '0000:41:00.0')).toEqual({ passthrough: 'now', sriov: 'impossible', 'vendor-vfio': 'impossible', mdev: 'now', mig: 'impossible', 'virtio-gpu': 'unknown' });
    expect(sharing(doc, '0000:41:00.0').mdev!.summary).toBe('5 mdev types, 1 with instances available');
  });

  it('nvidia-a40-mdev: Ampere before 6.8, mdev types merged over the 32 VFs; vendor VFIO needs 6.8', async () => {
    const { doc } = await doctor('nvidia-a40-mdev');
    expect(statuses(doc, '0000:41:00.0')).toEqual({ passthrough: 'now', sriov: 'now', 'vendor-vfio': 'after', mdev: 'now', mig: 'impossible', 'virtio-gpu': 'unknown' });
    const s = sharing(doc, '0000:41:00.0');
    expect(s.mdev!.summary).toBe('3 mdev types, 3 with instances available');
    expect(s['vendor-vfio']!.changes).toEqual([{ kind: 'kernel', what: 'kernel 6.8 or later with NVIDIA vGPU 17 or later', command: null }]);
  });

  it('nvidia-h100-mig with nvidia-smi recorded: MIG on, 3 GPU instances, MIG-backed vGPU types', async () => {
    const exec = new RecordedExec('nvidia-h100-mig');
    const { doc, text } = await doctor('nvidia-h100-mig', exec);
    expect(statuses(doc, '0000:41:00.0')).toMatchObject({ sriov: 'now', 'vendor-vfio': 'now', mig: 'now' });
    expect(sharing(doc, '0000:41:00.0').mig!.summary).toBe('MIG on: 3 GPU instances, 3 compute instances');
    expect(exec.unused()).toEqual([]);
    expect(text).toMatch(/now\s+mig\s+MIG on: 3 GPU instances/);
  });

  it('nvidia-h100-mig under --root alone: MIG is unknown, with the reason, and nothing else changes', async () => {
    const { doc } = await doctor('nvidia-h100-mig');
    expect(sharing(doc, '0000:41:00.0').mig).toMatchObject({ status: 'unknown', summary: expect.stringContaining('runs no programs under --root') });
    expect(statuses(doc, '0000:41:00.0')['vendor-vfio']).toBe('now');
  });

  it('a host without MIG-capable NVIDIA GPUs never runs nvidia-smi', async () => {
    for (const m of ['nvidia-l40s-vfio', 'nvidia-t4-mdev', 'nvidia-a40-mdev', 'intel-adl-stock-i915', 'server-mxgpu-sriov']) {
      const exec = { calls: 0, async run() { this.calls++; throw new Error('no program should run'); } };
      await doctor(m, exec);
      expect(exec.calls, m).toBe(0);
    }
  });

  it('intel-adl-stock-i915: the stock i915 loaded because the DKMS build is missing for this kernel', async () => {
    const { doc } = await doctor('intel-adl-stock-i915');
    expect(statuses(doc, '0000:00:02.0')).toEqual({ passthrough: 'now', sriov: 'after', mdev: 'impossible', 'virtio-gpu': 'now' });
    const changes = sharing(doc, '0000:00:02.0').sriov!.changes;
    expect(changes).toEqual([
      { kind: 'module', what: expect.stringContaining('i915-sriov-dkms 2024.12.02 is registered with DKMS but not built for the running kernel'), command: 'dkms autoinstall' },
      { kind: 'module', what: expect.stringContaining("unknown parameter 'max_vfs'"), command: null },
    ]);
  });

  it('intel-adl-i915-sriov: 7 VFs from the DKMS module, kept off the host driver', async () => {
    const { doc } = await doctor('intel-adl-i915-sriov');
    const s = sharing(doc, '0000:00:02.0');
    expect(s.sriov).toMatchObject({ status: 'now', changes: [] });
    expect(s.sriov!.summary).toBe('7 of 7 VFs enabled (legal counts: 1 to 7); VFs kept off host drivers (autoprobe off); i915 from DKMS 2024.12.02, Secure Boot on, module signed');
    expect(statuses(doc, '0000:00:02.3')).toEqual({ passthrough: 'now' });
  });

  it('intel-adl-secure-boot: Secure Boot refuses the unsigned DKMS i915; the iGPU has no driver', async () => {
    const { doc } = await doctor('intel-adl-secure-boot');
    const s = sharing(doc, '0000:00:02.0');
    expect(s.sriov!.status).toBe('after');
    expect(s.sriov!.changes).toEqual([{ kind: 'module', what: expect.stringMatching(/^Secure Boot refuses the unsigned module updates\/dkms\/i915\.ko/), command: expect.stringContaining('mokutil --import') }]);
    expect(s['virtio-gpu']!.status).toBe('after');
  });

  it('intel-xe-sriov-admin: xe VFs now, with the sriov_admin profiles counted', async () => {
    const { doc } = await doctor('intel-xe-sriov-admin');
    const s = sharing(doc, '0000:03:00.0');
    expect(s.sriov!.summary).toBe('2 of 4 VFs enabled (legal counts: 1 to 4); VFs kept off host drivers (autoprobe off); xe in-tree; sriov_admin: 4 VF profiles');
    expect(s.mdev!.status).toBe('impossible');
  });

  it('server-mxgpu-sriov: GIM legal counts from the facts table; the driverless PF needs gim', async () => {
    const { doc } = await doctor('server-mxgpu-sriov');
    expect(sharing(doc, '0000:41:00.0').sriov!.summary).toBe('4 of 8 VFs enabled (legal counts: 1 or 8)');
    const other = sharing(doc, '0000:81:00.0').sriov!;
    expect(other.status).toBe('after');
    expect(other.changes[0]).toMatchObject({ kind: 'driver', what: expect.stringContaining('gim') });
    expect(sharing(doc, '0000:41:00.0')['virtio-gpu']!.status).toBe('impossible');
  });

  it('iommu-off-cmdline: passthrough waits for intel_iommu=on and names the gpuvirt command', async () => {
    const { doc } = await doctor('iommu-off-cmdline');
    const gpu = doc.data.gpus.find((g) => !g.sharing.some((s) => s.strategy === 'passthrough' && s.status === 'now'))!;
    const p = Object.fromEntries(gpu.sharing.map((s) => [s.strategy, s])).passthrough!;
    expect(p.status).toBe('after');
    expect(p.changes).toContainEqual({ kind: 'kernel-param', what: 'intel_iommu=on', command: 'gpuvirt setup --iommu' });
  });
});
