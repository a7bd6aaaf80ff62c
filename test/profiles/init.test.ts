// gpuvirt init: flags without prompts, or a wizard; the profile it writes is valid and passes
// the drift check on the host it was written on.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { captureIO } from '../helpers/io.js';
import { FIXTURES } from '../helpers/sim.js';
import { gpuvirt } from '../generate/run.js';

const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-init-'));

describe('init', () => {
  it('with flags: no questions, a valid profile that records ids and group', async () => {
    const out = join(dir, 'flags.yaml');
    const r = await gpuvirt(['init', '--yes', '--name', 'my "vm" & co', '--memory', '16GiB', '--cores', '6', '--out', out, '--root', FIXTURES + 'intel-desktop-nvidia']);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text).toContain('name: "my \\"vm\\" & co"');
    expect(text).toContain('      iommuGroup: 8');
    expect((await gpuvirt(['profile', 'validate', out])).code).toBe(0);
    expect((await gpuvirt(['profile', 'check', out, '--root', FIXTURES + 'intel-desktop-nvidia'])).code).toBe(0);
    expect((await gpuvirt(['init', '--yes', '--out', out, '--root', FIXTURES + 'intel-desktop-nvidia'])).code).toBe(2);
    const nowhere = await gpuvirt(['init', '--yes', '--out', '/nonexistent-dir/vm.yaml', '--root', FIXTURES + 'intel-desktop-nvidia']);
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toContain('--out /nonexistent-dir/vm.yaml: cannot write there');
  });

  it('the wizard lists the GPUs with their verdicts and asks the few questions', async () => {
    const io = captureIO({ tty: true });
    const asked: string[] = [];
    const prompt = {
      confirm: async (m: string) => (asked.push(m), true),
      select: async (m: string, choices: { value: string; name: string }[]) => (asked.push(m, ...choices.map((c) => c.name)), '0000:06:00.0'),
      input: async (m: string, d: string) => (asked.push(m), m.startsWith('Memory') ? '12GiB' : d),
    };
    const code = await main(['init', '--root', FIXTURES + 'amd-desktop-shared'], { io, env: {}, platform: 'linux', prompt: prompt as never });
    expect(code).toBe(0);
    expect(asked.join('\n')).toMatch(/0000:06:00.0 .*\[shared with 0000:02:00.0, 0000:02:00.1, 0000:05:00.0\]/);
    expect(asked.join('\n')).toMatch(/0000:09:00.0 .*\[clean\] \(boot GPU\)/);
    expect(io.stdout).toContain('memory: 12GiB');
    expect(io.stdout).toContain('address: 0000:06:00.0');
    expect(io.stderr).toContain('is not cleanly isolated');
  });

  it('Enter on every question writes what --yes writes: the isolated non-boot GPU, its screen, the defaults', async () => {
    const root = FIXTURES + 'intel-desktop-nvidia';
    const yes = await gpuvirt(['init', '--yes', '--json', '--root', root]);
    expect(yes.doc.data.device.address).toBe('0000:01:00.0');
    expect(yes.doc.data.profile).toContain('primary: true');
    const io = captureIO({ tty: true });
    const defaults: unknown[] = [];
    const enter = {
      confirm: async (_m: string, def?: boolean) => (defaults.push(def), def ?? false),
      select: async (_m: string, choices: { value: string }[], def?: string) => (defaults.push(def), def ?? choices[0]!.value),
      input: async (_m: string, def: string) => (defaults.push(def), def),
    };
    expect(await main(['init', '--root', root], { io, env: {}, platform: 'linux', prompt: enter as never })).toBe(0);
    expect(defaults).toEqual(['0000:01:00.0', true, 'gpu-vm', '8GiB', '4']);
    expect(io.stdout).toBe(yes.doc.data.profile);
  });

  it('answers are checked as they are typed: a wrong one is asked again with what is wrong', async () => {
    const io = captureIO({ tty: true });
    const answers: Record<string, string[]> = { 'VM name': ['a/b', 'vm1'], Memory: ['12', '12GiB'], vCPU: ['lots', '0', '6'] };
    const asked: string[] = [];
    const prompt = {
      confirm: async () => false,
      select: async () => 'none',
      input: async (m: string) => (asked.push(m), answers[Object.keys(answers).find((k) => m.startsWith(k))!]!.shift()!),
    };
    expect(await main(['init', '--root', FIXTURES + 'intel-desktop-nvidia'], { io, env: {}, platform: 'linux', prompt: prompt as never })).toBe(0);
    expect(io.stdout).toContain('name: vm1\n');
    expect(io.stdout).toContain('memory: 12GiB\n');
    expect(io.stdout).toContain('  cores: 6\n');
    expect(asked).toContain('vCPU cores (a whole number from 1 to 512)');
    expect(asked).toContain('Memory (e.g. 16GiB) (a size such as 16GiB or 4096MiB)');
    expect(asked).toHaveLength(7);
    // Flags are checked the same way, before anything is read.
    const bad = await gpuvirt(['init', '--yes', '--cores', 'NaN', '--root', FIXTURES + 'intel-desktop-nvidia']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--cores NaN: a whole number from 1 to 512');
  });

  it('--vmid and --node make a Proxmox target that generate uses', async () => {
    const out = join(dir, 'pve.yaml');
    const r = await gpuvirt(['init', '--yes', '--vmid', '120', '--node', 'pve1', '--out', out, '--root', FIXTURES + 'intel-desktop-nvidia']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('targets:\n  proxmox:\n    vmid: 120\n    node: pve1\n');
    const g = await gpuvirt(['generate', out, '--target', 'proxmox', '--json', '--root', FIXTURES + 'intel-desktop-nvidia']);
    expect(g.doc.data.proxmox.vmid).toBe(120);
    expect((await gpuvirt(['init', '--yes', '--node', 'pve1', '--root', FIXTURES + 'intel-desktop-nvidia'])).code).toBe(2);
    expect((await gpuvirt(['init', '--yes', '--vmid', '7', '--root', FIXTURES + 'intel-desktop-nvidia'])).stderr).toContain('from 100');
  });

  describe('SR-IOV: a VF is offered as a VF and written as a `type: vf` device', () => {
    const mx = FIXTURES + 'server-mxgpu-sriov';

    it('--gpu <VF> writes its PF, its index and its address; the profile is valid on the host and passes the drift check', async () => {
      const out = join(dir, 'vf.yaml');
      const r = await gpuvirt(['init', '--yes', '--gpu', '41:02.1', '--json', '--out', out, '--root', mx]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.doc.data.device).toEqual({ address: '0000:41:02.1', name: expect.any(String), isolation: 'clean', kind: 'vf', pf: '0000:41:00.0', vf: 1 });
      const text = readFileSync(out, 'utf8');
      expect(text).toContain('  - type: vf\n');
      expect(text).toContain('    pf:\n      address: 0000:41:00.0\n      id: 1002:74a1\n');
      expect(text).toContain('    vf: 1\n');
      expect(text).toContain('    address: 0000:41:02.1\n');
      // An MI300X runs 1 or 8 VFs: the fixture's 4 is not a count a profile may ask for.
      expect(text).toContain('    vfCount: 8\n');
      expect(JSON.stringify(r.doc.warnings)).toContain('has 4 VFs now: the profile asks for 8');
      expect((await gpuvirt(['profile', 'validate', out, '--host', '--root', mx])).code).toBe(0);
      const g = await gpuvirt(['generate', out, '--target', 'qemu', '--root', mx]);
      expect(g.code, g.stderr).toBe(0);
      expect(g.stdout).toContain('-device vfio-pci,host=0000:41:02.1,');
    });

    it('--gpu <PF> --vf any|N; the VF of a VF, an index past the PF\'s VFs, --vf without --gpu are usage errors', async () => {
      const any = await gpuvirt(['init', '--yes', '--gpu', '41:00.0', '--vf', 'any', '--root', mx]);
      expect(any.code, any.stderr).toBe(0);
      expect(any.stdout).toContain('    vf: any\n');
      expect(any.stdout).not.toContain('    address: 0000:41:02');
      const seven = await gpuvirt(['init', '--yes', '--gpu', '41:00.0', '--vf', '7', '--json', '--root', mx]);
      expect(seven.code, seven.stderr).toBe(0);
      expect(seven.doc.data.device).toMatchObject({ kind: 'vf', pf: '0000:41:00.0', vf: 7, address: '0000:41:00.0' });
      expect(seven.doc.data.profile).toContain('    vf: 7\n    vfCount: 8\n');
      for (const [argv, message] of [
        [['--gpu', '41:00.0', '--vf', '8'], '--vf 8: 0000:41:00.0 has at most 8 VFs (0 to 7)'],
        [['--gpu', '41:02.1', '--vf', '1'], '0000:41:02.1 is itself a VF'],
        [['--vf', '1'], '--vf needs --gpu'],
        [['--gpu', '41:00.0', '--vf', '-1'], '--vf -1: a VF index'],
        [['--gpu', 'c3:00.0', '--vf', '0'], '0000:c3:00.0 has no SR-IOV capability'],
      ] as const) {
        const bad = await gpuvirt(['init', '--yes', ...argv, '--root', mx]);
        expect(bad.code, argv.join(' ')).toBe(2);
        expect(bad.stderr).toContain(message);
      }
    });

    it('--yes skips a PF whose VFs exist (passing it removes them); naming it warns', async () => {
      const yes = await gpuvirt(['init', '--yes', '--json', '--root', mx]);
      expect(yes.doc.data.device).toMatchObject({ address: '0000:81:00.0', kind: 'gpu' });
      const pf = await gpuvirt(['init', '--yes', '--gpu', '41:00.0', '--root', mx]);
      expect(pf.code).toBe(0);
      expect(pf.stderr).toContain('0000:41:00.0 is an SR-IOV PF with 4 VFs: passing it through removes them');
      // With no whole GPU left, the first free VF: Intel's iGPU PF has VFs, the VFs are free.
      const adl = await gpuvirt(['init', '--yes', '--json', '--root', FIXTURES + 'intel-adl-i915-sriov']);
      expect(adl.doc.data.device).toMatchObject({ kind: 'vf', pf: '0000:00:02.0', vf: 0, address: '0000:00:02.1' });
      expect(adl.doc.data.profile).toContain('  - type: vf\n');
    });

    it('the wizard lists the VFs under their PF and an "any free VF" choice, and writes what was picked', async () => {
      for (const [pickValue, expected] of [['0000:41:02.2', '    vf: 2\n'], ['0000:41:00.0/any', '    vf: any\n']] as const) {
        const io = captureIO({ tty: true });
        let listed: { value: string; name: string }[] = [];
        let def: string | undefined;
        const prompt = {
          confirm: async (_m: string, d?: boolean) => d ?? false,
          select: async (_m: string, choices: { value: string; name: string }[], d?: string) => ((listed = choices), (def = d), pickValue),
          input: async (_m: string, d: string) => d,
        };
        expect(await main(['init', '--root', mx], { io, env: {}, platform: 'linux', prompt: prompt as never })).toBe(0);
        const names = listed.map((c) => c.name).join('\n');
        expect(names).toMatch(/0000:41:00\.0 .*\(SR-IOV PF: passing it removes its 4 VFs\)/);
        expect(names).toContain('any free VF of 0000:41:00.0, chosen when the VM starts');
        expect(names).toMatch(/0000:41:02\.3 {2}VF 3 of 0000:41:00\.0 {2}\[clean\]/);
        expect(def).toBe('0000:81:00.0');
        expect(io.stdout).toContain('  - type: vf\n');
        expect(io.stdout).toContain(expected);
      }
    });
  });
});
