// The shape every subcommand file exports. Its arguments and options are data (read by the
// parser in cli.ts, and by commander only to print help and usage errors); `parse` turns what
// was found into typed options, and `run` returns data that `render` or the JSON writer prints.
import type { Ctx } from '../context.js';
import type { Outcome, Style } from '../output.js';

/** A positional argument as help shows it: `<profile>` required, `[pf]` optional, `<file...>` one or more. */
export interface ArgDef {
  name: string;
  help: string;
}

/**
 * An option: `flags` as help shows them (`-y, --yes`, `--out <file>`, `--no-persist`). The
 * value lands under the long name in camelCase (`--dry-run` → dryRun; `--no-x` sets x false).
 */
export interface OptionDef {
  flags: string;
  help: string;
  default?: string;
  /** The command cannot run without it. */
  required?: boolean;
  /** Given several times, every value is kept, in order (default: the last wins). */
  repeatable?: boolean;
}

export interface CommandDef<O, D> {
  name: string;
  summary: string;
  /** Longer text shown by `gpuvirt <name> --help`. */
  help?: string;
  /** Host work needs Linux; false for commands that only read files (generate, profile validate). */
  linuxOnly: boolean;
  args?: readonly ArgDef[];
  options?: readonly OptionDef[];
  parse(args: string[], opts: Record<string, unknown>): O;
  run(opts: O, ctx: Ctx): Promise<Outcome<D>>;
  render(data: D, style: Style, ctx: Ctx): string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCommand = CommandDef<any, any>;
