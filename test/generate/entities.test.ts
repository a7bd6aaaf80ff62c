// Entity-shaped text (`&#10;`, `&unknown;`) in names and ROM paths, a QEMU binary that looks
// like an option, and profiles too large or with too many keys (issue: a confined host).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gpuvirt } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-entities-'));
const file = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};
const base = (extra: string, name = 'vm') => `apiVersion: gpuvirt/v1
name: ${JSON.stringify(name)}
firmware: bios
memory: 4GiB
cpu: { cores: 2 }
devices:
  - type: gpu
    select: { address: 0000:01:00.0 }
    functions: [0]
    rom: { file: "/roms/a&#10;b&unknown;&amp;.rom" }
${extra}`;

describe('entity-shaped text and option-shaped programs', () => {
  it('libvirt: &#10; and &unknown; come out escaped, the XML is well-formed and reads back unchanged', async () => {
    const f = file('ent.yaml', base('targets:\n  libvirt: { domainName: "d&#10;x&unknown;" }\n'));
    const r = await gpuvirt(['generate', f, '--target', 'libvirt', '--offline', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const xml: string = r.doc.data.output;
    expect(xml).toContain('<name>d&amp;#10;x&amp;unknown;</name>');
    expect(xml).toContain('file="/roms/a&amp;#10;b&amp;unknown;&amp;amp;.rom"');
    // libxml2 (libvirt's parser) reads the strings back exactly.
    const read = (xpath: string) => spawnSync('xmllint', ['--xpath', xpath, '-'], { input: xml, encoding: 'utf8' });
    const name = read('string(/domain/name)');
    if (name.error) return; // no xmllint here
    expect(name.status, name.stderr).toBe(0);
    expect(name.stdout.replace(/\n$/, '')).toBe('d&#10;x&unknown;');
    expect(read('string(//rom/@file)').stdout.replace(/\n$/, '')).toBe('/roms/a&#10;b&unknown;&amp;.rom');
  });

  it('qemu: a binary "-c" is refused (it would be an option of exec), not written into the script', async () => {
    const f = file('bin.yaml', base('targets:\n  qemu: { binary: "-c" }\n'));
    const r = await gpuvirt(['generate', f, '--target', 'qemu', '--offline']);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toContain('a program, not an option');
  });
});

describe('profile size', () => {
  it('a 20 MB profile is refused with a one-line message that does not echo it', async () => {
    const f = file('huge.yaml', `apiVersion: gpuvirt/v1\nname: ${'A'.repeat(20 * 1024 * 1024)}\n`);
    const r = await gpuvirt(['profile', 'validate', f]);
    expect(r.code).toBe(2);
    expect(r.stderr.length).toBeLessThan(400);
    expect(r.stderr).toContain('too big for a profile');
  });

  it('a long value just under the limit is reported without echoing it', async () => {
    const f = file('long.yaml', `apiVersion: gpuvirt/v1\nname: x\nmemory: ${'9'.repeat(900 * 1024)}x\n${'k'.repeat(100_000)}: 1\n`);
    const r = await gpuvirt(['profile', 'validate', f, '--json']);
    expect(r.code).toBe(2);
    for (const p of r.doc.data.files[0].problems) expect(p.message.length).toBeLessThan(300);
  });

  it('validation time grows linearly with unknown keys', async () => {
    const keys = (n: number) => file(`k${n}.yaml`, `apiVersion: gpuvirt/v1\nname: x\nmemory: 4GiB\ncpu: { cores: 2 }\ndevices: []\n${Array.from({ length: n }, (_, i) => `k${i}: 1`).join('\n')}\n`);
    const time = async (f: string) => {
      const t = performance.now();
      const r = await gpuvirt(['profile', 'validate', f, '--json']);
      expect(r.code).toBe(2);
      return performance.now() - t;
    };
    const [small, big] = [keys(5000), keys(20000)];
    await time(small);
    const t1 = await time(small);
    const t4 = await time(big);
    // Quadratic would be 16x; allow noise on a shared machine.
    expect(t4 / t1).toBeLessThan(9);
  });
});
