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
});
