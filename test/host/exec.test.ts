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

describe('RealExec and what outlives or floods it', () => {
  it('a program that leaves a background process holding its output is done when it exits, with what it wrote', async () => {
    // The daemon it starts keeps stdout and stderr open for 30 s: waiting for them to close
    // would hang the run (and then call a program that exited at once "timed out").
    const started = Date.now();
    const r = await exec.run(['sh', '-c', 'sleep 30 & echo started; echo note >&2; exit 4'], { timeoutMs: 20_000 });
    expect(r).toEqual({ exitCode: 4, stdout: 'started\n', stderr: 'note\n' });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('output past the limit stops the program and is E_EXEC, not an unbounded buffer', async () => {
    const small = new RealExec({ maxOutputBytes: 100_000 });
    const err = await small.run(['sh', '-c', 'head -c 1000000 /dev/zero; sleep 30'], { timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuvirtError);
    expect((err as GpuvirtError).message).toBe('could not run sh: its output passed 100000 bytes');
    // Up to the limit, all of it.
    expect((await small.run(['head', '-c', '100000', '/dev/zero'])).stdout.length).toBe(100_000);
  });

  it('a program that is not there carries ENOENT as its cause (readMig tells "not installed" by it)', async () => {
    const err = await exec.run(['gpuvirt-no-such-program-x']).catch((e: unknown) => e);
    expect(((err as GpuvirtError).cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});
