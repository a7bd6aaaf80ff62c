// The man page and the bash, zsh and fish completions, written from the command tree the CLI
// itself parses with (every command of src/commands/index.ts, loaded): names, arguments,
// options and help are never restated by hand, so they cannot drift from the program.
//
//   tsx scripts/package/docs.ts <out-dir>   → gpuvirt.1, gpuvirt.bash, _gpuvirt, gpuvirt.fish
import type { Argument, Command, Option } from 'commander';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GLOBAL_OPTIONS } from '../../src/cli.js';
import { buildProgram } from '../../src/help.js';
import { loadAll } from '../../src/commands/index.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** A leaf command with its full name ("sriov enable") and the options it takes, global ones first. */
interface Leaf {
  words: string[];
  cmd: Command;
  options: Option[];
}

export async function commandTree(): Promise<{ program: Command; leaves: Leaf[]; groups: Command[] }> {
  const silent = { out: () => {}, err: () => {}, isTTY: false, color: false, columns: 80 };
  const program = buildProgram(silent, false, GLOBAL_OPTIONS, await loadAll(), () => {});
  const leaves: Leaf[] = [];
  const groups: Command[] = [];
  const visible = (o: Option) => !o.hidden;
  for (const top of program.commands) {
    if (top.commands.length === 0) leaves.push({ words: [top.name()], cmd: top, options: top.options.filter(visible) });
    else groups.push(top);
    for (const sub of top.commands) leaves.push({ words: [top.name(), sub.name()], cmd: sub, options: sub.options.filter(visible) });
  }
  return { program, leaves, groups };
}

const argText = (a: Argument) => `${a.required ? '<' : '['}${a.name()}${a.variadic ? '...' : ''}${a.required ? '>' : ']'}`;
const usage = (l: Leaf) => ['gpuvirt', ...l.words, ...(l.options.length ? ['[options]'] : []), ...l.cmd.registeredArguments.map(argText)].join(' ');
/** What an option's value is: a directory, a file, a fixed list, or anything. */
function valueKind(o: Option): 'none' | 'dir' | 'file' | string[] {
  if (!o.required && !o.optional) return 'none';
  if (o.argChoices) return o.argChoices;
  if (o.long === '--root') return 'dir';
  return /<file>/.test(o.flags) ? 'file' : [];
}

// ---- man page (roff; no date, so the same sources make the same page) ----

function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}
const para = (text: string) => roff(text.replace(/\n(?!\n)/g, ' ').replace(/ +/g, ' ').trim());

function optionItems(options: readonly Option[]): string[] {
  return options.flatMap((o) => ['.TP', `.B ${roff(o.flags)}`, para(o.description + (o.defaultValue !== undefined && typeof o.defaultValue !== 'boolean' ? ` (default: ${o.defaultValue})` : ''))]);
}

/** The README's exit status table, as (status, meaning) rows. */
function exitStatuses(): [string, string][] {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Exit codes')) ?? '';
  return [...section.matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => [m[1]!, m[2]!.replace(/`/g, '')]);
}

export function manPage(program: Command, leaves: Leaf[], version: string): string {
  const lines = [
    `.TH GPUVIRT 1 "" "gpuvirt ${version}" "User Commands"`,
    '.SH NAME',
    `gpuvirt \\- ${para(program.description().replace(/\.$/, ''))}`,
    '.SH SYNOPSIS',
    '.B gpuvirt',
    '[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]',
    '.SH DESCRIPTION',
    para(program.description()),
    'Every command prints a readable report on a terminal, plain stable lines on a pipe, and one versioned JSON document with',
    '.BR \\-\\-json .',
    '.SH GLOBAL OPTIONS',
    ...optionItems(program.options),
    '.SH COMMANDS',
  ];
  for (const l of leaves) {
    lines.push(`.SS "${roff(usage(l))}"`, para(l.cmd.description() || l.cmd.summary()));
    if (l.options.length) lines.push('.RS', ...optionItems(l.options), '.RE');
  }
  lines.push(
    '.SH ENVIRONMENT',
    '.TP', '.B GPUVIRT_ROOT', para('read and change the host under this directory instead of / (as --root)'),
    '.TP', '.B NO_COLOR', para('no colour, even on a terminal'),
    '.TP', '.B GPUVIRT_DEBUG', para('set to 1: an unexpected error prints its stack'),
    '.SH EXIT STATUS',
    ...exitStatuses().flatMap(([code, text]) => ['.TP', `.B ${code}`, para(text)]),
    '.SH FILES',
    '.TP', '.I /var/lib/gpuvirt/state.json', para('the devices gpuvirt changed, so that release can undo it'),
  );
  return `${lines.join('\n')}\n`;
}

// ---- completions ----

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

export function bashCompletion(program: Command, leaves: Leaf[], groups: Command[]): string {
  const top = program.commands.map((c) => c.name()).join(' ');
  // --version stands alone: after a command it is not an option.
  const globals = program.options.filter((o) => o.long !== '--version').map((o) => o.long!).join(' ');
  const cases: string[] = [];
  for (const g of groups) cases.push(`    ${shq(g.name())}) words_here=${shq(g.commands.map((c) => c.name()).join(' '))} ;;`);
  for (const l of leaves) {
    const opts = l.options.flatMap((o) => [o.long, o.short].filter(Boolean)).join(' ');
    cases.push(`    ${shq(l.words.join(' '))}) opts_here=${shq(`${opts} ${globals}`)}; files_here=${l.cmd.registeredArguments.length > 0 && !/address|pf|device/.test(l.cmd.registeredArguments.map((a) => a.name()).join()) ? 1 : 0} ;;`);
  }
  const values: string[] = [];
  for (const o of [...program.options, ...leaves.flatMap((l) => l.options)]) {
    const kind = valueKind(o);
    if (kind === 'none') continue;
    const action = kind === 'dir' ? 'compgen -d -- "$cur"' : kind === 'file' ? 'compgen -f -- "$cur"' : `compgen -W ${shq(kind.join(' '))} -- "$cur"`;
    for (const flag of [o.long, o.short].filter(Boolean)) values.push(`    ${flag}) COMPREPLY=($(${action})); return ;;`);
  }
  return `# bash completion for gpuvirt (generated from its command definitions)
_gpuvirt() {
  local cur prev path="" words_here="" opts_here=${shq(program.options.map((o) => o.long!).join(' '))} files_here=0 i w
  cur=\${COMP_WORDS[COMP_CWORD]}
  prev=\${COMP_WORDS[COMP_CWORD-1]}
  case "$prev" in
${[...new Set(values)].join('\n')}
  esac
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    case "$w" in
      --root) ((i++)); continue ;;
      -*) continue ;;
    esac
    if [ -z "$path" ]; then path=$w; elif [ -n "$words_here" ] && [[ " $words_here " == *" $w "* ]]; then path="$path $w"; fi
    words_here=""
    case "$path" in
${cases.join('\n')}
    esac
  done
  if [ -z "$path" ]; then words_here=${shq(top)}; fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts_here" -- "$cur"))
  elif [ -n "$words_here" ]; then
    COMPREPLY=($(compgen -W "$words_here" -- "$cur"))
  elif [ "$files_here" = 1 ]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -o bashdefault -F _gpuvirt gpuvirt
`;
}

function zshSpec(o: Option): string {
  const desc = oneLine(o.description).replace(/[[\]:\\]/g, '\\$&');
  const kind = valueKind(o);
  const action = kind === 'none' ? '' : kind === 'dir' ? ':dir:_files -/' : kind === 'file' ? ':file:_files' : kind.length ? `:value:(${kind.join(' ')})` : ':value: ';
  const names = [o.short, o.long].filter(Boolean) as string[];
  const spec = (n: string) => `${n}[${desc}]${action}`;
  return names.length > 1 ? `'(${names.join(' ')})'{${names.join(',')}}${shq(`[${desc}]${action}`)}` : shq(spec(names[0]!));
}

export function zshCompletion(program: Command, leaves: Leaf[], groups: Command[]): string {
  const describe = (cmds: readonly Command[]) => cmds.map((c) => shq(`${c.name()}:${oneLine(c.summary() || c.description()).replace(/:/g, '\\:')}`)).join(' ');
  const leafCases = leaves.map((l) => {
    const args = l.cmd.registeredArguments.map((a) => shq(`${a.variadic ? '*' : ''}:${a.name()}:${/profile|file/.test(a.name()) ? '_files' : ' '}`));
    return `    ${shq(l.words.join(' '))}) _arguments -s ${[...program.options.filter((o) => o.long !== '--version'), ...l.options].map(zshSpec).join(' ')} ${args.join(' ')} ;;`;
  });
  const groupCases = groups.map((g) => `      ${shq(g.name())}) local -a subs; subs=(${describe(g.commands)}); _describe command subs; return ;;`);
  return `#compdef gpuvirt
# zsh completion for gpuvirt (generated from its command definitions)
_gpuvirt() {
  # (not "path": zsh ties it to PATH)
  local -a top; local w cmd="" i=2
  top=(${describe(program.commands)})
  while (( i < CURRENT )); do
    w=\${words[i]}
    if [[ $w == --root ]]; then (( i += 2 )); continue; fi
    if [[ $w != -* ]]; then cmd=\${cmd:+$cmd }$w; fi
    (( i++ ))
    case "$cmd" in
${leaves.map((l) => `      ${shq(l.words.join(' '))}) break ;;`).join('\n')}
    esac
  done
  if [[ -z $cmd ]]; then
    if [[ \${words[CURRENT]} == -* ]]; then _arguments -s ${program.options.map(zshSpec).join(' ')}; else _describe command top; fi
    return
  fi
  if [[ $cmd != *' '* && \${words[CURRENT]} != -* ]]; then
    case "$cmd" in
${groupCases.join('\n')}
    esac
  fi
  words=("gpuvirt" "\${(@)words[i,-1]}"); (( CURRENT -= i - 2 ))
  case "$cmd" in
${leafCases.join('\n')}
  esac
}
_gpuvirt "$@"
`;
}

export function fishCompletion(program: Command, leaves: Leaf[], groups: Command[]): string {
  const fq = (s: string) => shq(oneLine(s));
  const topNames = program.commands.map((c) => c.name()).join(' ');
  const lines = ['# fish completion for gpuvirt (generated from its command definitions)', 'complete -c gpuvirt -f'];
  const optLine = (cond: string, o: Option) => {
    const kind = valueKind(o);
    const parts = ['complete -c gpuvirt', cond ? `-n ${shq(cond)}` : ''];
    if (o.long) parts.push(`-l ${o.long.slice(2)}`);
    if (o.short) parts.push(`-s ${o.short.slice(1)}`);
    if (kind === 'dir') parts.push("-r -a '(__fish_complete_directories)'");
    else if (kind === 'file') parts.push('-r -F');
    else if (kind !== 'none') parts.push(kind.length ? `-x -a ${shq(kind.join(' '))}` : '-x');
    parts.push(`-d ${fq(o.description)}`);
    return parts.filter(Boolean).join(' ');
  };
  for (const o of program.options) lines.push(optLine('', o));
  for (const c of program.commands) lines.push(`complete -c gpuvirt -n ${shq(`not __fish_seen_subcommand_from ${topNames}`)} -a ${c.name()} -d ${fq(c.summary() || c.description())}`);
  for (const g of groups) {
    const subs = g.commands.map((c) => c.name()).join(' ');
    for (const c of g.commands) lines.push(`complete -c gpuvirt -n ${shq(`__fish_seen_subcommand_from ${g.name()}; and not __fish_seen_subcommand_from ${subs}`)} -a ${c.name()} -d ${fq(c.summary() || c.description())}`);
  }
  for (const l of leaves) {
    const cond = l.words.map((w) => `__fish_seen_subcommand_from ${w}`).join('; and ');
    for (const o of l.options) lines.push(optLine(cond, o));
    if (l.cmd.registeredArguments.some((a) => /profile|file/.test(a.name()))) lines.push(`complete -c gpuvirt -n ${shq(cond)} -F`);
  }
  return `${lines.join('\n')}\n`;
}

export async function writeDocs(outDir: string): Promise<void> {
  const { version } = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  const { program, leaves, groups } = await commandTree();
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'gpuvirt.1'), manPage(program, leaves, version));
  writeFileSync(path.join(outDir, 'gpuvirt.bash'), bashCompletion(program, leaves, groups));
  writeFileSync(path.join(outDir, '_gpuvirt'), zshCompletion(program, leaves, groups));
  writeFileSync(path.join(outDir, 'gpuvirt.fish'), fishCompletion(program, leaves, groups));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.length !== 3) {
    console.error('usage: tsx scripts/package/docs.ts <out-dir>');
    process.exitCode = 2;
  } else await writeDocs(process.argv[2]!);
}
