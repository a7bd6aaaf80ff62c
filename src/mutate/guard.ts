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

/**
 * inquirer, loaded only when a question is really asked. The per-command bundles hold
 * read-only commands, which ask nothing, so inquirer is left out of them.
 */
const inquirer = () =>
  typeof GPUVIRT_ONLY === 'string' ? Promise.reject(new Error(`unreachable: ${GPUVIRT_ONLY} asked a question`)) : import('@inquirer/prompts');

export const inquirerPrompter: Prompter = {
  async confirm(message, def = false) {
    const { confirm } = await inquirer();
    return confirm({ message, default: def });
  },
  async select(message, choices, def) {
    const { select } = await inquirer();
    return select({ message, choices, default: def });
  },
};
