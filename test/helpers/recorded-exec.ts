// An exec seam that answers from recorded program output (test/fixtures/exec/<machine>/),
// strict like a stub: an argv without a recording throws, and `unused()` names recordings a
// test expected to be asked for but were not.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Exec, ExecResult } from '../../src/host/exec.js';

export const EXEC_FIXTURES = new URL('../fixtures/exec/', import.meta.url).pathname;

interface Recording {
  stdout: string;
  exitCode?: number;
}

export class RecordedExec implements Exec {
  readonly calls: string[] = [];
  private readonly index: Record<string, Recording>;

  constructor(private readonly machine: string) {
    this.index = JSON.parse(readFileSync(join(EXEC_FIXTURES, machine, 'index.json'), 'utf8')) as Record<string, Recording>;
  }

  async run(argv: readonly string[]): Promise<ExecResult> {
    const key = argv.join(' ');
    this.calls.push(key);
    const rec = this.index[key];
    if (!rec) throw new Error(`recorded-exec(${this.machine}): no recording for \`${key}\``);
    return { exitCode: rec.exitCode ?? 0, stdout: readFileSync(join(EXEC_FIXTURES, this.machine, rec.stdout), 'utf8'), stderr: '' };
  }

  unused(): string[] {
    return Object.keys(this.index).filter((k) => !this.calls.includes(k));
  }
}
