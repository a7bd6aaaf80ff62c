// Host configuration files: what is accepted, and every problem at file:line:col.
import { describe, expect, it } from 'vitest';
import { loadHostConfigText, pickConfig } from '../../src/hostconfig/load.js';
import { hostConfigJsonSchema } from '../../src/hostconfig/schema.js';
import { machine } from '../helpers/sim.js';
import { configFile } from './files.js';

const HEAD = 'apiVersion: gpuvirt/v1\nkind: HostConfig\nconfigs:\n';
const at = (text: string) => loadHostConfigText(text).problems.map((p) => `${p.line}:${p.col}: ${p.severity}: ${p.message}`);

describe('host configuration files', () => {
  it('reads named configs with every kind of selector, addresses in the kernel\'s form', () => {
    const r = loadHostConfigText(`${HEAD}  vm-host:
    host: { iommu: true, vfioModules: true, kernelParams: ["iommu=pt"] }
    devices:
      - select: { address: "01:00.0" }
        driver: vfio-pci
      - select: { id: "10DE:2204:1043:87B3", index: 0 }
        driver: pci-stub
      - select: { name: "*E810*" }
        sriov: { vfs: 4, vfDriver: vfio-pci }
      - select: { all: true }
        driver: vfio-pci
  empty: {}
`);
    expect(r.problems).toEqual([]);
    const cfg = pickConfig(r.file!, 'vm-host').config!;
    expect(cfg.devices.map((d) => d.select)).toEqual([{ address: '0000:01:00.0' }, { id: '10de:2204:1043:87b3', index: 0 }, { name: '*E810*' }, { all: true }]);
    expect(pickConfig(r.file!, 'empty').config).toEqual({ host: { iommu: false, kernelParams: [], vfioModules: false }, devices: [] });
    expect(pickConfig(r.file!, 'nope').message).toBe('no config named "nope" in the file (it has: vm-host, empty)');
  });

  it('places every problem at its line and column', () => {
    expect(at(`apiVersion: gpuvirt/v2\nkind: HostConfig\nconfigs:
  a:
    devices:
      - select: { adress: "0000:01:00.0" }
        driver: vfio
      - select: { address: "0000:02:00.0" }
        driver: vfio-pci
        sriov: { vfs: 2 }
      - select: { id: "10de" }
        sriov: { vfs: -1 }
    hots: {}
`)).toEqual([
      '1:13: error: must be "gpuvirt/v1", not the text "gpuvirt/v2"',
      '6:19: error: unknown key "adress"',
      '7:17: error: must be "vfio-pci" or "pci-stub", not the text "vfio"',
      '11:23: error: write vendor:device or vendor:device:subvendor:subdevice in hex, e.g. "10de:2204" or "10de:2204:1043:87b3"',
      '12:23: error: must be at least 0',
      '13:5: error: unknown key "hots"',
    ]);
    // the rules run once the schema passes
    expect(at(`${HEAD}  a:
    devices:
      - select: { address: "0000:02:00.0" }
        driver: vfio-pci
        sriov: { vfs: 2 }
      - select: { index: 1 }
        driver: vfio-pci
      - select: { address: "0000:03:00.0", all: true }
        sriov: { vfs: 1 }
`)).toEqual([
      '6:9: error: give driver or sriov, not both: a PF passed through whole has no VFs',
      '9:17: error: a selector needs address, id, name or all: true',
      '11:17: error: an address names one device: all and index do not go with it',
    ]);
  });

  it('warns about an address without quotes, which PyYAML (and so Ansible) reads as the number 60.0', () => {
    expect(at(`${HEAD}  a:\n    devices:\n      - select: { address: 0000:01:00.0 }\n        driver: vfio-pci\n`)).toEqual([
      '6:28: warning: write the address quoted ("0000:01:00.0"): YAML 1.1 readers such as PyYAML (Ansible) read it as a number',
    ]);
    expect(loadHostConfigText(`${HEAD}  a:\n    devices:\n      - select: { address: 0000:01:00.0 }\n        driver: vfio-pci\n`).file).not.toBeNull();
  });

  it('YAML errors and a file that is not a mapping are problems, not exceptions', () => {
    expect(at('configs: [\n')[0]).toMatch(/^2:1: error: YAML: /);
    expect(at('- 1\n')).toEqual(['1:1: error: a host configuration is a mapping (apiVersion, kind, configs), not a list']);
  });

  it('`host schema` prints the JSON Schema, which knows every key', async () => {
    const m = machine('qemu-none');
    const r = await m.run(['host', 'schema', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.data.schema).toEqual(hostConfigJsonSchema());
    const text = JSON.stringify(r.doc.data.schema);
    for (const k of ['apiVersion', 'kind', 'configs', 'select', 'driver', 'sriov', 'vfs', 'vfDriver', 'kernelParams', 'vfioModules', 'iommu']) expect(text).toContain(`"${k}"`);
  });

  it('an invalid file exits 2 with file:line:col on stderr; --json carries the problems', async () => {
    const m = machine('qemu-none');
    const f = configFile(`${HEAD}  a:\n    devices:\n      - select: { address: "0000:01:00.0" }\n        driver: nouveau\n`);
    const r = await m.run(['host', 'assert', '-f', f, '-c', 'a']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}:7:17: error: must be "vfio-pci" or "pci-stub", not the text "nouveau"`);
    const j = await m.run(['host', 'diff', '-f', f, '-c', 'a', '--json']);
    expect(j.code).toBe(2);
    expect(j.doc.data.failed).toBe(true);
    expect(j.doc.data.msg).toContain('7:17: must be "vfio-pci" or "pci-stub"');
    const unknown = await m.run(['host', 'diff', '-f', configFile(`${HEAD}  a: {}\n`), '-c', 'b', '--json']);
    expect(unknown.code).toBe(2);
    expect(unknown.doc.data.msg).toContain('no config named "b" in the file (it has: a)');
  });
});

describe('the example host configs', () => {
  it('validate without a warning, and resolve on the machines they are written for', async () => {
    const file = new URL('../../ansible/examples/hosts.yaml', import.meta.url).pathname;
    const { readFileSync } = await import('node:fs');
    const r = loadHostConfigText(readFileSync(file, 'utf8'));
    expect(r.problems).toEqual([]);
    expect(Object.keys(r.file!.configs)).toEqual(['gaming', 'vdi', 'twin', 'all-gpus']);
    const desktop = machine('intel-desktop-nvidia');
    for (const c of ['gaming', 'twin']) expect((await desktop.run(['host', 'diff', '-f', file, '-c', c, '--json'])).doc.data.problems, c).toEqual([]);
    const server = machine('server-mxgpu-sriov');
    expect((await server.run(['host', 'diff', '-f', file, '-c', 'vdi', '--json'])).doc.data.problems).toEqual([]);
  });
});
