// The JSON contract every command shares (README "JSON output", "Exit codes"): where a
// document comes from, one error shape for every failure, and exit codes that mean one thing.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import pkg from '../../package.json' with { type: 'json' };
import { captureIO } from '../helpers/io.js';
import { FIXTURES, machine } from '../helpers/sim.js';
import { makeTree } from '../helpers/tree.js';

const NOW = new Date('2026-01-02T03:04:05.000Z');

async function run(argv: string[], env: Record<string, string> = {}) {
  const io = captureIO();
  const code = await main(argv, { io, env, platform: 'linux', clock: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr, doc: argv.includes('--json') && io.stdout ? JSON.parse(io.stdout) : null };
}

const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-contract-'));
function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}
const head = 'apiVersion: gpuvirt/v1\nname: t\nmemory: 4GiB\ncpu: { cores: 2 }\n';

describe('every document says where it comes from', () => {
  it('the gpuvirt version, the host (machine-id under the root, kernel) and the time', async () => {
    const root = makeTree({ 'etc/machine-id': '0123456789abcdef0123456789abcdef\n', 'proc/sys/kernel/osrelease': '6.1.0-test\n', 'sys/bus/pci/devices/.keep': '' });
    const r = await run(['list', '--json', '--root', root]);
    expect(r.doc).toMatchObject({
      schemaVersion: 1, command: 'list', ok: true,
      tool: { name: 'gpuvirt', version: pkg.version },
      // Under a root other than / this machine's hostname would name the wrong host.
      host: { machineId: '0123456789abcdef0123456789abcdef', hostname: null, kernel: '6.1.0-test' },
      timestamp: '2026-01-02T03:04:05.000Z',
    });
  });

  it('a host without machine-id is named by nothing but its kernel; errors carry the same fields', async () => {
    const r = await run(['sriov', 'status', '0000:99:00.0', '--json', '--root', FIXTURES + 'qemu-intel']);
    expect(r.code).toBe(6);
    expect(r.doc).toMatchObject({ ok: false, error: { code: 'E_NOT_FOUND', exitCode: 6 }, host: { machineId: null, hostname: null, kernel: '6.1.0-56-amd64' }, tool: { version: pkg.version } });
    const usage = await run(['list', '--json', '--bogus']);
    expect(usage.doc).toMatchObject({ ok: false, error: { code: 'E_USAGE' }, host: null, timestamp: NOW.toISOString() });
  });

  it('SOURCE_DATE_EPOCH fixes the timestamp, as for reproducible builds', async () => {
    const r = await (async () => {
      const io = captureIO();
      await main(['list', '--json', '--root', FIXTURES + 'qemu-intel'], { io, env: { SOURCE_DATE_EPOCH: '1700000000' }, platform: 'linux' });
      return JSON.parse(io.stdout);
    })();
    expect(r.timestamp).toBe('2023-11-14T22:13:20.000Z');
  });

  it('--version --json is a document too', async () => {
    for (const argv of [['--version', '--json'], ['--json', '-V']]) {
      const r = await run(argv);
      expect(r.code).toBe(0);
      expect(r.doc).toMatchObject({ schemaVersion: 1, command: 'version', ok: true, data: { version: pkg.version }, tool: { version: pkg.version } });
    }
  });
});

describe('one error shape', () => {
  it('a typo: the suggestion is the hint, not part of the message', async () => {
    const r = await run(['docter', '--json']);
    expect(r.code).toBe(2);
    expect(r.doc.error).toEqual({ code: 'E_USAGE', message: "unknown command 'docter'", hint: 'did you mean doctor?', exitCode: 2 });
  });

  it('a typo on a terminal: the error, the suggestion and where help is, not the whole help', async () => {
    const r = await run(['docter']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("gpuvirt: unknown command 'docter'\n  hint: did you mean doctor?\n  see `gpuvirt --help`\n");
    const opt = await run(['doctor', '--jsno']);
    expect(opt.stderr).toBe("gpuvirt: unknown option '--jsno'\n  hint: did you mean --json?\n  see `gpuvirt doctor --help`\n");
  });

  it('a refused sriov enable has an error object besides its data.refusals', async () => {
    const m = machine('server-mxgpu-sriov');
    const r = await run(['sriov', 'enable', '0000:41:00.0', '--vfs', '2', '--dry-run', '--json', '--root', m.root]);
    expect(r.code).toBe(5);
    expect(r.doc.ok).toBe(false);
    expect(r.doc.data.refusals.length).toBeGreaterThan(0);
    expect(r.doc.error).toEqual({ code: 'E_UNSUPPORTED', message: expect.stringContaining(r.doc.data.refusals[0].message), hint: null, exitCode: 5 });
  });

  it('every mutating command that refuses has an error object too: passthrough of a group with the boot disk', async () => {
    const m = machine('shared-with-boot-disk');
    const r = await run(['passthrough', '01:00.0', '--dry-run', '--json', '--root', m.root]);
    expect(r.code).toBe(7);
    expect(r.doc.data.blocked).toBe(true);
    expect(r.doc.error).toMatchObject({ code: 'E_REFUSED', message: r.doc.data.refusals.length > 1 ? expect.stringContaining('more in data.refusals') : expect.any(String), exitCode: 7 });
  });

  it('doctor with a failing check names the checks in its error', async () => {
    const r = await run(['doctor', '--json', '--root', FIXTURES + 'iommu-off-cmdline']);
    expect(r.code).toBe(1);
    expect(r.doc.error).toMatchObject({ code: 'E_CHECKS_FAILED', message: '2 checks failed: iommu.enabled, cmdline.iommu', exitCode: 1 });
  });
});

describe('--strict', () => {
  it('warnings fail the run (exit 1): doctor\'s warn checks count', async () => {
    const argv = ['doctor', '--json', '--root', FIXTURES + 'amd-desktop-shared'];
    const plain = await run(argv);
    expect(plain.code).toBe(0);
    expect(plain.doc.data.checks.some((c: { status: string }) => c.status === 'warn')).toBe(true);
    const strict = await run(['--strict', ...argv]);
    expect(strict.code).toBe(1);
    expect(strict.doc).toMatchObject({ ok: false, error: { code: 'E_STRICT', exitCode: 1 } });
    const text = await run(['doctor', '--strict', '--root', FIXTURES + 'amd-desktop-shared']);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain('--strict: 1 warning');
  });

  it('a run without warnings still exits 0', async () => {
    expect((await run(['doctor', '--strict', '--json', '--root', FIXTURES + 'intel-desktop-nvidia'])).code).toBe(0);
  });
});

describe('exit codes', () => {
  it('profile validate reports every file, a missing one among them', async () => {
    const good = file('good.yaml', `${head}devices: []\ndisplay: { fallback: virtio-gpu }\n`);
    const missing = join(dir, 'missing.yaml');
    const r = await run(['profile', 'validate', good, missing, '--json']);
    expect(r.code).toBe(2);
    expect(r.doc.data.files.map((f: { file: string; valid: boolean }) => [f.file, f.valid])).toEqual([[good, true], [missing, false]]);
    expect(r.doc.data.files[1].problems[0]).toMatchObject({ severity: 'error', message: 'no such profile file' });
    expect(r.doc.error).toMatchObject({ code: 'E_USAGE', message: `${missing}: no such profile file` });
    const text = await run(['profile', 'validate', good, missing]);
    expect(text.stdout).toBe(`${good}: valid\n`);
    expect(text.stderr).toBe(`${missing}: error: no such profile file\n${missing}: invalid: 1 error\n`);
  });

  it('sriov enable --vfs 0 is a usage error', async () => {
    const r = await run(['sriov', 'enable', '0000:41:00.0', '--vfs', '0', '--dry-run', '--json', '--root', FIXTURES + 'server-mxgpu-sriov']);
    expect(r.code).toBe(2);
    expect(r.doc.error).toMatchObject({ code: 'E_USAGE', hint: expect.stringContaining('sriov disable') });
  });

  it('generate: a device the host does not have is not found (6); a wrong profile stays 2', async () => {
    const gone = file('gone.yaml', `${head}devices:\n  - type: gpu\n    select: { address: 0000:0a:00.0 }\n`);
    const r = await run(['generate', gone, '--target', 'qemu', '--json', '--root', FIXTURES + 'qemu-intel']);
    expect(r.code).toBe(6);
    expect(r.doc.error).toMatchObject({ code: 'E_NOT_FOUND', message: expect.stringContaining('no PCI device 0000:0a:00.0'), exitCode: 6 });
    const bad = file('bad.yaml', `${head}machine: i440fx\ndevices:\n  - type: gpu\n    pcie: true\n    select: { address: 0000:00:02.0 }\n`);
    const b = await run(['generate', bad, '--target', 'qemu', '--json', '--root', FIXTURES + 'qemu-intel']);
    expect(b.code).toBe(2);
    expect(b.doc.error.code).toBe('E_INVALID_PROFILE');
  });

  it('profile check: a VF count other than the profile\'s fails (exit 1), with expected and actual', async () => {
    const f = file('vf.yaml', `${head}devices:\n  - { type: vf, pf: { address: 0000:41:00.0 }, vf: any, vfCount: 8 }\n`);
    const r = await run(['profile', 'check', f, '--json', '--root', FIXTURES + 'server-mxgpu-sriov']);
    expect(r.code).toBe(1);
    expect(r.doc.data.checks.find((c: { id: string }) => c.id === 'vf-count')).toMatchObject({ status: 'fail', expected: 8, actual: 4 });
    expect(r.doc.error).toMatchObject({ code: 'E_DRIFT', message: expect.stringContaining('devices[0] vf-count') });
    const same = file('vf4.yaml', `${head}devices:\n  - { type: vf, pf: { address: 0000:41:00.0 }, vf: any, vfCount: 4 }\n`);
    const ok = await run(['profile', 'check', same, '--json', '--root', FIXTURES + 'server-mxgpu-sriov']);
    expect(ok.doc.data.checks.find((c: { id: string }) => c.id === 'vf-count')).toMatchObject({ status: 'pass', expected: 4, actual: 4 });
  });
});
