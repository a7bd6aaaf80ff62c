// execute(): the part of a run after argv is parsed, the same for every command.
import { describe, expect, it } from 'vitest';
import type { AnyCommand } from '../src/commands/command.js';
import { FsHost } from '../src/host/fs-host.js';
import { ExitCode, GpuvirtError } from '../src/errors.js';
import { execute } from '../src/run.js';
import { captureIO } from './helpers/io.js';

/** A command that tries to run a program and reports which seam it got. */
const runsProgram: AnyCommand = {
  name: 'probe',
  summary: 'runs true',
  linuxOnly: false,
  parse: () => ({}),
  async run(_opts, ctx) {
    await ctx.exec.run(['true']);
    return { ok: true, data: { ran: true }, warnings: [] };
  },
  render: () => 'ran\n',
};

describe('execute', () => {
  it('a replaced host never gets the real exec seam, even at root /', async () => {
    const io = captureIO();
    const code = await execute({ def: runsProgram, args: [], opts: { root: '/' } }, true, { io, env: {}, makeHost: (r) => new FsHost(r) });
    expect(code).toBe(5);
    expect(JSON.parse(io.stdout).error.code).toBe('E_EXEC_UNDER_ROOT');
  });

  it('output that cannot be written fails the command with one line on stderr, in JSON mode too', async () => {
    for (const json of [true, false]) {
      const io = captureIO();
      let attempts = 0;
      io.out = () => {
        attempts++;
        throw new GpuvirtError('E_OUTPUT', 'cannot write to standard output: ENOSPC', { exitCode: ExitCode.failed });
      };
      const fakeExec = { run: async () => ({ exitCode: 0, stdout: '', stderr: '' }) };
      const code = await execute({ def: runsProgram, args: [], opts: {} }, json, { io, env: {}, makeExec: () => fakeExec });
      expect(code, `json ${json}`).toBe(1);
      expect(io.stderr).toBe('gpuvirt: cannot write to standard output: ENOSPC\n');
      expect(attempts, 'no error document is written to the stdout that failed').toBe(1);
    }
  });

  it('an error document that cannot be written goes to stderr instead', async () => {
    const io = captureIO();
    io.out = () => {
      throw new GpuvirtError('E_OUTPUT', 'cannot write to standard output: EIO', { exitCode: ExitCode.failed });
    };
    const code = await execute({ def: runsProgram, args: [], opts: { root: '/no/such/root' } }, true, { io, env: {} });
    expect(code).toBe(2);
    expect(io.stderr).toBe('gpuvirt: --root /no/such/root: no such directory\n');
  });
});
