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

/** inquirer, loaded only when a question is really asked. */
export const inquirerPrompter: Prompter = {
  async confirm(message, def = false) {
    const { confirm } = await import('@inquirer/prompts');
    return confirm({ message, default: def });
  },
  async select(message, choices, def) {
    const { select } = await import('@inquirer/prompts');
    return select({ message, choices, default: def });
  },
};
