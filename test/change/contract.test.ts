// The change engine's contract, over every mutating command on its fixtures: the plan --dry-run
// prints is what is applied; on a terminal the whole plan is on the screen before the question;
// a failure at any step, a kill at any step (then `recover`), Ctrl-C at the question or during
// apply all leave the host byte-identical to before; two runs at once: one is refused with 8.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { machine, type Machine } from '../helpers/sim.js';
import { dying, type Death } from '../helpers/dying.js';
import { hostFacts, treeDiff, treeState as tree } from '../helpers/tree-state.js';
import { acquireLock } from '../../src/change/lock.js';
import { PROFILES } from '../generate/run.js';
import { seedRecordedMig } from '../helpers/recorded-exec.js';
import { MIG_MODE_ARGV, MIG_XML_ARGV } from '../../src/sharing/mig.js';

const OK = { exitCode: 0, stdout: '', stderr: '' };

interface Case {
  name: string;
  fixture: string;
  argv: string[];
  programs?: Record<string, typeof OK>;
  /** How "as before" is judged: the whole tree byte for byte, or (where the kernel re-creates devices) what a user can tell apart. */
  compare?: 'tree' | 'facts';
  /** Brings the machine to where the command makes sense (runs before the "before" snapshot). */
  prepare?: (m: Machine) => Promise<void>;
}

const recordedMig = async (m: Machine) => seedRecordedMig(m.host, 'nvidia-h100-mig');
const initramfsTool = async (m: Machine) => void m.host.writeFile('/usr/sbin/update-initramfs', '', 0o755);

// A GVT-g profile: apply creates its mdev and defines it with mdevctl; release removes and undefines it.
const GVTG = join(mkdtempSync(join(tmpdir(), 'gpuvirt-contract-')), 'office.yaml');
writeFileSync(GVTG, `apiVersion: gpuvirt/v1
name: office
memory: 4GiB
cpu: { cores: 2 }
devices:
  - { type: mdev, parent: { address: 0000:00:02.0 }, mdevType: i915-GVTg_V5_4, uuid: 4b20d080-1b54-4048-85b3-a6a62d165c01 }
`);
const mdevctlTool = async (m: Machine) => void m.host.writeFile('/usr/bin/mdevctl', '', 0o755);

const CASES: Case[] = [
  { name: 'passthrough', fixture: 'intel-desktop-nvidia', argv: ['passthrough', '01:00.0'] },
  { name: 'passthrough --persist', fixture: 'intel-desktop-nvidia', argv: ['passthrough', '01:00.0', '--persist'], programs: { 'update-initramfs -u -k all': OK }, prepare: initramfsTool },
  {
    name: 'release', fixture: 'intel-desktop-nvidia', argv: ['release', '01:00.0'],
    prepare: async (m) => void expect((await m.run(['passthrough', '01:00.0', '--yes'])).code).toBe(0),
  },
  { name: 'sriov enable', fixture: 'server-mxgpu-sriov', argv: ['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--bind', 'vfio-pci'] },
  {
    name: 'sriov enable 2→4', fixture: 'server-mxgpu-sriov', argv: ['sriov', 'enable', 'c1:00.0', '--vfs', '4'],
    prepare: async (m) => void expect((await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--yes'])).code).toBe(0),
  },
  {
    name: 'sriov disable', fixture: 'server-mxgpu-sriov', argv: ['sriov', 'disable', 'c1:00.0'],
    prepare: async (m) => void expect((await m.run(['sriov', 'enable', 'c1:00.0', '--vfs', '2', '--bind', 'vfio-pci', '--yes'])).code).toBe(0),
  },
  // Reloading GIM re-creates the VF devices: the kernel's objects are new, their state must be as before.
  { name: 'sriov enable (AMD GIM: reload with vf_num)', fixture: 'server-mxgpu-sriov', argv: ['sriov', 'enable', '41:00.0', '--vfs', '8', '--persist'], compare: 'facts' },
  { name: 'sriov disable (AMD GIM: unload)', fixture: 'server-mxgpu-sriov', argv: ['sriov', 'disable', '41:00.0'], compare: 'facts' },
  { name: 'mdev create', fixture: 'intel-gvtg-desktop', argv: ['mdev', 'create', '00:02.0', 'i915-GVTg_V5_4', '--uuid', '6f4bc7a2-2e2c-4d3f-9a2b-0c6c0a1b2c3d'] },
  {
    name: 'mdev create --persist (mdevctl)', fixture: 'intel-gvtg-desktop', argv: ['mdev', 'create', '00:02.0', 'i915-GVTg_V5_4', '--uuid', '6f4bc7a2-2e2c-4d3f-9a2b-0c6c0a1b2c3d', '--persist'],
    prepare: async (m) => void m.host.writeFile('/usr/bin/mdevctl', '', 0o755),
  },
  {
    name: 'mdev remove (mdevctl)', fixture: 'intel-gvtg-desktop', argv: ['mdev', 'remove', '6f4bc7a2-2e2c-4d3f-9a2b-0c6c0a1b2c3d'],
    prepare: async (m) => {
      m.host.writeFile('/usr/bin/mdevctl', '', 0o755);
      expect((await m.run(['mdev', 'create', '00:02.0', 'i915-GVTg_V5_4', '--uuid', '6f4bc7a2-2e2c-4d3f-9a2b-0c6c0a1b2c3d', '--persist', '--yes'])).code).toBe(0);
    },
  },
  {
    name: 'mdev remove', fixture: 'intel-gvtg-desktop', argv: ['mdev', 'remove', '6f4bc7a2-2e2c-4d3f-9a2b-0c6c0a1b2c3d'],
    prepare: async (m) => void expect((await m.run(['mdev', 'create', '00:02.0', 'i915-GVTg_V5_4', '--uuid', '6f4bc7a2-2e2c-4d3f-9a2b-0c6c0a1b2c3d', '--yes'])).code).toBe(0),
  },
  { name: 'apply (an mdev, defined with mdevctl, recorded)', fixture: 'intel-gvtg-desktop', argv: ['apply', GVTG], prepare: mdevctlTool },
  {
    name: 'release of an applied profile with an mdev (mdevctl)', fixture: 'intel-gvtg-desktop', argv: ['release', '--all'],
    prepare: async (m) => {
      await mdevctlTool(m);
      expect((await m.run(['apply', GVTG, '--yes'])).code).toBe(0);
    },
  },
  { name: 'setup', fixture: 'iommu-off-cmdline', argv: ['setup'], programs: { 'update-grub': OK } },
  {
    name: 'setup --undo', fixture: 'iommu-off-cmdline', argv: ['setup', '--undo'], programs: { 'update-grub': OK },
    prepare: async (m) => void expect((await m.run(['setup', '--yes'])).code).toBe(0),
  },
  { name: 'vgpu create (vendor VFIO, free VF)', fixture: 'nvidia-l40s-vfio', argv: ['vgpu', 'create', '41:00.6', '--type', '1152'] },
  {
    name: 'vgpu create (vendor VFIO, replacing a type)', fixture: 'nvidia-l40s-vfio', argv: ['vgpu', 'create', '41:00.4', '--type', '1150'],
    prepare: async (m) => void expect((await m.run(['vgpu', 'remove', '41:00.5', '--yes'])).code).toBe(0),
  },
  { name: 'vgpu remove (vendor VFIO)', fixture: 'nvidia-l40s-vfio', argv: ['vgpu', 'remove', '41:00.4'] },
  {
    name: 'vgpu create --persist', fixture: 'nvidia-l40s-vfio', argv: ['vgpu', 'create', '41:00.6', '--type', '1152', '--persist'],
    programs: { 'systemctl daemon-reload': OK, 'systemctl enable gpuvirt-nvidia-vgpu.service': OK, 'systemctl disable gpuvirt-nvidia-vgpu.service': OK },
  },
  { name: 'setup --reset', fixture: 'polaris-vendor-reset', argv: ['setup', '--reset'] },
  {
    name: 'setup --undo of --reset', fixture: 'polaris-vendor-reset', argv: ['setup', '--undo'],
    prepare: async (m) => void expect((await m.run(['setup', '--reset', '--yes'])).code).toBe(0),
  },
  { name: 'singlegpu', fixture: 'intel-desktop-nvidia', argv: ['singlegpu', 'win11', '01:00.0'], prepare: async (m) => m.host.writeFile('/etc/libvirt/qemu.conf', '# stock\n') },
  { name: 'apply', fixture: 'intel-desktop-nvidia', argv: ['apply', `${PROFILES}nvidia-gaming.yaml`], programs: { 'update-initramfs -u -k all': OK }, prepare: initramfsTool },
  { name: 'host labels (new file)', fixture: 'nvidia-l40s-vfio', argv: ['host', 'labels'] },
  {
    name: 'host labels (replacing the file)', fixture: 'nvidia-t4-mdev', argv: ['host', 'labels'],
    prepare: async (m) => m.host.writeFile('/etc/kubernetes/node-feature-discovery/features.d/gpuvirt', 'gpuvirt.io/old=true\n'),
  },
  { name: 'sriov enable --vf-profile (xe sriov_admin)', fixture: 'intel-xe-sriov-admin', argv: ['sriov', 'enable', '03:00.0', '--vfs', '2', '--vf-profile', 'exec_quantum_ms=10,preempt_timeout_us=20000'] },
  // MIG state lives in the simulator's sidecar, outside the compared tree: vgpu-mig.test.ts checks the layout itself.
  { name: 'vgpu mig create', fixture: 'nvidia-h100-mig', argv: ['vgpu', 'mig', 'create', '41:00.0', '--profile', '1g.10gb'], prepare: recordedMig },
  { name: 'vgpu create (MIG-backed)', fixture: 'nvidia-h100-mig', argv: ['vgpu', 'create', '41:00.0', '--type', 'H100-1-10C'], prepare: recordedMig },
  {
    // virsh's side is a double here (test/profiles/register*.test.ts has the real one): the host's files must come back.
    name: 'apply --register libvirt', fixture: 'intel-desktop-nvidia', argv: ['apply', `${PROFILES}nvidia-gaming.yaml`, '--register', 'libvirt', '--no-persist'],
    programs: {
      'virsh dumpxml --inactive --security-info --domain win11-gaming': { exitCode: 1, stdout: '', stderr: "error: failed to get domain 'win11-gaming'\n" },
      'virsh define --file /var/lib/gpuvirt/vms/gaming/gaming.xml': OK, 'virsh dominfo --domain win11-gaming': OK, 'virsh undefine --nvram --domain win11-gaming': OK,
    },
    prepare: async (m) => void m.host.writeFile('/usr/bin/virsh', '', 0o755),
  },
];

async function ready(c: Case): Promise<Machine> {
  const m = machine(c.fixture, c.programs ?? {}, { lenient: true });
  await c.prepare?.(m);
  m.host.clearWrites();
  m.testExec.calls.length = 0;
  return m;
}

async function planOf(c: Case): Promise<{ kind: string; title: string; path?: string; value?: string; argv?: string[]; content?: string }[]> {
  const m = await ready(c);
  const r = await m.run([...c.argv, '--dry-run', '--json']);
  expect(r.code, r.stdout).toBe(0);
  expect(r.doc.data.steps.length, `${c.name} plans something`).toBeGreaterThan(0);
  return r.doc.data.steps;
}

/** The indexes of steps that change the host (a fault or a kill can land in them). */
const mutating = (plan: { kind: string }[]) => plan.flatMap((s, i) => (['write', 'exec', 'file', 'remove-file'].includes(s.kind) ? [i] : []));

describe.each(CASES)('change contract: $name', { timeout: 180_000 }, (c) => {
  const treeState = (root: string) => (c.compare === 'facts' ? hostFacts(root) : tree(root));
  it('applies exactly the plan --dry-run printed', async () => {
    const plan = await planOf(c);
    const m = await ready(c);
    const r = await m.run([...c.argv, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(m.host.writes.map((w) => [w.path, w.value])).toEqual(plan.filter((s) => s.kind === 'write').map((s) => [s.path, s.value]));
    // nvidia-smi's queries only read (MIG state has no sysfs), and so do the programs a plan runs while it is
    // made (--dry-run runs them too): after those, every program run is a step of the plan.
    const reads = new Set([MIG_MODE_ARGV, MIG_XML_ARGV].map((a) => a.join(' ')));
    const steps = (calls: string[][]) => calls.filter((a) => !reads.has(a.join(' ')));
    const dry = await ready(c);
    await dry.run([...c.argv, '--dry-run', '--json']);
    expect(steps(m.testExec.calls)).toEqual([...steps(dry.testExec.calls), ...plan.filter((s) => s.kind === 'exec').map((s) => s.argv)]);
    for (const s of plan.filter((x) => x.kind === 'file')) expect(m.host.readText(s.path!), s.path).toBe(s.content);
    expect((await m.run(['recover', '--dry-run', '--json'])).doc.data.found).toBe(false);
  });

  it('shows the whole plan on the terminal before it asks; "no" and Ctrl-C change nothing', async () => {
    const plan = await planOf(c);
    const m = await ready(c);
    const before = treeState(m.root);
    let screen = '';
    const no = await m.run(c.argv, { tty: true, answer: (s) => ((screen = s), false) });
    expect(no.code).toBe(130);
    for (const s of plan) expect(screen, `step "${s.title}" on the screen before the question`).toContain(s.title);
    const ctrlC = await m.run(c.argv, { tty: true, answer: () => { throw new Error('User force closed the prompt with SIGINT'); } });
    expect(ctrlC.code).toBe(130);
    expect(ctrlC.stderr).toContain('cancelled');
    expect(treeDiff(before, treeState(m.root))).toEqual([]);
  });

  it('a failure at any step that changes the host is undone: the host is byte-identical to before', async () => {
    const plan = await planOf(c);
    for (const i of mutating(plan)) {
      const m = await ready(c);
      const before = treeState(m.root);
      const death: Death = { atStep: i, after: 0, dead: false, faultOnly: true };
      const r = await m.run([...c.argv, '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
      expect(death.faulted, `step ${i} was reached`).toBe(true);
      expect(r.code, `failure at step ${i} (${plan[i]!.title})`).toBe(1);
      expect(r.doc.data.applied.rollback.ok, `rollback after step ${i}: ${JSON.stringify(r.doc.data.applied.rollback)}`).toBe(true);
      expect(treeDiff(before, treeState(m.root)), `host after a failure at step ${i} (${plan[i]!.title})`).toEqual([]);
    }
  });

  it('a kill at any step is found by the next run and undone by `recover`', async () => {
    const plan = await planOf(c);
    for (const i of mutating(plan)) {
      for (const after of [0, 1]) {
        const m = await ready(c);
        const before = treeState(m.root);
        const death: Death = { atStep: i, after, dead: false };
        await m.run([...c.argv, '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
        if (!death.dead) continue; // the step made fewer changes than `after`: nothing more to kill
        const next = await m.run([...c.argv, '--yes']);
        expect(next.code, `the run after a kill at step ${i}`).toBe(1);
        expect(next.stderr).toContain('gpuvirt recover');
        const r = await m.run(['recover', '--yes', '--json']);
        expect(r.code, `recover after a kill at step ${i}+${after}: ${JSON.stringify(r.doc)}`).toBe(0);
        expect(treeDiff(before, treeState(m.root)), `host after a kill at step ${i}+${after} (${plan[i]!.title}) and recover`).toEqual([]);
      }
    }
  });

  it('SIGINT during apply finishes the step in flight, undoes the change, and exits 130', async () => {
    const plan = await planOf(c);
    const at = Math.floor(plan.length / 2);
    const m = await ready(c);
    const before = treeState(m.root);
    let deliver: (s: string) => void = () => undefined;
    const death: Death = { atStep: at, after: 0, dead: false, onStep: () => deliver('SIGINT') };
    const r = await m.run([...c.argv, '--yes', '--json'], { seams: (h, e) => dying(h, e, death), signals: (d) => (deliver = d) });
    expect(r.code).toBe(130);
    expect(r.doc.data.interrupted).toBe('SIGINT');
    expect(r.doc.data.applied.steps.length).toBe(at + 1);
    expect(treeDiff(before, treeState(m.root))).toEqual([]);
  });

  it('while another run holds the lock it is refused with 8 and changes nothing', async () => {
    const m = await ready(c);
    m.host.mkdirp('/run'); // every running host has it; the lock's informative file goes there
    const before = treeState(m.root);
    const held = await acquireLock(m.host, 'test', 4242);
    try {
      const r = await m.run([...c.argv, '--yes']);
      expect(r.code).toBe(8);
      expect(r.stderr).toContain('another gpuvirt run (pid 4242, test)');
    } finally {
      held.release();
    }
    expect(treeDiff(before, treeState(m.root))).toEqual([]);
  });
});
