// profile validate --host: what the host cannot give the VM besides devices (a VF count the
// model does not run, CPUs it does not have, hugepages it has not reserved).
import { cpSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostFit, parseCpuList } from '../../src/profiles/host-fit.js';
import { gpuvirt } from '../generate/run.js';
import { FIXTURES } from '../helpers/sim.js';

const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-fit-'));
function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

/** A copy of a fixture with the online CPUs and hugepage pools a real host's sysfs shows. */
function hostWith(fixture: string, online: string, pools: Record<number, [number, number]>): string {
  const root = mkdtempSync(join(tmpdir(), 'gpuvirt-fit-root-'));
  cpSync(FIXTURES + fixture, root, { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(root, 'sys/devices/system/cpu'), { recursive: true });
  writeFileSync(join(root, 'sys/devices/system/cpu/online'), `${online}\n`);
  for (const [size, [total, free]] of Object.entries(pools)) {
    const d = join(root, `sys/kernel/mm/hugepages/hugepages-${size}kB`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'nr_hugepages'), `${total}\n`);
    writeFileSync(join(d, 'free_hugepages'), `${free}\n`);
  }
  return root;
}

const problems = (doc: any) => doc.data.files[0].problems.map((p: { severity: string; path: string; message: string }) => [p.severity, p.path, p.message]);

describe('profile validate --host: what the host cannot give', () => {
  it('a VF count the model does not run: an MI300X runs 1 or 8', async () => {
    const f = file('two.yaml', 'apiVersion: gpuvirt/v1\nname: t\nmemory: 4GiB\ncpu: { cores: 2 }\ndevices:\n  - { type: vf, pf: { address: 0000:41:00.0 }, vf: any, vfCount: 2 }\n');
    const r = await gpuvirt(['profile', 'validate', f, '--host', '--json', '--root', FIXTURES + 'server-mxgpu-sriov']);
    expect(r.code).toBe(2);
    expect(problems(r.doc)).toContainEqual(['error', 'devices[0].vfCount', '0000:41:00.0 (1002:74a1) runs 1 or 8 VFs, one per partition mode, not 2']);
    const eight = file('eight.yaml', 'apiVersion: gpuvirt/v1\nname: t\nmemory: 4GiB\ncpu: { cores: 2 }\ndevices:\n  - { type: vf, pf: { address: 0000:41:00.0 }, vf: any, vfCount: 8 }\n');
    expect((await gpuvirt(['profile', 'validate', eight, '--host', '--root', FIXTURES + 'server-mxgpu-sriov'])).code).toBe(0);
  });

  it('CPU pinning to CPUs the host does not have', async () => {
    const root = hostWith('intel-desktop-nvidia', '0-7', {});
    const f = file('pin.yaml', 'apiVersion: gpuvirt/v1\nname: t\nmemory: 4GiB\ncpu: { cores: 4, pinning: [6, 7, 8, 9] }\ndisplay: { fallback: virtio-gpu }\ndevices: []\n');
    const r = await gpuvirt(['profile', 'validate', f, '--host', '--json', '--root', root]);
    expect(r.code).toBe(2);
    expect(problems(r.doc)).toEqual([['error', 'cpu.pinning', 'host CPU 8-9 are not on this host (it has CPUs 0-7)']]);
    expect(r.doc.data.files[0].problems[0]).toMatchObject({ line: 4 });
    // Without --host nothing is known about the host's CPUs.
    expect((await gpuvirt(['profile', 'validate', f])).code).toBe(0);
  });

  it('512 GiB in 1 GiB hugepages on a host without them, or with too few reserved', async () => {
    const f = file('huge.yaml', 'apiVersion: gpuvirt/v1\nname: t\nmemory: 512GiB\nhugepages: 1G\ncpu: { cores: 2 }\ndisplay: { fallback: virtio-gpu }\ndevices: []\n');
    const none = await gpuvirt(['profile', 'validate', f, '--host', '--json', '--root', hostWith('intel-desktop-nvidia', '0-7', { 2048: [0, 0] })]);
    expect(none.code).toBe(2);
    expect(problems(none.doc)).toEqual([['error', 'hugepages', 'this host has no 1 GiB hugepages (no hugepages-1048576kB pool: the CPU needs the pdpe1gb flag)']]);
    const few = await gpuvirt(['profile', 'validate', f, '--host', '--json', '--root', hostWith('intel-desktop-nvidia', '0-7', { 2048: [0, 0], 1048576: [0, 0] })]);
    expect(problems(few.doc)[0][2]).toBe('the VM needs 512 1 GiB hugepages and this host has 0 (0 free): reserve them, e.g. `default_hugepagesz=1G hugepagesz=1G hugepages=512` on the kernel command line');
    const enough = await gpuvirt(['profile', 'validate', f, '--host', '--json', '--root', hostWith('intel-desktop-nvidia', '0-7', { 1048576: [512, 100] })]);
    expect(enough.code).toBe(0);
    expect(problems(enough.doc)).toEqual([['warning', 'hugepages', 'the VM needs 512 1 GiB hugepages; 100 of the host\'s 512 are free now']]);
  });

  it('pure parts: the kernel\'s cpulist format, and nothing judged when the host does not say', () => {
    expect(parseCpuList('0-3,8,10-11\n')).toEqual([0, 1, 2, 3, 8, 10, 11]);
    const profile = { cpu: { cores: 2, pinning: [99, 100] }, hugepages: '1G', memory: '4GiB' } as never;
    expect(hostFit(profile, { cpus: null, hugepages: null })).toEqual([]);
    expect(hostFit(profile, { cpus: [0, 1], hugepages: null }).map((p) => p.message)).toEqual(['host CPU 99-100 are not on this host (it has CPUs 0-1)']);
  });
});

describe('vf: any on the host', () => {
  it('takes the first VF nothing holds open: a VF a VM holds is skipped', async () => {
    const root = join(dir, 'held');
    cpSync(FIXTURES + 'server-mxgpu-sriov', root, { recursive: true, verbatimSymlinks: true });
    const f = file('any.yaml', 'apiVersion: gpuvirt/v1\nname: t\nmemory: 4GiB\ncpu: { cores: 2 }\ndisplay: { fallback: virtio-gpu }\ndevices:\n  - { type: vf, pf: { address: 0000:41:00.0 }, vf: any, vfCount: 8 }\n');
    const hosts = async () => {
      const r = await gpuvirt(['generate', f, '--target', 'qemu', '--json', '--root', root]);
      expect(r.code).toBe(0);
      return (r.doc.data.argv as string[]).filter((a) => a.startsWith('vfio-pci,')).map((a) => /host=([^,]+)/.exec(a)?.[1]);
    };
    expect(await hosts()).toEqual(['0000:41:02.0']);
    // A QEMU process holding VF 0's VFIO group (group 24) open.
    mkdirSync(join(root, 'proc/4242/fd'), { recursive: true });
    writeFileSync(join(root, 'proc/4242/comm'), 'qemu-system-x86\n');
    symlinkSync('/dev/vfio/24', join(root, 'proc/4242/fd/17'));
    expect(await hosts()).toEqual(['0000:41:02.1']);
  });
});
