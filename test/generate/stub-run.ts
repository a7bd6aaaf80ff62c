// Runs a generated script with stand-ins for the commands it calls: each prints its argv as
// NUL-ended words, a line per call, so a test reads exactly what the script would run.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function runWithStubs(script: string, commands: readonly string[]): string[][] {
  const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-stub-'));
  try {
    for (const c of commands) {
      writeFileSync(join(dir, c), `#!/bin/sh\nprintf '%s\\0' ${c} "$@"\necho\n`);
      chmodSync(join(dir, c), 0o755);
    }
    const file = join(dir, 'script.sh');
    writeFileSync(file, script);
    const r = spawnSync('/bin/sh', [file], { encoding: 'utf8', env: { PATH: dir } });
    if (r.status !== 0) throw new Error(`script failed: ${r.stderr}`);
    return r.stdout.split('\n').filter((l) => l).map((l) => l.split('\0').slice(0, -1));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
