// `sriov enable --vf-profile` on an xe PF with sriov_admin (kernel 6.19): each enabled VF's
// exec_quantum_ms / preempt_timeout_us written as steps, each undone by the value it had.
import { describe, expect, it } from 'vitest';
import { paths } from '../../src/host/paths.js';
import { parseXeVfProfile } from '../../src/sriov/xe-profile.js';
import { machine } from '../helpers/sim.js';
import { dying, type Death } from '../helpers/dying.js';

const PF = '0000:03:00.0';
const ADMIN = 'intel-xe-sriov-admin';
const attr = (vf: number, name: string) => paths.pciAttr(PF, `sriov_admin/vf${vf}/profile/${name}`);
const read = (m: ReturnType<typeof machine>, vf: number, name: string) => m.host.readText(attr(vf, name))?.trim();
/** What the change is about: every sriov_admin profile value, the VF count, the VFs' drivers. */
function admin(m: ReturnType<typeof machine>) {
  const out: Record<string, string | undefined> = { numvfs: m.host.readText(paths.pciAttr(PF, 'sriov_numvfs'))?.trim() };
  for (const fn of ['pf', 'vf1', 'vf2', 'vf3', 'vf4']) {
    for (const a of ['exec_quantum_ms', 'preempt_timeout_us', 'sched_priority']) out[`${fn}/${a}`] = m.host.readText(paths.pciAttr(PF, `sriov_admin/${fn}/profile/${a}`))?.trim();
  }
  for (const [vf, d] of Object.entries(m.drivers(['0000:03:00.1', '0000:03:00.2']))) out[vf] = d.driver ?? 'none';
  return out;
}
const ARGV = ['sriov', 'enable', PF, '--vfs', '4', '--bind', 'vfio-pci', '--vf-profile', 'exec_quantum_ms=10,preempt_timeout_us=20000'];

describe('--vf-profile parsing', () => {
  it('takes the kernel\'s attribute names with u32 values', () => {
    expect(parseXeVfProfile('exec_quantum_ms=10, preempt_timeout_us=0')).toEqual({ exec_quantum_ms: 10, preempt_timeout_us: 0 });
  });
  it.each([
    ['sched_priority=low', /only the PF's scheduling priority/],
    ['quantum=5', /unknown setting/],
    ['exec_quantum_ms=-1', /whole number/],
    ['exec_quantum_ms=4294967296', /whole number/],
    ['', /empty/],
  ])('%s is a usage error', async (spec, message) => {
    const m = machine(ADMIN);
    const r = await m.run(['sriov', 'enable', PF, '--vfs', '2', '--vf-profile', spec, '--dry-run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')[0]).toMatch(/^gpuvirt: /);
  });
});

describe('sriov enable --vf-profile on xe', () => {
  it('plans one write per VF and setting that differs, each with the old value as its undo', async () => {
    const m = machine(ADMIN);
    const r = await m.run([...ARGV, '--dry-run', '--json']);
    expect(r.code, r.stdout).toBe(0);
    const writes = r.doc.data.steps.filter((s: { path?: string }) => s.path?.includes('/sriov_admin/'));
    expect(writes.map((s: { path: string; value: string; undo: unknown[] }) => [s.path.split('sriov_admin/')[1], s.value, s.undo])).toEqual([1, 2, 3, 4].flatMap((n) => [
      [`vf${n}/profile/exec_quantum_ms`, '10', [{ kind: 'restore-attr', path: attr(n, 'exec_quantum_ms'), value: n <= 2 ? '20' : '0' }]],
      [`vf${n}/profile/preempt_timeout_us`, '20000', [{ kind: 'restore-attr', path: attr(n, 'preempt_timeout_us'), value: n <= 2 ? '40000' : '0' }]],
    ]));
    // after the VFs exist: every profile write comes after the last sriov_numvfs write
    const steps = r.doc.data.steps.map((s: { path?: string }) => s.path ?? '');
    expect(steps.findIndex((p: string) => p.includes('sriov_admin'))).toBeGreaterThan(steps.lastIndexOf(paths.pciAttr(PF, 'sriov_numvfs')));
    expect(r.doc.data.vfProfile).toEqual({ exec_quantum_ms: 10, preempt_timeout_us: 20000 });
    expect(m.host.writes).toEqual([]);
  });

  it('applies: four VFs on vfio-pci, each with the profile, checked at the end', async () => {
    const m = machine(ADMIN);
    const r = await m.run([...ARGV, '--yes', '--json']);
    expect(r.code, r.stdout).toBe(0);
    for (const n of [1, 2, 3, 4]) expect([read(m, n, 'exec_quantum_ms'), read(m, n, 'preempt_timeout_us')]).toEqual(['10', '20000']);
    expect(r.doc.data.facts.filter((f: { fact: string }) => f.fact.includes('exec_quantum_ms')).map((f: { now: string }) => f.now)).toEqual(['10', '10', '10', '10']);
    // the same again has nothing to do
    expect((await m.run([...ARGV, '--yes', '--json'])).doc.data.noop).toBe(true);
  });

  it('a profile write the firmware refuses undoes the profiles written and the VF count', async () => {
    const m = machine(ADMIN);
    const before = admin(m);
    m.host.failOn({ path: attr(3, 'preempt_timeout_us'), errno: 'EIO', times: 1 });
    const r = await m.run([...ARGV, '--yes', '--json']);
    expect(r.code).toBe(1);
    expect(r.doc.data.applied.rollback.ok).toBe(true);
    expect(read(m, 1, 'exec_quantum_ms')).toBe('20');
    expect(read(m, 3, 'exec_quantum_ms')).toBe('0');
    expect(m.host.readText(paths.pciAttr(PF, 'sriov_numvfs'))?.trim()).toBe('2');
    expect(admin(m)).toEqual(before);
  });

  it('a failure at the first profile step or the last step leaves the VFs and profiles as they were', async () => {
    const plan = (await machine(ADMIN).run([...ARGV, '--dry-run', '--json'])).doc.data.steps;
    const at = [plan.findIndex((s: { path?: string }) => s.path?.includes('sriov_admin')), plan.length - 1];
    for (const i of at) {
      const m = machine(ADMIN);
      const before = admin(m);
      const death: Death = { atStep: i, after: 0, dead: false, faultOnly: true };
      const r = await m.run([...ARGV, '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
      expect(death.faulted).toBe(true);
      expect(r.code).toBe(1);
      expect(r.doc.data.applied.rollback.ok).toBe(true);
      expect(admin(m), `after a failure at step ${i}`).toEqual(before);
    }
  });

  it('a PF without sriov_admin (xe before 6.19) is refused with the reason', async () => {
    const m = machine('intel-xe-sriov');
    const pf = (await m.run(['sriov', 'status', '--json'])).doc.data.pfs.find((p: { driver: string }) => p.driver === 'xe').address;
    const r = await m.run(['sriov', 'enable', pf, '--vfs', '1', '--vf-profile', 'exec_quantum_ms=5', '--dry-run', '--json']);
    expect(r.code).toBe(5);
    expect(r.doc.data.refusals.map((x: { code: string }) => x.code)).toContain('no-sriov-admin');
    expect(r.doc.error.message).toMatch(/sriov_admin/);
  });
});

describe('simulated xe sriov_admin', () => {
  it('parses u32s as kstrtou32 does and keeps a VF\'s sched_priority read-only', () => {
    const m = machine(ADMIN);
    m.host.writeAttr(attr(1, 'exec_quantum_ms'), '0x10');
    expect(read(m, 1, 'exec_quantum_ms')).toBe('16');
    expect(() => m.host.writeAttr(attr(1, 'exec_quantum_ms'), 'ten')).toThrow(/EINVAL/);
    expect(() => m.host.writeAttr(attr(1, 'preempt_timeout_us'), '4294967296')).toThrow(/ERANGE/);
    expect(() => m.host.writeAttr(attr(1, 'sched_priority'), 'low')).toThrow(/EACCES/);
    const pfPrio = paths.pciAttr(PF, 'sriov_admin/pf/profile/sched_priority');
    m.host.writeAttr(pfPrio, 'low');
    expect(m.host.readText(pfPrio)).toBe('[low] normal high\n');
    expect(() => m.host.writeAttr(pfPrio, 'urgent')).toThrow(/EINVAL/);
  });
});
