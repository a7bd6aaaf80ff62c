// `host apply` under the change engine's contract, on a config that touches all three parts at
// once (the boot configuration, SR-IOV, bindings): the plan --dry-run prints is what is applied,
// a failure at any step that changes the host leaves it byte-identical, and a kill at any step is
// found by the next run and undone by `gpuvirt recover`.
import { describe, expect, it } from 'vitest';
import { machine, type Machine } from '../helpers/sim.js';
import { dying, type Death } from '../helpers/dying.js';
import { treeDiff, treeState } from '../helpers/tree-state.js';
import { configFile } from './files.js';

const OK = { exitCode: 0, stdout: '', stderr: '' };
const FILE = configFile(`apiVersion: gpuvirt/v1
kind: HostConfig
configs:
  all-parts:
    host: { iommu: true, kernelParams: ["pcie_aspm=off"] }
    devices:
      - select: { address: "0000:c1:00.0" }
        sriov: { vfs: 2, vfDriver: vfio-pci }
      - select: { address: "0000:81:00.0" }
        driver: vfio-pci
`);
const ARGV = ['host', 'apply', '-f', FILE, '-c', 'all-parts'];

function ready(): Machine {
  return machine('server-mxgpu-sriov', { 'proxmox-boot-tool refresh': OK }, { lenient: true });
}

async function planOf(): Promise<{ kind: string; title: string; path?: string; value?: string; argv?: string[]; content?: string }[]> {
  const r = await ready().run([...ARGV, '--dry-run', '--json']);
  expect(r.code, r.stdout).toBe(0);
  return r.doc.data.steps;
}

const mutating = (plan: { kind: string }[]) => plan.flatMap((s, i) => (['write', 'exec', 'file', 'remove-file'].includes(s.kind) ? [i] : []));

describe('host apply: the change contract', { timeout: 300_000 }, () => {
  it('plans the boot configuration, then SR-IOV, then bindings, and applies exactly that plan', async () => {
    const plan = await planOf();
    const titles = plan.map((s) => s.title);
    const first = (needle: string) => titles.findIndex((t) => t.includes(needle));
    expect(first('edit /etc/kernel/cmdline')).toBeGreaterThanOrEqual(0);
    expect(first('edit /etc/kernel/cmdline')).toBeLessThan(first('enable 2 VFs on 0000:c1:00.0'));
    expect(first('enable 2 VFs on 0000:c1:00.0')).toBeLessThan(first('let only vfio-pci take 0000:81:00.0'));
    const m = ready();
    const r = await m.run([...ARGV, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.data).toMatchObject({ changed: true, failed: false, reboot_required: true });
    expect(m.host.writes.map((w) => [w.path, w.value])).toEqual(plan.filter((s) => s.kind === 'write').map((s) => [s.path, s.value]));
    expect(m.testExec.calls).toEqual(plan.filter((s) => s.kind === 'exec').map((s) => s.argv));
    for (const s of plan.filter((x) => x.kind === 'file' && !x.path!.includes('/backups/'))) expect(m.host.readText(s.path!), s.path).toBe(s.content);
    expect((await m.run(['recover', '--dry-run', '--json'])).doc.data.found).toBe(false);
    const again = await m.run([...ARGV, '--yes', '--json']);
    expect(again.doc.data).toMatchObject({ changed: false, noop: true });
  });

  it('a failure at any step that changes the host is undone: byte-identical to before, failed: true', async () => {
    const plan = await planOf();
    const steps = mutating(plan);
    expect(steps.length).toBeGreaterThan(10);
    for (const i of steps) {
      const m = ready();
      const before = treeState(m.root);
      const death: Death = { atStep: i, after: 0, dead: false, faultOnly: true };
      const r = await m.run([...ARGV, '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
      expect(death.faulted, `step ${i} was reached`).toBe(true);
      expect(r.code, `failure at step ${i} (${plan[i]!.title})`).toBe(1);
      expect(r.doc.data).toMatchObject({ changed: false, failed: true, reboot_required: false, msg: expect.stringContaining('apply failed and was rolled back') });
      expect(treeDiff(before, treeState(m.root)), `host after a failure at step ${i} (${plan[i]!.title})`).toEqual([]);
    }
  });

  it('a kill at any step is found by the next run and undone by `recover`', async () => {
    const plan = await planOf();
    for (const i of mutating(plan)) for (const after of [0, 1]) {
      const m = ready();
      const before = treeState(m.root);
      const death: Death = { atStep: i, after, dead: false };
      await m.run([...ARGV, '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
      if (!death.dead) {
        expect(after, `the kill at step ${i} happened`).toBe(1); // the step made one change only
        continue;
      }
      const next = await m.run([...ARGV, '--yes']);
      expect(next.code, `the run after a kill at step ${i}`).toBe(1);
      expect(next.stderr).toContain('gpuvirt recover');
      const r = await m.run(['recover', '--yes', '--json']);
      expect(r.code, `recover after a kill at step ${i}: ${JSON.stringify(r.doc)}`).toBe(0);
      expect(treeDiff(before, treeState(m.root)), `host after a kill at step ${i}+${after} (${plan[i]!.title}) and recover`).toEqual([]);
    }
  });

  it('on a terminal the whole plan is on the screen before the question; "no" changes nothing (exit 130)', async () => {
    const plan = await planOf();
    const m = ready();
    const before = treeState(m.root);
    let screen = '';
    const no = await m.run(ARGV, { tty: true, answer: (s) => ((screen = s), false) });
    expect(no.code).toBe(130);
    for (const s of plan) expect(screen, `step "${s.title}" shown before the question`).toContain(s.title);
    expect(screen).toContain('+vfs: 2');
    expect(treeDiff(before, treeState(m.root))).toEqual([]);
  });

  it('SIGINT during apply finishes the step in flight, undoes the change, and exits 130', async () => {
    const plan = await planOf();
    const m = ready();
    const before = treeState(m.root);
    let deliver: (s: string) => void = () => undefined;
    const death: Death = { atStep: Math.floor(plan.length / 2), after: 0, dead: false, onStep: () => deliver('SIGINT') };
    const r = await m.run([...ARGV, '--yes', '--json'], { seams: (h, e) => dying(h, e, death), signals: (d) => (deliver = d) });
    expect(r.code).toBe(130);
    expect(r.doc.data).toMatchObject({ changed: false, failed: true, interrupted: 'SIGINT' });
    expect(treeDiff(before, treeState(m.root))).toEqual([]);
  });
});
