// The shape every subcommand file exports. commander only parses: `configure` declares the
// arguments and options, `parse` turns what commander found into typed options, and `run`
// (which never sees commander) returns data that `render` or the JSON writer prints.
import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import type { Outcome, Style } from '../output.js';

export interface CommandDef<O, D> {
  name: string;
  summary: string;
  /** Longer text shown by `gpuvirt <name> --help`. */
  help?: string;
  /** Host work needs Linux; false for commands that only read files (generate, profile validate). */
  linuxOnly: boolean;
  configure(cmd: Command): void;
  parse(args: string[], opts: Record<string, unknown>): O;
  run(opts: O, ctx: Ctx): Promise<Outcome<D>>;
  render(data: D, style: Style, ctx: Ctx): string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCommand = CommandDef<any, any>;
