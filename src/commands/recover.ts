import type { CommandDef } from './command.js';
import type { Style } from '../output.js';
import { recover, type RecoverData } from '../change/recover.js';

function render(d: RecoverData, s: Style): string {
  if (!d.run) return 'Nothing to recover: no gpuvirt run was interrupted on this host.\n';
  const r = d.run;
  const out = [s.bold(`gpuvirt ${r.command} (pid ${r.pid}, started ${r.startedAt}) ${r.rollbackIncomplete ? 'could not finish its rollback' : `was interrupted at step ${r.step} of ${r.steps}`}.`)];
  if (!d.applied) {
    out.push(d.dryRun ? 'Recovery would (dry run, nothing changed):' : 'Recovery:');
    out.push(...(d.undo.length ? d.undo.map((u, i) => `  ${i + 1}. ${u}`) : ['  nothing: no step had started']));
    return `${out.join('\n')}\n`;
  }
  if (d.applied.ok) out.push(s.green(`Recovered: every started step was undone; the host shows what it showed before the run (${d.facts.length} facts read again).`));
  else out.push(s.red('Recovery incomplete:'), ...[...d.applied.errors, ...d.applied.differences].map((e) => `  ${e}`), 'Fix what is named above, then run `gpuvirt recover` again.');
  return `${out.join('\n')}\n`;
}

export const recoverCommand: CommandDef<{ dryRun: boolean; yes: boolean }, RecoverData> = {
  name: 'recover',
  summary: 'undo what an interrupted gpuvirt run changed',
  help: [
    'Every change gpuvirt makes is journalled before its first write. When a run dies (kill -9, a',
    'crash, power loss) or cannot finish its rollback, the journal stays, and every later change',
    'refuses to start until it is dealt with. `recover` shows that run and what undoing it takes,',
    'asks, undoes every step that had started, and checks the host is as it was before the run.',
  ].join('\n'),
  linuxOnly: true,
  options: [
    { flags: '--dry-run', help: 'show what recovery would do, and change nothing' },
    { flags: '-y, --yes', help: 'recover without asking' },
  ],
  parse: (_args, opts) => ({ dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes) }),
  run: (opts, ctx) => recover(ctx, opts, async (d) => render(d, await ctx.style())),
  render,
};
