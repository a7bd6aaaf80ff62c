// The Ansible collection with Debian's ansible-core: a playbook on localhost drives gpuvirt
// against a simulated host tree (GPUVIRT_ROOT + GPUVIRT_SIMULATE=1). Check mode with --diff shows
// the diff and changes nothing; a run applies; a second run reports changed: false; a config
// gpuvirt refuses ends failed: true with gpuvirt's message. In CI (CI=true) a missing
// ansible-playbook fails; elsewhere the test is skipped, saying what to install.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/sim.js';
import { treeDiff, treeState } from '../helpers/tree-state.js';
import { inCI, missing } from '../generate/tools.js';

const REPO = new URL('../../', import.meta.url).pathname;
const BIN = join(REPO, 'bin/gpuvirt');
const COLLECTIONS = join(REPO, 'ansible/collections');
const FACT = join(COLLECTIONS, 'ansible_collections/gpuvirt/host/files/gpuvirt.fact');
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const ready = has('ansible-playbook') && existsSync(join(REPO, 'dist/gpuvirt.cjs'));
const need = missing('ansible-playbook (and a built dist/)', 'ansible-core');

const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-ansible-'));
const CONFIG = join(dir, 'hosts.yaml');
writeFileSync(CONFIG, `apiVersion: gpuvirt/v1
kind: HostConfig
configs:
  vdi:
    devices:
      - select: { address: "0000:c1:00.0" }
        sriov: { vfs: 2, vfDriver: vfio-pci }
      - select: { address: "0000:81:00.0" }
        driver: vfio-pci
  missing:
    devices:
      - select: { address: "0000:09:00.0" }
        driver: vfio-pci
`);

interface TaskResult { changed: boolean; failed?: boolean; msg: string; diff?: { before: any; after: any }; reboot_required?: boolean }

function playbook(root: string, config: string, flags: string[] = [], more = ''): { code: number; result: TaskResult; raw: string } {
  const book = join(dir, `play-${config}${more ? '-more' : ''}.yml`);
  writeFileSync(book, `- hosts: localhost
  connection: local
  gather_facts: false
  environment: { GPUVIRT_ROOT: "${root}", GPUVIRT_SIMULATE: "1" }
  tasks:
    - gpuvirt.host.gpuvirt_host: { file: "${CONFIG}", config: ${config}, executable: "${BIN}"${more} }
`);
  const r = spawnSync('ansible-playbook', ['-i', 'localhost,', '-e', 'ansible_python_interpreter=/usr/bin/python3', ...flags, book], {
    encoding: 'utf8', timeout: 120_000,
    env: { ...process.env, ANSIBLE_COLLECTIONS_PATH: COLLECTIONS, ANSIBLE_STDOUT_CALLBACK: 'json', ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCAL_TEMP: join(dir, 'tmp'), ANSIBLE_HOME: join(dir, 'home') },
  });
  let doc: any;
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    throw new Error(`ansible-playbook printed no JSON (exit ${r.status}): ${r.stdout}\n${r.stderr}`);
  }
  return { code: r.status ?? -1, result: doc.plays[0].tasks[0].hosts.localhost, raw: r.stdout };
}

function simulatedHost(): string {
  const root = join(mkdtempSync(join(dir, 'host-')), 'root');
  cpSync(join(FIXTURES, 'server-mxgpu-sriov'), root, { recursive: true, verbatimSymlinks: true });
  return root;
}

describe.skipIf(!ready && !inCI)(`the gpuvirt.host collection under ansible-playbook${ready ? '' : ` (skipped: ${need})`}`, { timeout: 300_000 }, () => {
  it('is installed in CI', () => expect(ready, need).toBe(true));

  it('--check --diff shows the diff and changes nothing; a run applies; the second run is changed: false', () => {
    const root = simulatedHost();
    const before = treeState(root);
    const check = playbook(root, 'vdi', ['--check', '--diff']);
    expect(check.code, check.raw).toBe(0);
    expect(check.result.changed).toBe(true);
    expect(check.result.diff).toEqual({
      before: { host: {}, devices: { '0000:81:00.0': { driver: null }, '0000:c1:00.0': { vfs: 0, vfDriver: null } } },
      after: { host: {}, devices: { '0000:81:00.0': { driver: 'vfio-pci' }, '0000:c1:00.0': { vfs: 2, vfDriver: 'vfio-pci' } } },
    });
    expect(treeDiff(before, treeState(root))).toEqual([]);
    const apply = playbook(root, 'vdi');
    expect(apply.code, apply.raw).toBe(0);
    expect(apply.result).toMatchObject({ changed: true, reboot_required: false, msg: expect.stringMatching(/^applied config vdi/) });
    expect(treeDiff(before, treeState(root)).length).toBeGreaterThan(0);
    const again = playbook(root, 'vdi');
    expect(again.code, again.raw).toBe(0);
    expect(again.result).toMatchObject({ changed: false, msg: 'the host already matches config vdi' });
  });

  it('persist: true also records the config for the boot unit; the second run is changed: false', () => {
    const root = simulatedHost();
    const apply = playbook(root, 'vdi', [], ', persist: true');
    expect(apply.code, apply.raw).toBe(0);
    expect(apply.result).toMatchObject({ changed: true, msg: expect.stringContaining('applied again at every boot (gpuvirt-host.service)') });
    expect(readFileSync(join(root, 'etc/gpuvirt/host.yaml'), 'utf8')).toBe(readFileSync(CONFIG, 'utf8'));
    expect(readFileSync(join(root, 'etc/systemd/system/gpuvirt-host.service'), 'utf8')).toContain(' -c vdi ');
    expect(existsSync(join(root, 'etc/systemd/system/multi-user.target.wants/gpuvirt-host.service'))).toBe(true);
    // The early file generated from the record claims the passthrough GPU before its host driver.
    expect(readFileSync(join(root, 'etc/udev/rules.d/41-gpuvirt-passthrough.rules'), 'utf8')).toContain('KERNEL=="0000:81:00.0", ATTR{driver_override}="vfio-pci"');
    const again = playbook(root, 'vdi', [], ', persist: true');
    expect(again.result).toMatchObject({ changed: false });
  });

  it('ansible-doc reads the module\'s documentation, and ansible-galaxy builds the collection', () => {
    const env = { ...process.env, ANSIBLE_COLLECTIONS_PATH: COLLECTIONS, ANSIBLE_HOME: join(dir, 'home') };
    const doc = spawnSync('ansible-doc', ['--json', 'gpuvirt.host.gpuvirt_host'], { encoding: 'utf8', env, timeout: 60_000 });
    expect(doc.status, doc.stderr).toBe(0);
    expect(Object.keys(JSON.parse(doc.stdout)['gpuvirt.host.gpuvirt_host'].doc.options).sort()).toEqual(['config', 'executable', 'file', 'force', 'persist', 'root']);
    const build = spawnSync('ansible-galaxy', ['collection', 'build', join(COLLECTIONS, 'ansible_collections/gpuvirt/host'), '--output-path', join(dir, 'galaxy')], { encoding: 'utf8', env, timeout: 60_000 });
    expect(build.status, build.stderr).toBe(0);
    expect(existsSync(join(dir, 'galaxy/gpuvirt-host-0.1.0.tar.gz'))).toBe(true);
  });

  it('a config gpuvirt refuses fails the task with gpuvirt\'s message', () => {
    const root = simulatedHost();
    const r = playbook(root, 'missing');
    expect(r.code).not.toBe(0);
    expect(r.result).toMatchObject({ failed: true, changed: false, msg: 'refused: devices[0]: no device on this host matches address "0000:09:00.0"' });
    const check = playbook(root, 'missing', ['--check']);
    expect(check.code).not.toBe(0);
    expect(check.result).toMatchObject({ failed: true, msg: 'config missing cannot be applied here: devices[0]: no device on this host matches address "0000:09:00.0"' });
  });

  it('the facts script prints doctor\'s JSON and exits 0 even when a check fails', () => {
    const path = mkdtempSync(join(dir, 'path-'));
    writeFileSync(join(path, 'gpuvirt'), `#!/bin/sh\nexec "${BIN}" "$@"\n`, { mode: 0o755 });
    const r = spawnSync(FACT, [], { encoding: 'utf8', env: { PATH: `${path}:${process.env.PATH ?? ''}`, GPUVIRT_ROOT: join(FIXTURES, 'iommu-off-cmdline') } });
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ command: 'doctor', ok: false });
    expect(doc.data.checks.map((c: { id: string }) => c.id)).toContain('iommu.enabled');
    const without = spawnSync(FACT, [], { encoding: 'utf8', env: { PATH: '/nonexistent' } });
    expect(without.status).toBe(0);
    expect(JSON.parse(without.stdout).error.code).toBe('E_NO_GPUVIRT');
  });
});
