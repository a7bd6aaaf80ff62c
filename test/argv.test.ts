// The parser of cli.ts reads each command's args and options as data; commander (help.ts) is
// built from the same data and answers what the parser leaves to it. Whatever the parser takes
// must be exactly what commander selects (command, arguments, every option value), and what
// it leaves must be a command line commander answers with help or an error, or one of the
// forms it leaves on purpose.
import { describe, expect, it } from 'vitest';
import { GLOBAL_OPTIONS, parseArgv } from '../src/cli.js';
import type { AnyCommand, OptionDef } from '../src/commands/command.js';
import { commands } from '../src/commands/index.js';
import { commanderParse } from '../src/help.js';
import { captureIO } from './helpers/io.js';

const silent = () => captureIO();

async function commander(argv: string[]) {
  const r = await commanderParse(argv, silent(), argv.includes('--json'), GLOBAL_OPTIONS);
  return 'selected' in r ? { name: r.selected.def.name, args: r.selected.args, opts: r.selected.opts } : undefined;
}

async function ours(argv: string[]) {
  const s = await parseArgv(argv);
  return s && { name: s.def.name, args: s.args, opts: s.opts };
}

/** A value for an option or argument that every command's own parse would also take. */
const sample = (placeholder: string) => (placeholder.includes('...') ? ['x1', 'x2'] : ['x1']);
const longOf = (o: OptionDef) => o.flags.split(/[ ,]+/).find((w) => w.startsWith('--'))!;
const shortOf = (o: OptionDef) => o.flags.split(/[ ,]+/).find((w) => /^-[a-zA-Z]$/.test(w));

/** Command lines made from a command's data: every argument, every option in several spellings and places. */
function lines(def: AnyCommand): string[][] {
  const words = def.name.split(' ');
  const args = (def.args ?? []).flatMap((a) => sample(a.name));
  const required = (def.options ?? []).filter((o) => o.required).flatMap((o) => [longOf(o), 'v']);
  const out: string[][] = [[...words, ...args, ...required], ['--json', ...words, ...args, ...required, '--root', '/r']];
  for (const o of def.options ?? []) {
    const takes = o.flags.includes('<');
    const flag = longOf(o);
    const rest = (def.options ?? []).filter((p) => p.required && p !== o).flatMap((p) => [longOf(p), 'v']);
    out.push([...words, flag, ...(takes ? ['a'] : []), ...args, ...rest]);
    out.push([...words, ...args, ...rest, takes ? `${flag}=b` : flag, '--no-color']);
    if (takes) out.push([...words, ...args, ...rest, flag, 'a', flag, '-']);
    const short = shortOf(o);
    if (short) out.push([`--root=/r`, ...words, short, ...(takes ? ['c'] : []), ...args, ...rest]);
  }
  return out;
}

describe('parseArgv takes exactly what commander selects', () => {
  it.each(commands.map((c) => c.name))('%s: every argument and option, in every spelling the parser takes', async (name) => {
    const def = await commands.find((c) => c.name === name)!.load!();
    for (const argv of lines(def)) {
      const mine = await ours(argv);
      expect(mine, `the parser leaves ${argv.join(' ')} to commander`).toBeDefined();
      expect(mine, argv.join(' ')).toEqual(await commander(argv));
    }
  });

  it('defaults, negations and repeated options land as commander puts them', async () => {
    for (const argv of [
      ['passthrough', '01:00.0'], ['generate', 'p.yaml', '--target', 'qemu'], ['apply', 'p.yaml', '--no-persist'], ['apply', 'p.yaml'],
      ['init', '--no-primary'], ['init', '--primary'], ['init'], ['setup', '--param', 'a', '--remove-param', 'b', '--param', 'c=1'],
      ['host', 'export'], ['host', 'export', '-c', 'mine'], ['--strict', '--no-color', 'doctor', '--root', '/a', '--root=/b'],
      ['sriov', '--json', 'status'], ['--root', 'list', 'doctor'], ['generate', '-', '--target', 'qemu', '--out', '-'],
    ]) {
      const mine = await ours(argv);
      expect(mine, argv.join(' ')).toBeDefined();
      expect(mine, argv.join(' ')).toEqual(await commander(argv));
    }
    expect((await ours(['apply', 'p.yaml']))!.opts.persist).toBe(true);
    expect((await ours(['init']))!.opts).not.toHaveProperty('primary');
    expect((await ours(['setup', '--param', 'a', '--param', 'c=1']))!.opts.param).toEqual(['a', 'c=1']);
  });

  it('leaves to commander what commander answers with help or an error', async () => {
    for (const argv of [
      [], ['--help'], ['doctor', '--help'], ['doctor', '-h'], ['help', 'doctor'], ['doctr'], ['sriov'], ['sriov', 'statu'], ['list', 'extra'],
      ['list', '--gpu'], ['--gpus', 'list'], ['generate', 'p.yaml'], ['generate', '--target', 'qemu'], ['list', '--root'], ['list', '--json=1'],
      ['profile', 'validate'], ['sriov', 'enable', '--vfs'], ['--version', 'doctor'], ['doctor', '--color'],
    ]) {
      expect(await ours(argv), argv.join(' ')).toBeUndefined();
      expect(await commander(argv), argv.join(' ')).toBeUndefined();
    }
  });

  it('leaves to commander the forms it does not read itself, which commander then runs', async () => {
    for (const argv of [
      ['list', '--'], ['generate', 'p.yaml', '--target', '--json'], ['release', '-y', '--dry-run', '--', '01:00.0'], ['host', 'export', '-cmine'],
    ]) {
      expect(await ours(argv), argv.join(' ')).toBeUndefined();
    }
    expect(await commander(['release', '-y', '--dry-run', '--', '01:00.0'])).toMatchObject({ name: 'release', args: ['01:00.0'], opts: { yes: true, dryRun: true } });
    expect(await commander(['host', 'export', '-cmine'])).toMatchObject({ name: 'host export', opts: { config: 'mine' } });
  });
});

describe('options whose value commander reads its own way', () => {
  it('an optional or variadic value is left to commander; a value with brackets inside <> is not', async () => {
    const { doctor } = await import('../src/commands/doctor.js');
    const saved = doctor.options;
    try {
      for (const flags of ['--level [n]', '--tag <t...>']) {
        (doctor as { options?: readonly OptionDef[] }).options = [{ flags, help: 'test' }];
        const argv = ['doctor', flags.split(' ')[0]!, 'x'];
        expect(await ours(argv), flags).toBeUndefined();
      }
      (doctor as { options?: readonly OptionDef[] }).options = [{ flags: '--param <key[=value]>', help: 'test' }];
      expect((await ours(['doctor', '--param', 'a=1']))?.opts.param).toBe('a=1');
    } finally {
      (doctor as { options?: readonly OptionDef[] }).options = saved;
    }
  });
});
