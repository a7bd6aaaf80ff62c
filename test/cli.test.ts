import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { captureIO } from './helpers/io.js';
import { makeTree } from './helpers/tree.js';
import pkg from '../package.json' with { type: 'json' };

const tinyHost = () =>
  makeTree({
    'proc/cpuinfo': 'processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx\n',
    'proc/cmdline': 'root=/dev/sda1 quiet\n',
    'proc/sys/kernel/osrelease': '6.1.0-test\n',
    'sys/bus/pci/devices/.keep': '',
  });

async function run(argv: string[], env: Record<string, string> = {}, platform: NodeJS.Platform = 'linux') {
  const io = captureIO();
  const code = await main(argv, { io, env, platform });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('cli', () => {
  it('prints the version', async () => {
    const r = await run(['--version']);
    expect(r).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
  });

  it('help lists the commands and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('doctor');
    expect(r.stdout).toContain('list');
  });

  it("a command's help, and a group's subcommand with options before it, as the full program gives them", async () => {
    const help = await run(['doctor', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: gpuvirt doctor [options]');
    const r = await run(['--json', '--root', tinyHost(), 'sriov', 'status']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ command: 'sriov status', ok: true });
  });

  it('no command: usage on stderr, exit 2', async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Usage: gpuvirt');
  });

  it('an unknown command or option is a usage error (exit 2) without a stack trace', async () => {
    const r = await run(['frob']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'frob'");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('in --json mode a usage error is a JSON document on stdout', async () => {
    const r = await run(['doctor', '--json', '--bogus']);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ schemaVersion: 1, command: 'doctor', ok: false, error: { code: 'E_USAGE', exitCode: 2 } });
    expect(doc.error.message).toContain('--bogus');
    expect(r.stderr).toBe('');
  });

  it('a --root that does not exist is one line naming it, exit 2', async () => {
    const r = await run(['doctor', '--root', '/nonexistent/gpuvirt-root']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('gpuvirt: --root /nonexistent/gpuvirt-root: no such directory\n');
  });

  it('GPUVIRT_ROOT selects the root when --root is absent', async () => {
    const r = await run(['doctor', '--json'], { GPUVIRT_ROOT: tinyHost() });
    const doc = JSON.parse(r.stdout);
    expect(doc.data.host.kernel).toBe('6.1.0-test');
  });

  it('host commands on a non-Linux OS answer "needs a Linux host" (exit 5); --root still works', async () => {
    const r = await run(['doctor'], {}, 'darwin');
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('needs a Linux host');
    const json = await run(['doctor', '--json'], {}, 'win32');
    expect(JSON.parse(json.stdout).error.code).toBe('E_NOT_LINUX');
    const rooted = await run(['doctor', '--json', '--root', tinyHost()], {}, 'darwin');
    expect(JSON.parse(rooted.stdout).command).toBe('doctor');
  });

  it('doctor exits 1 when a check fails, with exactly one JSON document on stdout', async () => {
    const r = await run(['doctor', '--json', '--root', tinyHost()]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc)).toEqual(['schemaVersion', 'command', 'ok', 'data', 'error', 'warnings', 'tool', 'host', 'timestamp']);
    expect(doc.ok).toBe(false);
    expect(doc.error).toMatchObject({ code: 'E_CHECKS_FAILED', exitCode: 1, message: expect.stringContaining('kvm.device') });
    expect(doc.data.checks.find((c: { id: string }) => c.id === 'kvm.device').status).toBe('fail');
  });

  it('an unexpected error is exit 3 and asks for a report, without a stack trace', async () => {
    const io = captureIO();
    const code = await main(['doctor', '--root', tinyHost()], {
      io, env: {}, platform: 'linux',
      makeHost: () => {
        throw new TypeError('boom');
      },
    });
    expect(code).toBe(3);
    expect(io.stderr).toContain('unexpected error: boom');
    expect(io.stderr).toContain('report');
    expect(io.stderr).not.toMatch(/\n\s+at /);
  });

  it('plain output on a pipe has no colour codes', async () => {
    const r = await run(['doctor', '--root', tinyHost()]);
    expect(r.stdout).toContain('FAIL  kvm.device');
    expect(r.stdout).not.toMatch(/\x1b\[/);
  });

  it('colour on a terminal, and none with --no-color', async () => {
    const io = captureIO({ tty: true, color: true });
    await main(['doctor', '--root', tinyHost()], { io, env: {}, platform: 'linux' });
    expect(io.stdout).toMatch(/\x1b\[31mFAIL/);
    const plain = captureIO({ tty: true, color: true });
    await main(['doctor', '--no-color', '--root', tinyHost()], { io: plain, env: {}, platform: 'linux' });
    expect(plain.stdout).not.toMatch(/\x1b\[/);
  });
});
