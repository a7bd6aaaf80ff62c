// A host config's resetMethod on the simulated kernel: the same change as `setup --reset` for the
// GPUs the config names (vendor-reset loaded, device_specific now, the udev rule for boot), shown
// by diff, checked by assert, written back by export, refused where vendor-reset cannot do it.
import { describe, expect, it } from 'vitest';
import { paths } from '../../src/host/paths.js';
import { readAttr } from '../../src/host/host.js';
import { loadHostConfigText } from '../../src/hostconfig/load.js';
import { RESET_RULE, ruleAddresses } from '../../src/reset/change.js';
import { machine } from '../helpers/sim.js';
import { dying, type Death } from '../helpers/dying.js';
import { treeDiff, treeState } from '../helpers/tree-state.js';
import { configFile } from './files.js';
import { documentFor } from '../../src/schemas/index.js';

const HEAD = 'apiVersion: gpuvirt/v1\nkind: HostConfig\nconfigs:\n';
const POLARIS = '0000:01:00.0';
const IGPU = '0000:00:02.0';
/** The RX 580 for VMs: on vfio-pci, reset through vendor-reset. */
const VM_GPU = configFile(`${HEAD}  vm:
    devices:
      - select: { id: "1002:67df" }
        driver: vfio-pci
        resetMethod: device_specific
  reset-only:
    devices:
      - select: { id: "1002:67df" }
        resetMethod: device_specific
  igpu:
    devices:
      - select: { address: "${IGPU}" }
        resetMethod: device_specific
`);
const run = (m: ReturnType<typeof machine>, cmd: string, config: string, ...more: string[]) => m.run(['host', cmd, '-f', VM_GPU, '-c', config, ...more, '--json']);
const method = (m: ReturnType<typeof machine>, a: string) => readAttr(m.host, paths.pciAttr(a, 'reset_method'));

describe('host config resetMethod', () => {
  it('the schema knows it, and an entry may say only how a device resets', () => {
    const ok = loadHostConfigText(`${HEAD}  x:\n    devices:\n      - select: { id: "1002:67df" }\n        resetMethod: device_specific\n`);
    expect(ok.problems).toEqual([]);
    expect(ok.file!.configs.x!.devices[0]).toMatchObject({ resetMethod: 'device_specific' });
    const bad = loadHostConfigText(`${HEAD}  x:\n    devices:\n      - select: { id: "1002:67df" }\n        resetMethod: flr\n`);
    expect(bad.file).toBeNull();
    expect(bad.problems[0]).toMatchObject({ severity: 'error', line: 7 });
    const empty = loadHostConfigText(`${HEAD}  x:\n    devices:\n      - select: { id: "1002:67df" }\n`);
    expect(empty.problems.map((p) => p.message)).toEqual(['say what the devices should be: driver (vfio-pci, pci-stub), sriov { vfs }, vgpu or resetMethod']);
  });

  it('diff shows reset_method and the boot rule; apply makes setup --reset\'s change for the named GPU; assert then passes; a second apply is no change', async () => {
    const m = machine('polaris-vendor-reset');
    const d = await run(m, 'diff', 'vm');
    expect(d.code).toBe(0);
    expect(d.doc.data.differences).toEqual([
      { subject: 'host', name: `reset at boot (${RESET_RULE})`, field: 'resetRule', before: [], after: [POLARIS] },
      { subject: POLARIS, name: expect.any(String), field: 'driver', before: 'amdgpu', after: 'vfio-pci' },
      { subject: POLARIS, name: expect.any(String), field: 'resetMethod', before: 'bus', after: 'device_specific' },
    ]);
    expect(documentFor('host diff')!.safeParse(d.doc).error).toBeUndefined();
    const text = await m.run(['host', 'diff', '-f', VM_GPU, '-c', 'vm']);
    expect(text.stdout).toContain('-resetMethod: bus\n+resetMethod: device_specific\n');
    expect((await run(m, 'assert', 'vm')).code).toBe(1);

    const dry = await run(m, 'apply', 'vm', '--dry-run');
    const titles: string[] = dry.doc.data.steps.map((s: { action: string }) => s.action);
    // The same steps as setup --reset, before the binding.
    expect(titles).toEqual(expect.arrayContaining([`write file ${RESET_RULE}`, 'run modprobe vendor-reset', `write device_specific > ${paths.pciAttr(POLARIS, 'reset_method')}`]));
    expect(titles.indexOf(`write device_specific > ${paths.pciAttr(POLARIS, 'reset_method')}`)).toBeLessThan(titles.findIndex((t) => t.includes('driver_override')));
    expect(m.host.writes).toEqual([]);

    const r = await run(m, 'apply', 'vm', '--yes');
    expect(r.code, r.stdout).toBe(0);
    expect(documentFor('host apply')!.safeParse(r.doc).error).toBeUndefined();
    expect(method(m, POLARIS)).toBe('device_specific');
    expect(m.host.exists(paths.sysModule('vendor_reset'))).toBe(true);
    expect(ruleAddresses(m.host.readText(RESET_RULE))).toEqual([POLARIS]);
    expect(m.drivers([POLARIS])[POLARIS]!.driver).toBe('vfio-pci');
    expect((await run(m, 'assert', 'vm')).code).toBe(0);
    expect((await run(m, 'apply', 'vm', '--yes')).doc.data).toMatchObject({ changed: false, noop: true });

    // Someone selects another reset method: assert says which.
    m.host.writeAttr(paths.pciAttr(POLARIS, 'reset_method'), 'bus');
    const drift = await run(m, 'assert', 'vm');
    expect(drift.code).toBe(1);
    expect(drift.doc.data.differences).toEqual([{ subject: POLARIS, name: expect.any(String), field: 'resetMethod', before: 'bus', after: 'device_specific' }]);
  });

  it('export writes resetMethod for a GPU vendor-reset resets now and at boot, and assert passes on it', async () => {
    const m = machine('polaris-vendor-reset');
    expect((await run(m, 'apply', 'reset-only', '--yes')).code).toBe(0);
    const r = await m.run(['host', 'export', '-c', 'here']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`      - select: { address: "${POLARIS}" }\n        resetMethod: device_specific\n`);
    const loaded = loadHostConfigText(r.stdout);
    expect(loaded.problems).toEqual([]);
    const file = configFile(r.stdout);
    expect((await m.run(['host', 'assert', '-f', file, '-c', 'here', '--json'])).code).toBe(0);
    // Selected now but not at boot (no rule): not what export calls configured.
    m.host.removeFile(RESET_RULE);
    expect((await m.run(['host', 'export', '-c', 'here'])).stdout).not.toContain('resetMethod');
  });

  it('a GPU vendor-reset does not know, or a host without vendor-reset: a problem, and apply changes nothing (exit 7)', async () => {
    const m = machine('polaris-vendor-reset');
    const igpu = await run(m, 'apply', 'igpu', '--yes');
    expect(igpu.code).toBe(7);
    expect(igpu.doc.data.problems).toEqual([expect.stringMatching(new RegExp(`^${IGPU} \\(.*\\) is not a GPU vendor-reset resets`))]);
    const bare = machine('polaris-no-vendor-reset');
    const r = await run(bare, 'apply', 'reset-only', '--yes');
    expect(r.code).toBe(7);
    expect(r.doc.data.problems).toEqual([expect.stringContaining('vendor-reset is not installed')]);
    expect((await run(bare, 'assert', 'reset-only')).doc.data.problems).toEqual(r.doc.data.problems);
    expect(bare.host.writes).toEqual([]);
    expect(m.host.writes).toEqual([]);
  });

  it('a failure at any step of the reset part is undone: the module, reset_method and the rule as before', async () => {
    const plan = (await run(machine('polaris-vendor-reset'), 'apply', 'reset-only', '--dry-run')).doc.data.steps as { kind: string; title: string }[];
    const steps = plan.flatMap((st, i) => (['write', 'exec', 'file'].includes(st.kind) ? [i] : []));
    expect(steps.length).toBeGreaterThanOrEqual(4);
    for (const i of steps) {
      const m = machine('polaris-vendor-reset');
      const before = treeState(m.root);
      const death: Death = { atStep: i, after: 0, dead: false, faultOnly: true };
      const r = await m.run(['host', 'apply', '-f', VM_GPU, '-c', 'reset-only', '--yes', '--json'], { seams: (h, e) => dying(h, e, death) });
      expect(death.faulted, `step ${i} was reached`).toBe(true);
      expect(r.code, `failure at step ${i} (${plan[i]!.title})`).toBe(1);
      expect(treeDiff(before, treeState(m.root)), `host after a failure at step ${i} (${plan[i]!.title})`).toEqual([]);
    }
  });
});
