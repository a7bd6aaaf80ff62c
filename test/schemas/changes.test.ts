// Every mutating command's --json document, in every way a change can end (planned by a dry run,
// applied, done again with nothing to do, failed and rolled back, interrupted by a signal, killed
// and then stopped by its journal, recovered, refused), and the host commands', against the JSON
// Schema `gpuvirt schema <command>` publishes. Validation is closed (helpers/json-schema.ts): a
// field the schema does not describe fails, so the output cannot drift from the contract.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { commands } from '../../src/commands/index.js';
import { dataSchemas } from '../../src/schemas/index.js';
import { linkName, type Host } from '../../src/host/host.js';
import { paths } from '../../src/host/paths.js';
import { captureIO } from '../helpers/io.js';
import { validate } from '../helpers/json-schema.js';
import { dying, type Death } from '../helpers/dying.js';
import { machine, type Machine, type RunOptions } from '../helpers/sim.js';
import { PROFILES } from '../generate/run.js';

const OK = { exitCode: 0, stdout: '', stderr: '' };
const UUID = '6f4bc7a2-2e2c-4d3f-9a2b-0c6c0a1b2c3d';
const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-change-schemas-'));
const file = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

const schemaCache = new Map<string, Record<string, unknown>>();
async function published(command: string): Promise<Record<string, unknown>> {
  if (!schemaCache.has(command)) {
    const io = captureIO();
    expect(await main(['schema', ...command.split(' ')], { io, env: {}, platform: 'linux' }), `gpuvirt schema ${command}`).toBe(0);
    schemaCache.set(command, JSON.parse(io.stdout));
  }
  return schemaCache.get(command)!;
}

/** Runs argv with --json on the machine and checks the document against its command's published schema. */
async function valid(m: Machine, argv: string[], opts: RunOptions = {}): Promise<{ code: number; doc: any }> {
  const r = await m.run([...argv, '--json'], opts);
  const doc = r.doc;
  expect(validate(await published(doc.command), doc, { closed: true }), `${argv.join(' ')} (exit ${r.code})`).toEqual([]);
  expect(doc.ok, argv.join(' ')).toBe(doc.error === undefined);
  expect(doc.ok, `${argv.join(' ')}: ok and the exit status agree`).toBe(r.code === 0);
  if (doc.error) expect(doc.error.exitCode).toBe(r.code);
  return { code: r.code, doc };
}

interface Case {
  name: string;
  fixture: string;
  argv: string[];
  programs?: Record<string, typeof OK>;
  prepare?: (m: Machine) => Promise<void>;
}

const initramfsTool = async (m: Machine) => void m.host.writeFile('/usr/sbin/update-initramfs', '', 0o755);
const yes = (m: Machine, argv: string[]) => async () => void expect((await m.run([...argv, '--yes'])).code, argv.join(' ')).toBe(0);

const HOST_CONFIG = file('hosts.yaml', `apiVersion: gpuvirt/v1
kind: HostConfig
configs:
  all-parts:
    host: { iommu: true, kernelParams: ["pcie_aspm=off"] }
    devices:
      - select: { address: "0000:c1:00.0" }
        sriov: { vfs: 2, vfDriver: vfio-pci }
      - select: { address: "0000:81:00.0" }
        driver: vfio-pci
  nothing-here:
    devices:
      - select: { address: "0000:09:00.0" }
        driver: vfio-pci
  devices:
    devices:
      - select: { address: "0000:81:00.0" }
        driver: vfio-pci
`);

const GVTG_UUID = '4b20d080-1b54-4048-85b3-a6a62d165c01';
const GVTG = file('office.yaml', `apiVersion: gpuvirt/v1
name: office
memory: 4GiB
cpu: { cores: 2 }
devices:
  - { type: mdev, parent: { address: 0000:00:02.0 }, mdevType: i915-GVTg_V5_4, uuid: ${GVTG_UUID} }
`);
const applyGvtg = async (m: Machine) => {
  m.host.writeFile('/usr/bin/mdevctl', '', 0o755);
  await yes(m, ['apply', GVTG])();
};

/** Every mutating command (and its variants), on a fixture where its change does something. */
const CASES: Case[] = [
  { name: 'passthrough', fixture: 'intel-desktop-nvidia', argv: ['passthrough', '01:00.0'] },
  { name: 'passthrough --persist', fixture: 'intel-desktop-nvidia', argv: ['passthrough', '01:00.0', '--persist'], programs: { 'update-initramfs -u -k all': OK }, prepare: initramfsTool },
  { name: 'release', fixture: 'intel-desktop-nvidia', argv: ['release', '01:00.0'], prepare: async (m) => yes(m, ['passthrough', '01:00.0'])() },
  { name: 'release of an applied profile with an mdev', fixture: 'intel-gvtg-desktop', argv: ['release', '--all'], prepare: applyGvtg },
  { name: 'sriov enable', fixture: 'server-mxgpu-sriov', argv: ['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--bind', 'vfio-pci'] },
  { name: 'sriov enable (AMD GIM)', fixture: 'server-mxgpu-sriov', argv: ['sriov', 'enable', '41:00.0', '--vfs', '8', '--persist'] },
  { name: 'sriov disable', fixture: 'server-mxgpu-sriov', argv: ['sriov', 'disable', 'c1:00.0'], prepare: async (m) => yes(m, ['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--bind', 'vfio-pci'])() },
  { name: 'mdev create', fixture: 'intel-gvtg-desktop', argv: ['mdev', 'create', '00:02.0', 'i915-GVTg_V5_4', '--uuid', UUID] },
  {
    name: 'mdev create --persist', fixture: 'intel-gvtg-desktop', argv: ['mdev', 'create', '00:02.0', 'i915-GVTg_V5_4', '--uuid', UUID, '--persist'],
    prepare: async (m) => m.host.writeFile('/usr/bin/mdevctl', '', 0o755),
  },
  { name: 'mdev remove', fixture: 'intel-gvtg-desktop', argv: ['mdev', 'remove', UUID], prepare: async (m) => yes(m, ['mdev', 'create', '00:02.0', 'i915-GVTg_V5_4', '--uuid', UUID])() },
  { name: 'vgpu create (vendor VFIO)', fixture: 'nvidia-l40s-vfio', argv: ['vgpu', 'create', '41:00.6', '--type', '1152'] },
  {
    name: 'vgpu create --persist', fixture: 'nvidia-l40s-vfio', argv: ['vgpu', 'create', '41:00.6', '--type', '1152', '--persist'],
    programs: { 'systemctl daemon-reload': OK, 'systemctl enable gpuvirt-nvidia-vgpu.service': OK, 'systemctl disable gpuvirt-nvidia-vgpu.service': OK },
  },
  { name: 'vgpu remove (vendor VFIO)', fixture: 'nvidia-l40s-vfio', argv: ['vgpu', 'remove', '41:00.4'] },
  { name: 'setup', fixture: 'iommu-off-cmdline', argv: ['setup'], programs: { 'update-grub': OK } },
  { name: 'setup --reset', fixture: 'polaris-vendor-reset', argv: ['setup', '--reset'] },
  { name: 'setup --undo', fixture: 'iommu-off-cmdline', argv: ['setup', '--undo'], programs: { 'update-grub': OK }, prepare: async (m) => yes(m, ['setup'])() },
  { name: 'singlegpu', fixture: 'intel-desktop-nvidia', argv: ['singlegpu', 'win11', '01:00.0'], prepare: async (m) => m.host.writeFile('/etc/libvirt/qemu.conf', '# stock\n') },
  {
    name: 'singlegpu --undo', fixture: 'intel-desktop-nvidia', argv: ['singlegpu', 'win11', '--undo'],
    prepare: async (m) => {
      m.host.writeFile('/etc/libvirt/qemu.conf', '# stock\n');
      await yes(m, ['singlegpu', 'win11', '01:00.0'])();
    },
  },
  { name: 'apply', fixture: 'intel-desktop-nvidia', argv: ['apply', `${PROFILES}nvidia-gaming.yaml`], programs: { 'update-initramfs -u -k all': OK }, prepare: initramfsTool },
  {
    name: 'apply --register libvirt', fixture: 'intel-desktop-nvidia', argv: ['apply', `${PROFILES}nvidia-gaming.yaml`, '--register', 'libvirt', '--no-persist'],
    programs: {
      'virsh dumpxml --inactive --security-info --domain win11-gaming': { exitCode: 1, stdout: '', stderr: "error: failed to get domain 'win11-gaming'\n" },
      'virsh define --file /var/lib/gpuvirt/vms/gaming/gaming.xml': OK, 'virsh dominfo --domain win11-gaming': OK, 'virsh undefine --nvram --domain win11-gaming': OK,
    },
    prepare: async (m) => void m.host.writeFile('/usr/bin/virsh', '', 0o755),
  },
  { name: 'host apply', fixture: 'server-mxgpu-sriov', argv: ['host', 'apply', '-f', HOST_CONFIG, '-c', 'all-parts'], programs: { 'proxmox-boot-tool refresh': OK } },
];

async function ready(c: Case): Promise<Machine> {
  const m = machine(c.fixture, c.programs ?? {}, { lenient: true });
  await c.prepare?.(m);
  return m;
}

const mutating = (steps: { kind: string }[]) => steps.flatMap((s, i) => (['write', 'exec', 'file', 'remove-file'].includes(s.kind) ? [i] : []));

describe.each(CASES)('the documents of $name match the published schema', { timeout: 120_000 }, (c) => {
  it('planned, applied, then asked again', async () => {
    const m = await ready(c);
    const dry = await valid(m, [...c.argv, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.doc.data).toMatchObject({ dryRun: true, applied: null, blocked: false, noop: false });
    expect(dry.doc.data.steps.length).toBeGreaterThan(0);
    const done = await valid(m, [...c.argv, '--yes']);
    expect(done.code).toBe(0);
    expect(done.doc.data.applied).toMatchObject({ ok: true, rollback: null });
    expect(done.doc.data.facts.length).toBeGreaterThan(0);
    // Again: nothing to do, or (a command that refuses to do it twice) its refusal or error.
    await valid(m, [...c.argv, '--yes']);
  });

  it('failed and rolled back', async () => {
    const m = await ready(c);
    const plan = (await m.run([...c.argv, '--dry-run', '--json'])).doc.data.steps;
    const death: Death = { atStep: mutating(plan).at(-1)!, after: 0, dead: false, faultOnly: true };
    const r = await valid(m, [...c.argv, '--yes'], { seams: (h, e) => dying(h, e, death) });
    expect(r.code).toBe(1);
    expect(r.doc.data.applied.ok).toBe(false);
    expect(r.doc.data.applied.steps.at(-1)).toMatchObject({ status: 'failed', error: expect.any(String) });
    expect(r.doc.data.applied.rollback.ok).toBe(true);
  });

  it('interrupted by a signal', async () => {
    const m = await ready(c);
    const plan = (await m.run([...c.argv, '--dry-run', '--json'])).doc.data.steps;
    let deliver: (s: string) => void = () => undefined;
    const death: Death = { atStep: Math.floor(plan.length / 2), after: 0, dead: false, onStep: () => deliver('SIGTERM') };
    const r = await valid(m, [...c.argv, '--yes'], { seams: (h, e) => dying(h, e, death), signals: (d) => (deliver = d) });
    expect(r.code).toBe(130);
    expect(r.doc.data.interrupted).toBe('SIGTERM');
  });

  it('killed: its own report, the next run stopped by the journal, recover planned and done', async () => {
    const m = await ready(c);
    const plan = (await m.run([...c.argv, '--dry-run', '--json'])).doc.data.steps;
    const death: Death = { atStep: mutating(plan)[0]!, after: 0, dead: false };
    // The dying run cannot undo anything: its report is a failure with an incomplete rollback.
    const dead = await valid(m, [...c.argv, '--yes'], { seams: (h, e) => dying(h, e, death) });
    expect(death.dead).toBe(true);
    expect(dead.code).not.toBe(0);
    const next = await valid(m, [...c.argv, '--yes']);
    expect(next.code).toBe(1);
    expect(next.doc.data).toBeUndefined();
    expect(next.doc.error.hint ?? next.doc.error.message).toContain('gpuvirt recover');
    const planned = await valid(m, ['recover', '--dry-run']);
    expect(planned.doc.data).toMatchObject({ found: true, dryRun: true, applied: null, run: { command: dead.doc.command } });
    const recovered = await valid(m, ['recover', '--yes']);
    expect(recovered.doc.data.applied.ok).toBe(true);
    expect((await valid(m, ['recover', '--yes'])).doc.data).toMatchObject({ found: false, run: null });
  });
});

/** Runs on the machine and checks the document; returns it with the exit status. */
const on = (m: Machine) => (argv: string[], opts?: RunOptions) => valid(m, argv, opts);

describe('refused, forced and failed-before-a-plan documents match the published schema', { timeout: 120_000 }, () => {
  it('passthrough: refused, forced past, never forced; release of a device a VM holds', async () => {
    const desk = on(machine('intel-desktop-nvidia'));
    const boot = await desk(['passthrough', '00:02.0', '--yes']);
    expect(boot.code).toBe(7);
    expect(boot.doc.data).toMatchObject({ blocked: true, applied: null, refusals: [expect.objectContaining({ code: 'boot-vga', force: expect.any(String) })] });
    const forced = await on(machine('amd-desktop-shared'))(['passthrough', '06:00.0', '--dry-run', '--force']);
    expect(forced.code).toBe(0);
    expect(forced.doc.data.blocked).toBe(false);
    expect(forced.doc.warnings.some((w: string) => w.startsWith('forced: '))).toBe(true);
    const disk = await on(machine('shared-with-boot-disk'))(['passthrough', '01:00.0', '--yes', '--force']);
    expect(disk.code).toBe(7);
    expect(disk.doc.data.refusals).toContainEqual(expect.objectContaining({ code: 'root-filesystem', force: null }));
    expect((await desk(['passthrough', '99:00.0', '--dry-run'])).code).toBe(6);

    const m = machine('intel-desktop-nvidia');
    expect((await m.run(['passthrough', '01:00.0', '--yes'])).code).toBe(0);
    const group = linkName(m.host, paths.pciAttr('0000:01:00.0', 'iommu_group'));
    mkdirSync(`${m.root}/proc/4242/fd`, { recursive: true });
    symlinkSync(`/dev/vfio/${group}`, `${m.root}/proc/4242/fd/17`);
    writeFileSync(`${m.root}/proc/4242/comm`, 'qemu-system-x86\n');
    const held = await on(m)(['release', '01:00.0', '--yes']);
    expect(held.code).toBe(7);
    expect(held.doc.data.refusals).toContainEqual(expect.objectContaining({ code: 'vfio-held', force: null }));
    expect((await on(m)(['release', '--all', '--dry-run'])).code).toBe(7);
  });

  it('sriov: refused, unsupported, busy VF, and nothing to do', async () => {
    const none = await on(machine('qemu-none'))(['sriov', 'enable', '02:00.0', '--vfs', '2', '--bind', 'vfio-pci', '--yes']);
    expect(none.code).toBe(7);
    expect(none.doc.data.blocked).toBe(true);
    const m = machine('server-mxgpu-sriov');
    const run = on(m);
    const gim = await run(['sriov', 'enable', '41:00.0', '--vfs', '3', '--dry-run']);
    expect(gim.code).toBe(5);
    expect((await run(['sriov', 'disable', 'c1:00.0', '--dry-run'])).doc.data.noop).toBe(true);
    expect((await run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--bind', 'vfio-pci', '--yes'])).code).toBe(0);
    const vf = m.drivers(['0000:c1:00.0']) && linkName(m.host, paths.pciAttr('0000:c1:01.0', 'iommu_group'));
    mkdirSync(`${m.root}/proc/4242/fd`, { recursive: true });
    symlinkSync(`/dev/vfio/${vf}`, `${m.root}/proc/4242/fd/17`);
    const busy = await run(['sriov', 'disable', 'c1:00.0', '--yes', '--force']);
    expect(busy.code).toBe(7);
    expect(busy.doc.data.after).toBeNull();
    expect((await run(['sriov', 'status', '41:02.0'])).code).toBe(5);
  });

  it('mdev records: release and mdev remove of an mdev a VM holds, status listing them', async () => {
    const m = machine('intel-gvtg-desktop');
    await applyGvtg(m);
    const status = await on(m)(['status']);
    expect(status.doc.data.mdevs).toEqual([expect.objectContaining({ uuid: GVTG_UUID, command: 'apply', profile: 'office', present: true, defined: true })]);
    const group = linkName(m.host, `${paths.mdevDevices}/${GVTG_UUID}/iommu_group`);
    mkdirSync(`${m.root}/proc/4242/fd`, { recursive: true });
    symlinkSync(`/dev/vfio/${group}`, `${m.root}/proc/4242/fd/17`);
    for (const argv of [['release', '--all', '--yes'], ['release', GVTG_UUID, '--dry-run'], ['mdev', 'remove', GVTG_UUID, '--yes']]) {
      const held = await on(m)(argv);
      expect(held.code, argv.join(' ')).toBe(7);
      expect(held.doc.data.refusals).toEqual([expect.objectContaining({ code: 'mdev-held', force: null })]);
    }
  });

  it('apply --register proxmox on a VMID that exists: refused with what --force does, and that plan', async () => {
    const m = machine('intel-desktop-nvidia', {
      'pvesh get /cluster/nextid --vmid 101': { exitCode: 2, stdout: '', stderr: 'vmid: VM 101 already exists\n' },
      'qm config 101': { ...OK, stdout: 'memory: 2048\nname: someone-elses\n' },
    }, { lenient: true });
    for (const n of ['qm', 'pvesh']) m.host.writeFile(`/usr/bin/${n}`, '', 0o755);
    const argv = ['apply', `${PROFILES}nvidia-gaming.yaml`, '--register', 'proxmox', '--no-persist'];
    const refused = await on(m)([...argv, '--yes']);
    expect(refused.code).toBe(7);
    expect(refused.doc.data.refusals).toEqual([expect.objectContaining({ code: 'proxmox-vmid-exists', force: expect.any(String) })]);
    const forced = await on(m)([...argv, '--force', '--dry-run']);
    expect(forced.code).toBe(0);
    expect(forced.doc.data.steps.some((s: { action: string }) => s.action.startsWith('run qm set 101 --name gaming'))).toBe(true);
    // A mapping id that is taken: refused even with --force (the refusal names it in its message, `address` is for PCI addresses).
    m.host.writeFile('/etc/pve/mapping/pci.cfg', 'vm101-dev0\n\tmap id=10de:2204,node=pve1,path=0000:01:00\n');
    const taken = await on(m)([...argv, '--force', '--yes']);
    expect(taken.code).toBe(7);
    expect(taken.doc.data.refusals).toContainEqual(expect.objectContaining({ code: 'proxmox-mapping-exists', force: null, message: expect.stringContaining('vm101-dev0') }));
  });

  it('apply --register libvirt on a domain that exists: refused with what --force does, and that plan', async () => {
    const m = machine('intel-desktop-nvidia', {
      'virsh dumpxml --inactive --security-info --domain win11-gaming': { ...OK, stdout: "<domain type='kvm'><name>win11-gaming</name></domain>\n" },
    }, { lenient: true });
    m.host.writeFile('/usr/bin/virsh', '', 0o755);
    const argv = ['apply', `${PROFILES}nvidia-gaming.yaml`, '--register', 'libvirt', '--no-persist'];
    const refused = await on(m)([...argv, '--yes']);
    expect(refused.code).toBe(7);
    expect(refused.doc.data.refusals).toEqual([expect.objectContaining({ code: 'libvirt-domain-exists', force: expect.any(String), message: expect.stringContaining('win11-gaming') })]);
    const forced = await on(m)([...argv, '--force', '--dry-run']);
    expect(forced.code).toBe(0);
  });

  it('mdev and vgpu: a type the parent does not offer, an unknown instance', async () => {
    const gvt = on(machine('intel-gvtg-desktop'));
    expect((await gvt(['mdev', 'create', '00:02.0', 'nvidia-999', '--yes'])).code).toBe(5);
    expect((await gvt(['mdev', 'remove', UUID, '--dry-run'])).code).not.toBe(0);
    const l40s = on(machine('nvidia-l40s-vfio'));
    expect((await l40s(['vgpu', 'create', '41:00.6', '--type', 'NVIDIA L40S-4Q', '--yes'])).code).toBe(5);
    expect((await l40s(['vgpu', 'remove', '41:00.6', '--dry-run'])).doc.data?.noop ?? true).toBe(true);
    const t4 = machine('nvidia-t4-mdev');
    const types = (await t4.run(['vgpu', 'types', '--json'])).doc.data.devices[0];
    const mdevVgpu = await on(t4)(['vgpu', 'create', types.address, '--type', types.types[0].id, '--uuid', UUID, '--yes']);
    expect(mdevVgpu.code).toBe(0);
    expect(mdevVgpu.doc.data).toMatchObject({ mechanism: 'mdev', uuid: UUID });
    expect((await on(t4)(['vgpu', 'remove', UUID, '--yes'])).doc.data).toMatchObject({ mechanism: 'mdev', action: 'remove' });
  });

  it('setup: a boot parameter refused, the undo of edits made since, nothing to undo', async () => {
    const m = machine('iommu-off-cmdline', { 'update-grub': OK }, { lenient: true });
    const run = on(m);
    const root = await run(['setup', '--remove-param', 'root', '--dry-run']);
    expect(root.code).toBe(7);
    expect(root.doc.data.refusals).toContainEqual(expect.objectContaining({ code: 'boot-param' }));
    expect((await run(['setup', '--undo', '--dry-run'])).code).toBe(1);
    expect((await run(['setup', '--vfio-modules', '--param', 'iommu=pt', '--yes'])).code).toBe(0);
    m.host.writeFile('/etc/default/grub', `${m.host.readText('/etc/default/grub')}# my own edit\n`);
    expect((await run(['setup', '--undo', '--yes'])).code).toBe(7);
    const noIommu = await on(machine('iommu-off-firmware', {}, { lenient: true }))(['setup', '--dry-run']);
    expect(noIommu.doc.data.cannot?.length ?? 0).toBeGreaterThan(0);
  });

  it('singlegpu: no libvirt, and a hook gpuvirt did not write', async () => {
    const m = machine('intel-desktop-nvidia');
    const run = on(m);
    expect((await run(['singlegpu', 'win11', '01:00.0', '--yes'])).doc.data.refusals).toEqual([expect.objectContaining({ code: 'no-libvirt' })]);
    m.host.writeFile('/etc/libvirt/hooks/qemu.d/gpuvirt-singlegpu-mine', '#!/bin/sh\necho my own hook\n');
    expect((await run(['singlegpu', 'mine', '--undo', '--yes'])).code).toBe(7);
  });

  it('apply: an invalid profile is its own document, with the plan empty', async () => {
    const bad = file('bad.yaml', 'apiVersion: gpuvirt/v1\nkind: VmProfile\nname: x\n');
    const r = await on(machine('intel-desktop-nvidia'))(['apply', bad, '--dry-run']);
    expect(r.code).toBe(2);
    expect(r.doc.data.profile.valid).toBe(false);
    expect(r.doc.data.steps).toEqual([]);
  });

  it('a rollback that cannot finish, then recover of it', async () => {
    const m = machine('intel-desktop-nvidia');
    // After the first device is probed, the kernel refuses every probe and bind: the second
    // device fails, and the first cannot go back to its driver.
    let probes = 0;
    const refusing = (host: Host): Host => new Proxy(host, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop !== 'writeAttr') return typeof value === 'function' ? value.bind(target) : value;
        return (path: string, v: string) => {
          if ((path.endsWith('/drivers_probe') && probes++ > 0) || (probes > 0 && path.endsWith('/bind'))) throw Object.assign(new Error('refused'), { code: 'EIO' });
          return value.call(target, path, v);
        };
      },
    });
    const r = await valid(m, ['passthrough', '01:00.0', '--yes'], { seams: (h, e) => ({ host: refusing(h), exec: e }) });
    expect(r.code).toBe(1);
    expect(r.doc.data.applied.rollback.ok).toBe(false);
    expect(r.doc.data.applied.steps.at(-1)).toMatchObject({ status: 'failed', errno: 'EIO' });
    const planned = await valid(m, ['recover', '--dry-run']);
    expect(planned.doc.data.run.rollbackIncomplete).toBe(true);
    // What had started is still undone by recover: the journal written again keeps its progress.
    expect(planned.doc.data.undo).toEqual(expect.arrayContaining([expect.stringContaining('0000:01:00.0 back on nvidia')]));
    expect((await valid(m, ['recover', '--yes'])).doc.data.applied.ok).toBe(true);
  });

  it('another run holds the lock: an error document', async () => {
    const m = machine('intel-desktop-nvidia');
    m.host.mkdirp('/run');
    const { acquireLock } = await import('../../src/change/lock.js');
    const held = await acquireLock(m.host, 'test', 4242);
    try {
      expect((await on(m)(['passthrough', '01:00.0', '--yes'])).code).toBe(8);
    } finally {
      held.release();
    }
  });
});

describe('host config documents match the published schema', { timeout: 120_000 }, () => {
  it('diff, assert, apply (refused, invalid, unknown config), export, schema', async () => {
    const m = machine('server-mxgpu-sriov', { 'proxmox-boot-tool refresh': OK }, { lenient: true });
    const run = on(m);
    const f = ['-f', HOST_CONFIG];
    const diff = await run(['host', 'diff', ...f, '-c', 'all-parts']);
    expect(diff.code).toBe(0);
    expect(diff.doc.data).toMatchObject({ changed: true, configFound: true });
    expect(diff.doc.data.differences.length).toBeGreaterThan(0);
    expect((await run(['host', 'assert', ...f, '-c', 'all-parts'])).code).toBe(1);
    const refused = await run(['host', 'apply', ...f, '-c', 'nothing-here', '--yes']);
    expect(refused.code).toBe(7);
    expect(refused.doc.data).toMatchObject({ blocked: true, failed: true, configFound: true });
    expect((await run(['host', 'diff', ...f, '-c', 'nothing-here'])).code).toBe(1);
    const unknown = await run(['host', 'apply', ...f, '-c', 'no-such-config', '--dry-run']);
    expect(unknown.code).toBe(2);
    expect(unknown.doc.data).toMatchObject({ configFound: false });
    expect(unknown.doc.data.steps).toBeUndefined();
    const invalid = file('invalid.yaml', 'apiVersion: gpuvirt/v1\nkind: HostConfig\nconfigs: 3\n');
    for (const cmd of ['diff', 'assert', 'apply']) {
      const r = await run(['host', cmd, '-f', invalid, '-c', 'x']);
      expect(r.code).toBe(2);
      expect(r.doc.data.validation.valid).toBe(false);
    }
    expect((await run(['host', 'apply', ...f, '-c', 'all-parts', '--yes'])).doc.data).toMatchObject({ changed: true, reboot_required: true });
    const exported = await run(['host', 'export', '-c', 'now']);
    expect(exported.doc.data.text).toContain('kind: HostConfig');
    const asserted = await run(['host', 'assert', '-f', file('exported.yaml', exported.doc.data.text), '-c', 'now']);
    expect(asserted.doc.data.failed).toBe(asserted.doc.data.reboot_required);
    expect((await run(['host', 'schema'])).doc.data.schema.$schema).toBeDefined();
  });
});

describe('what a host offers: export targets and NFD labels match the published schema', { timeout: 120_000 }, () => {
  it('host export --target kubevirt|nova|proxmox-mappings; host labels --stdout, --dry-run, written, again, refused', async () => {
    for (const fixture of ['nvidia-l40s-vfio', 'nvidia-t4-mdev', 'intel-adl-i915-sriov']) {
      const run = on(machine(fixture));
      for (const target of ['kubevirt', 'nova', 'proxmox-mappings']) expect((await run(['host', 'export', '--target', target, '--node', 'n1'])).code).toBe(0);
      expect((await run(['host', 'export', '--target', 'proxmox-mappings', '--node', 'n1', '--artifact', 'mapping'])).doc.data.proxmox.artifact).toBe('mapping');
    }
    const m = machine('intel-desktop-nvidia');
    const run = on(m);
    expect((await run(['host', 'export', '--target', 'proxmox-mappings'])).code).toBe(2);
    expect((await run(['host', 'labels', '--stdout'])).doc.data.out).toBeNull();
    expect((await run(['host', 'labels', '--dry-run'])).doc.data.dryRun).toBe(true);
    expect((await run(['host', 'labels', '--yes', '-f', HOST_CONFIG, '-c', 'all-parts'])).doc.data.hostConfig).toEqual({ name: 'all-parts', asserted: false });
    expect((await run(['host', 'labels', '--yes', '-f', HOST_CONFIG, '-c', 'all-parts'])).doc.data.noop).toBe(true);
    expect((await run(['host', 'labels', '--namespace', 'kubernetes.io'])).code).toBe(2);
  });
});

describe('the boot-time apply\'s documents match the published schema', { timeout: 120_000 }, () => {
  it('apply --persist, --wait-ready (ready, and giving up), --boot with a reboot due, unpersist', async () => {
    const m = machine('server-mxgpu-sriov', { 'proxmox-boot-tool refresh': OK }, { lenient: true });
    const f = ['-f', HOST_CONFIG];
    const sleep = async () => undefined;
    const persisted = await valid(m, ['host', 'apply', ...f, '-c', 'devices', '--persist', '--wait-ready', '5', '--yes'], { sleep });
    expect(persisted.doc.data).toMatchObject({ changed: true, persisted: { config: 'devices' }, ready: { ready: true } });
    const gaveUp = await valid(m, ['host', 'apply', ...f, '-c', 'nothing-here', '--wait-ready', '2', '--yes'], { sleep });
    expect(gaveUp.code).toBe(9);
    expect(gaveUp.doc.data.ready).toMatchObject({ ready: false, polls: 3 });
    const boot = await valid(m, ['host', 'apply', '--boot', ...f, '-c', 'all-parts']);
    expect(boot.code).toBe(10);
    expect(boot.doc.data).toMatchObject({ changed: true, reboot_required: true });
    expect((await valid(m, ['status'])).doc.data.hostConfig).toMatchObject({ config: 'devices', enabled: true });
    // The unit (disable, remove, reload), the record, and the early files generated from it.
    expect((await valid(m, ['host', 'unpersist', '--dry-run'])).doc.data.steps.map((s: { title: string }) => s.title)).toEqual([
      'stop applying a host config at boot (disable gpuvirt-host.service)', 'remove /etc/systemd/system/gpuvirt-host.service', 'reload systemd units', 'remove /etc/gpuvirt/host.yaml',
      'remove /etc/udev/rules.d/41-gpuvirt-passthrough.rules', 'remove /etc/modprobe.d/gpuvirt-passthrough.conf',
    ]);
    expect((await valid(m, ['host', 'unpersist', '--yes'])).doc.data).toMatchObject({ config: 'devices', noop: false });
    expect((await valid(m, ['host', 'unpersist', '--yes'])).doc.data).toMatchObject({ config: null, noop: true });
  });
});

describe('the schemas cover every command', () => {
  it('every registered command has a published schema, and each is valid JSON Schema the validator knows', async () => {
    const names = commands.map((c) => c.name).sort();
    expect(names.filter((n) => !(n in dataSchemas))).toEqual([]);
    for (const n of names) expect((await published(n)).title).toBe(`gpuvirt ${n} --json document`);
  });

  it('a field the change schema does not describe, or a step of a kind it does not know, fails validation', async () => {
    const m = machine('intel-desktop-nvidia');
    const { doc } = await valid(m, ['passthrough', '01:00.0', '--dry-run']);
    const schema = await published('passthrough');
    expect(validate(schema, { ...doc, data: { ...doc.data, reboot: true } }, { closed: true }).join()).toContain('reboot is not in the schema');
    const steps = [{ ...doc.data.steps[0], kind: 'reboot' }];
    expect(validate(schema, { ...doc, data: { ...doc.data, steps } }, { closed: true })).not.toEqual([]);
    const undo = [{ ...doc.data.steps[0], undo: [{ kind: 'restore-devices', devices: [{ address: '0000:01:00.0' }] }] }];
    expect(validate(schema, { ...doc, data: { ...doc.data, steps: undo } }, { closed: true }).join()).toContain('missing want');
    const { facts: _f, ...noFacts } = doc.data;
    expect(validate(schema, { ...doc, data: noFacts }, { closed: true }).join()).toContain('missing facts');
  });
});
