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
});
