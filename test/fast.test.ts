// The short way for plain `doctor` (src/fast.ts): it must take only the argv it fully
// understands, and for those print exactly what the full program prints.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { fastMain, plainDoctor } from '../src/fast.js';
import { captureIO } from './helpers/io.js';

const FIXTURES = new URL('./fixtures/sysfs/', import.meta.url).pathname;
const MACHINES = readdirSync(FIXTURES).sort();

describe('plainDoctor', () => {
  it('takes doctor with --json, --no-color and one --root, in any order', () => {
    expect(plainDoctor(['doctor'])?.opts).toEqual({ color: true });
    expect(plainDoctor(['doctor', '--json', '--root', '/r'])?.opts).toEqual({ color: true, json: true, root: '/r' });
    expect(plainDoctor(['--root=/r', '--no-color', 'doctor'])?.opts).toEqual({ color: false, root: '/r' });
    expect(plainDoctor(['--json', 'doctor', '--root', 'doctor'])?.opts).toEqual({ color: true, json: true, root: 'doctor' });
    expect(plainDoctor(['doctor'])?.def.name).toBe('doctor');
  });

  it('leaves everything else to commander', () => {
    const declined = [
      [], ['list'], ['doctor', '--help'], ['doctor', '-h'], ['doctor', 'extra'], ['doctor', 'doctor'], ['doctor', '--verbose'],
      ['doctor', '--json', '--json'], ['doctor', '--root'], ['doctor', '--root', ''], ['doctor', '--root='], ['doctor', '--root', '--json'],
      ['doctor', '--root', 'a', '--root', 'b'], ['doctor', '--root=a', '--root', 'b'], ['doctor', '--'], ['doctor', '--color'],
      ['--version', 'doctor'], ['-V', 'doctor'], ['sriov', 'doctor'], ['--root', 'doctor'],
    ];
    for (const argv of declined) expect(plainDoctor(argv), argv.join(' ')).toBeUndefined();
  });

  it('leaves the simulated kernel to cli.ts', () => {
    expect(fastMain(['doctor', '--root', FIXTURES + 'qemu-intel'], { env: { GPUVIRT_SIMULATE: '1' } })).toBeUndefined();
  });
});

async function both(argv: string[], opts: { env?: Record<string, string>; tty?: boolean; platform?: NodeJS.Platform } = {}) {
  const run = async (how: 'fast' | 'full') => {
    const io = captureIO(opts.tty ? { tty: true, color: true, columns: 100 } : {});
    const deps = { io, env: opts.env ?? {}, platform: opts.platform ?? 'linux', clock: () => new Date(1_700_000_000_000) };
    const pending = how === 'fast' ? fastMain(argv, deps) : main(argv, deps);
    expect(pending, `${how}: ${argv.join(' ')}`).toBeDefined();
    const code = await pending!;
    return { code, stdout: io.stdout, stderr: io.stderr };
  };
  return { fast: await run('fast'), full: await run('full') };
}

describe('fastMain prints what the full program prints', () => {
  it.each(MACHINES)('%s: JSON, text on a pipe, text with colour on a terminal', async (machine) => {
    const root = FIXTURES + machine;
    for (const [argv, tty] of [
      [['doctor', '--json', '--root', root], false],
      [[`--root=${root}`, 'doctor'], false],
      [['--no-color', 'doctor', '--root', root], true],
      [['doctor', '--root', root], true],
    ] as const) {
      const { fast, full } = await both([...argv], { tty });
      expect(fast, argv.join(' ')).toEqual(full);
      expect(full.stdout.length).toBeGreaterThan(100);
    }
  });

  it('takes the root from GPUVIRT_ROOT, and fails the same way on a bad root', async () => {
    const { fast, full } = await both(['doctor', '--json'], { env: { GPUVIRT_ROOT: FIXTURES + 'amd-desktop-shared' } });
    expect(fast).toEqual(full);
    expect(JSON.parse(full.stdout).data.gpus.length).toBeGreaterThan(0);
    for (const argv of [['doctor', '--json', '--root', '/no/such/root'], ['doctor', '--root', '/no/such/root'], ['doctor', `--root=${FIXTURES}qemu-intel/proc/cmdline`]]) {
      const r = await both(argv);
      expect(r.fast, argv.join(' ')).toEqual(r.full);
      expect(r.full.code).toBe(2);
    }
  });

  it('answers "needs a Linux host" the same way on another OS', async () => {
    for (const argv of [['doctor'], ['doctor', '--json']]) {
      const { fast, full } = await both(argv, { platform: 'darwin' });
      expect(fast).toEqual(full);
      expect(full.code).toBe(5);
      expect(full.stdout + full.stderr).toContain('needs a Linux host');
    }
  });
});
