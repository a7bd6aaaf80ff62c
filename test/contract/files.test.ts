// Files the user names: an existing --out is replaced only with --force (as init and snapshot
// do), and a huge profile line is never echoed back whole.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gpuvirt, PROFILES } from '../generate/run.js';
import { FIXTURES } from '../helpers/sim.js';

const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-files-'));
const GAMING = [`${PROFILES}nvidia-gaming.yaml`, '--root', FIXTURES + 'intel-desktop-nvidia'];

describe('generate --out', () => {
  it('refuses to replace an existing file without --force, and replaces it with', async () => {
    const out = join(dir, 'vm.xml');
    writeFileSync(out, 'precious\n');
    const r = await gpuvirt(['generate', ...GAMING, '--target', 'libvirt', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--out ${out}: file exists (add --force to replace it)`);
    expect(readFileSync(out, 'utf8')).toBe('precious\n');
    const forced = await gpuvirt(['generate', ...GAMING, '--target', 'libvirt', '--out', out, '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('<domain');
  });
});

describe('a long one-line value (a 20 MB file is refused whole, so just under 1 MiB)', () => {
  const big = 'x'.repeat(1_000_000);

  it('is cut around the spot in the excerpt and in messages, in text and JSON', async () => {
    const f = join(dir, 'big.yaml');
    writeFileSync(f, `apiVersion: gpuvirt/v1\nname: t\ndescription: ${big}\nmemory: 4GiB\nk${'k'.repeat(500)}: 1\ncpu: { cores: 2 }\ndisplay: { fallback: virtio-gpu }\ndevices: []\n`);
    const text = await gpuvirt(['profile', 'validate', f]);
    expect(text.code).toBe(2);
    expect(text.stdout.length).toBeLessThan(2000);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe(`${f}:3:14: error: must be at most 4000 characters`);
    expect(lines[1]).toMatch(/^ {3}3 \| description: x+…$/);
    expect(lines[2]!.indexOf('^')).toBe(lines[1]!.indexOf('x'));
    expect(lines.find((l) => l.includes('unknown key'))!.length).toBeLessThan(400);
    const json = await gpuvirt(['profile', 'validate', f, '--json']);
    expect(JSON.stringify(json.doc).length).toBeLessThan(4000);
    expect(json.doc.data.files[0].problems.map((p: { message: string }) => p.message.length).every((n: number) => n <= 300)).toBe(true);
  });

  it('a YAML error on a 1 MB line shows a window of it', async () => {
    const f = join(dir, 'bigkey.yaml');
    writeFileSync(f, `apiVersion: gpuvirt/v1\nname: t\n${big}: 1\n`);
    const r = await gpuvirt(['profile', 'validate', f]);
    expect(r.code).toBe(2);
    expect(r.stdout.length).toBeLessThan(2000);
  });
});
