// The registry: every subcommand, in the order `gpuvirt --help` lists them.
import type { AnyCommand } from './command.js';
import { doctor } from './doctor.js';
import { list } from './list.js';

export const commands: AnyCommand[] = [doctor, list];
