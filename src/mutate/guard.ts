// The gates every mutating command passes before it touches the host.
import type { Ctx, Prompter } from '../context.js';
import { ExitCode, GpuvirtError } from '../errors.js';

export function requireRoot(ctx: Pick<Ctx, 'host'>, command: string): void {
  if (!ctx.host.isPrivileged()) {
    throw new GpuvirtError('E_NEEDS_ROOT', `gpuvirt ${command} changes the host and needs root`, {
      exitCode: ExitCode.needsRoot,
      hint: `run it with sudo, or add --dry-run to see the plan without changing anything`,
    });
  }
}

/** Asks on a terminal; without one (or in JSON mode) only --yes may go ahead. */
export async function confirmChange(ctx: Pick<Ctx, 'io' | 'json' | 'prompt'>, yes: boolean, question: string): Promise<void> {
  if (yes) return;
  if (ctx.json || !ctx.io.isTTY) {
    throw new GpuvirtError('E_CONFIRM', 'not changing the host without confirmation: no terminal to ask on', {
      exitCode: ExitCode.usage,
      hint: 'pass --yes to apply the plan, or --dry-run to print it',
    });
  }
  if (!(await ctx.prompt.confirm(question))) {
    throw new GpuvirtError('E_CANCELLED', 'cancelled; nothing was changed', { exitCode: ExitCode.cancelled });
  }
}

/** inquirer, loaded only when a question is really asked. */
export const inquirerPrompter: Prompter = {
  async confirm(message) {
    const { confirm } = await import('@inquirer/prompts');
    return confirm({ message, default: false });
  },
  async select(message, choices) {
    const { select } = await import('@inquirer/prompts');
    return select({ message, choices });
  },
};
