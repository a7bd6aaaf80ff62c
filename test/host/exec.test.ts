// The real exec seam: what every external program gpuvirt runs on a host goes through.
import { describe, expect, it } from 'vitest';
import { RealExec } from '../../src/host/exec.js';
import { GpuvirtError } from '../../src/errors.js';

const exec = new RealExec();

describe('RealExec', () => {
  it('returns the exit code and both outputs whole, final newlines kept', async () => {
    const r = await exec.run(['sh', '-c', 'printf "a\\nb\\n"; printf "warn\\n" >&2; exit 3']);
    expect(r).toEqual({ exitCode: 3, stdout: 'a\nb\n', stderr: 'warn\n' });
  });

  it('passes arguments as they are, without a shell', async () => {
    const r = await exec.run(['printf', '%s|', 'a b', '$HOME', ';', '*']);
    expect(r.stdout).toBe('a b|$HOME|;|*|');
  });

  it('feeds input on stdin, and an empty stdin without it', async () => {
    expect((await exec.run(['cat'], { input: 'line 1\nline 2' })).stdout).toBe('line 1\nline 2');
    expect((await exec.run(['cat'])).stdout).toBe('');
  });

  it('runs programs in the C locale, with the rest of the environment', async () => {
    process.env.GPUVIRT_EXEC_TEST = 'kept';
    try {
      const r = await exec.run(['sh', '-c', 'echo "$LC_ALL $GPUVIRT_EXEC_TEST"']);
      expect(r.stdout).toBe('C kept\n');
    } finally {
      delete process.env.GPUVIRT_EXEC_TEST;
    }
  });

  it('collects output larger than a pipe holds', async () => {
    const r = await exec.run(['sh', '-c', 'head -c 1000000 /dev/zero | tr "\\0" x']);
    expect(r.stdout.length).toBe(1_000_000);
  });

  it('a program that is not there is E_EXEC naming it', async () => {
    const err = await exec.run(['gpuvirt-no-such-program-x']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuvirtError);
    expect((err as GpuvirtError).code).toBe('E_EXEC');
    expect((err as GpuvirtError).message).toBe('could not run gpuvirt-no-such-program-x: no such program');
  });

  it('a program past its timeout is stopped and reported, not taken as an exit status', async () => {
    const started = Date.now();
    const err = await exec.run(['sleep', '30'], { timeoutMs: 200 }).catch((e: unknown) => e);
    expect((err as GpuvirtError).code).toBe('E_EXEC');
    expect((err as GpuvirtError).message).toBe('could not run sleep: timed out after 200 ms');
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('a program killed by a signal is reported as such', async () => {
    const err = await exec.run(['sh', '-c', 'kill -KILL $$']).catch((e: unknown) => e);
    expect((err as GpuvirtError).message).toBe('could not run sh: killed by SIGKILL');
  });

  it('a program that exits without reading its input is still a result', async () => {
    const r = await exec.run(['true'], { input: 'x'.repeat(1_000_000) });
    expect(r.exitCode).toBe(0);
  });
});
