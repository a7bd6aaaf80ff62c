// The man page and shell completions written from the command tree (scripts/package/docs.ts).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../../src/commands/index.js';
import { writeDocs } from '../../scripts/package/docs.js';

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

describe('generated man page and completions', () => {
  let dir = '';
  const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'gpuvirt-docs-'));
    await writeDocs(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the man page has a section for every command of the registry, with its options', async () => {
    const man = read('gpuvirt.1');
    const sections = [...man.matchAll(/^\.SS "gpuvirt ([a-z ]+?)(?: \[|"| <)/gm)].map((m) => m[1]);
    expect(sections).toEqual(commands.map((c) => c.name));
    const enable = man.slice(man.indexOf('.SS "gpuvirt sriov enable'), man.indexOf('.SS "gpuvirt sriov disable'));
    for (const flag of ['\\-\\-vfs <n>', '\\-\\-bind <driver>', '\\-\\-dry\\-run', '\\-y, \\-\\-yes']) expect(enable).toContain(`.B ${flag}`);
    expect(man).toMatch(/^\.TH GPUVIRT 1 "" "gpuvirt \d+\.\d+\.\d+"/);
    // No line may start with a dot or quote that roff would read as a request.
    expect(man.split('\n').filter((l) => /^[.']/.test(l) && !/^\.(TH|SH|SS|TP|B|BR|RS|RE|I) ?/.test(l))).toEqual([]);
    expect(man).toContain('.SH EXIT STATUS\n.TP\n.B 0\nok\n');
  });

  const complete = (words: string[]) => {
    const script = `. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _gpuvirt; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['-c', script, 'bash', path.join(dir, 'gpuvirt.bash'), 'gpuvirt', ...words], { encoding: 'utf8', cwd: dir });
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean);
  };

  it.each([
    { words: [''], want: [...new Set(commands.map((c) => c.name.split(' ')[0]))] },
    { words: ['sr'], want: ['sriov'] },
    { words: ['sriov', ''], want: ['status', 'enable', 'disable'] },
    { words: ['--json', 'profile', ''], want: ['validate', 'schema', 'check'] },
    { words: ['--root', '/x', 'mdev', 'c'], want: ['create'] },
    { words: ['sriov', 'enable', '--'], want: ['--vfs', '--bind', '--persist', '--vf-profile', '--dry-run', '--yes', '--force', '--root', '--json', '--no-color', '--strict'] },
    { words: ['list', '--g'], want: ['--gpus'] },
    { words: ['--'], want: ['--version', '--root', '--json', '--no-color', '--strict'] },
    { words: ['doctor', '--'], want: ['--root', '--json', '--no-color', '--strict'] },
  ])('bash completes gpuvirt $words', ({ words, want }) => {
    expect(complete(words)).toEqual(want);
  });

  it('bash completes --root with directories and a profile with files', () => {
    mkdirSync(path.join(dir, 'host'));
    expect(complete(['--root', ''])).toEqual(['host']);
    expect(complete(['generate', 'gpuvirt.'])).toEqual(['gpuvirt.1', 'gpuvirt.bash', 'gpuvirt.fish']);
    expect(complete(['snapshot', '--out', 'gpuvirt.'])).toEqual(['gpuvirt.1', 'gpuvirt.bash', 'gpuvirt.fish']);
    // A driver name is no file name.
    expect(complete(['sriov', 'enable', '--bind', 'gpu'])).toEqual([]);
  });

  it.runIf(has('zsh'))('zsh reads _gpuvirt', () => {
    expect(spawnSync('zsh', ['-n', path.join(dir, '_gpuvirt')], { encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' });
  });

  it.runIf(has('fish'))('fish reads gpuvirt.fish and offers the subcommands', () => {
    const r = spawnSync('fish', ['-c', `source ${path.join(dir, 'gpuvirt.fish')}; complete -C 'gpuvirt sriov '`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0])).toEqual(['disable', 'enable', 'status']);
  });
});
