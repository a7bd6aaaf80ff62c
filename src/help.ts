// What cli.ts leaves to commander: help, usage errors ("did you mean"), and any argv its own
// parser does not take (`--`, grouped short flags). The command tree is built from the same
// data the parser reads, so help and parsing cannot drift; this module is loaded only then.
import { Command, CommanderError } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import type { AnyCommand, OptionDef } from './commands/command.js';
import { commands, GROUPS, loadAll } from './commands/index.js';
import type { IO } from './context.js';
import { ExitCode, GpuvirtError } from './errors.js';
import { asGpuvirtError, type Selected } from './run.js';

export const sentence = (s: string) => `${s.charAt(0).toUpperCase()}${s.slice(1)}.`;

/**
 * Help texts are paragraphs: their single line breaks become spaces, so commander wraps them
 * to the terminal's real width (not a width someone typed them at).
 */
export function reflow(text: string): string {
  return text.replace(/([^\n])\n(?=[^\n])/g, '$1 ');
}

function addOption(cmd: Command, o: OptionDef): void {
  if (o.repeatable) cmd.option(o.flags, o.help, (v: string, acc: string[]) => [...acc, v], []);
  else if (o.required) cmd.requiredOption(o.flags, o.help, o.default);
  else cmd.option(o.flags, o.help, o.default);
}

/** The whole command tree; also read at build time for the man page and shell completions (scripts/package/docs.ts). */
export function buildProgram(io: IO, json: boolean, globals: readonly OptionDef[], defs: readonly AnyCommand[], pick: (s: Selected) => void): Command {
  const program = new Command('gpuvirt');
  program
    .description('Prepare Linux hosts for GPU passthrough and SR-IOV, and write the VM configuration that uses them.')
    .version(pkg.version, '-V, --version');
  for (const o of globals) addOption(program, o);
  program
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => (json ? undefined : io.err(s)),
      getOutHelpWidth: () => (io.isTTY ? io.columns : 80),
      getErrHelpWidth: () => (io.isTTY ? io.columns : 80),
      // Errors are reported by reportFailure, with the suggestion as a hint.
      outputError: () => undefined,
    });
  const parents = new Map<string, Command>();
  for (const def of defs) {
    // "sriov enable" is the subcommand enable of a group command sriov.
    const [group, leaf] = def.name.includes(' ') ? def.name.split(' ') as [string, string] : [null, def.name];
    let parent = program;
    if (group) {
      parent = parents.get(group) ?? program.command(group).summary(GROUPS[group] ?? group).description(sentence(GROUPS[group] ?? group));
      parents.set(group, parent);
    }
    const cmd = parent.command(leaf).summary(def.summary).description(reflow(def.help ?? sentence(def.summary)));
    for (const a of def.args ?? []) cmd.argument(a.name, a.help);
    for (const o of def.options ?? []) addOption(cmd, o);
    cmd.action((...a: unknown[]) => {
      const self = a[a.length - 1] as Command;
      pick({ def, args: self.args, opts: { ...program.opts(), ...self.opts() } });
    });
  }
  return program;
}

/** A commander error as a usage error; its "(Did you mean doctor?)" becomes the hint. */
function toGpuvirtError(err: unknown): GpuvirtError {
  if (!(err instanceof CommanderError)) return asGpuvirtError(err);
  const text = err.message.replace(/^error: /, '');
  const m = /\s*\(Did you mean (.+)\?\)\s*$/.exec(text);
  const message = m ? text.slice(0, m.index) : text.trim();
  return new GpuvirtError('E_USAGE', message, { exitCode: ExitCode.usage, hint: m ? `did you mean ${m[1]}?` : undefined });
}

/** The command named in argv ("sriov enable" for a subcommand), for JSON errors. */
function commandName(argv: readonly string[]): string {
  for (const c of commands) {
    const words = c.name.split(' ');
    const i = argv.indexOf(words[0]!);
    if (i >= 0 && words.every((w, k) => argv[i + k] === w)) return c.name;
  }
  return argv.find((a) => a in GROUPS) ?? 'gpuvirt';
}

export type Commanded = { selected: Selected } | { exitCode: number } | { error: { raw: unknown; err: GpuvirtError; command: string; help?: string } };

/** argv as commander parses it, with every command loaded: the command to run, help printed (and the exit status), or the usage error. */
export async function commanderParse(argv: readonly string[], io: IO, json: boolean, globals: readonly OptionDef[]): Promise<Commanded> {
  let selected: Selected | undefined;
  try {
    const program = buildProgram(io, json, globals, await loadAll(), (s) => (selected = s));
    try {
      program.parse([...argv], { from: 'user' });
    } catch (err) {
      if (err instanceof CommanderError && (err.exitCode === 0 || err.code === 'commander.helpDisplayed')) return { exitCode: ExitCode.ok };
      throw err;
    }
    if (selected) return { selected };
    program.outputHelp({ error: true });
    return { exitCode: ExitCode.usage };
  } catch (raw) {
    const command = commandName(argv);
    const help = raw instanceof CommanderError ? `see \`gpuvirt ${command === 'gpuvirt' ? '' : `${command} `}--help\`` : undefined;
    return { error: { raw, err: toGpuvirtError(raw), command, help } };
  }
}
