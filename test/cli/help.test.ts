// Help and terminal text as a reader meets it: wrapped to the terminal's real width, never
// mid-word, summaries that read alike.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { reflow } from '../../src/help.js';
import { commands, loadAll } from '../../src/commands/index.js';
import { captureIO } from '../helpers/io.js';
import { FIXTURES } from '../helpers/sim.js';

async function run(argv: string[], columns: number) {
  const io = captureIO({ tty: true, columns });
  const code = await main(argv, { io, env: {}, platform: 'linux' });
  return { code, stdout: io.stdout };
}

/** Lines longer than `width` that a terminal would have to break (a single long word is left alone). */
const tooLong = (text: string, width: number) => text.split('\n').filter((l) => l.length > width && l.trim().includes(' '));

/**
 * Lines of a paragraph that end early: the next line's first word would have fitted. Text
 * wrapped greedily to `width` has none; text hard-wrapped at another width has many.
 */
function ragged(paragraph: string[], width: number): string[] {
  return paragraph.slice(0, -1).filter((l, i) => l.length + 1 + (paragraph[i + 1]!.trim().split(' ')[0]!.length) <= width);
}

describe('help', () => {
  const names = commands.map((c) => c.name);

  it.each([80, 120])('every command\'s help fits %i columns and its description is wrapped there, not where it was typed', async (width) => {
    for (const name of names) {
      const r = await run([...name.split(' '), '--help'], width);
      expect(r.code, name).toBe(0);
      expect(tooLong(r.stdout, width), name).toEqual([]);
      // The description: the paragraph between "Usage:" and the first section.
      const lines = r.stdout.split('\n');
      const start = lines.findIndex((l) => l.startsWith('Usage:')) + 2;
      const end = lines.findIndex((l, i) => i >= start && l === '');
      expect(ragged(lines.slice(start, end), width), name).toEqual([]);
    }
  });

  it('summaries start alike, with a verb, and the mdev group names all it does', async () => {
    const defs = await loadAll();
    const verbs = /^(check|show|list|bind|give|create|remove|write|configure|make|print|validate|manage|work|undo)\b/;
    for (const d of defs) expect(d.summary, d.name).toMatch(verbs);
    const top = (await run(['--help'], 200)).stdout;
    for (const group of ['sriov', 'vgpu', 'mdev', 'profile', 'host']) expect(top.split('\n').find((l) => l.startsWith(`  ${group} `)), group).toMatch(/ {2,}(manage|work|show) /);
    expect(top).toMatch(/mdev .*types, create, remove/);
  });

  it('reflow joins typed line breaks and keeps paragraphs', () => {
    expect(reflow('one\ntwo\n\nthree')).toBe('one two\n\nthree');
  });
});

describe('doctor on a narrow terminal', () => {
  it.each(readdirSync(FIXTURES).sort())('%s: 40 columns, no line breaks mid-word', async (machine) => {
    const r = await run(['doctor', '--root', FIXTURES + machine], 40);
    expect(tooLong(r.stdout, 40)).toEqual([]);
    // The same words as on a wide terminal: wrapping moved them, it cut none.
    const words = (t: string) => t.split(/\s+/).filter(Boolean);
    expect(words(r.stdout)).toEqual(words((await run(['doctor', '--root', FIXTURES + machine], 300)).stdout));
  });
});
