// Host configuration files for the tests, written to a temporary directory.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-hostconfig-'));
let n = 0;

export function configFile(text: string): string {
  const f = join(dir, `hosts-${++n}.yaml`);
  writeFileSync(f, text);
  return f;
}
