// Changes combine by concatenation: one plan, one question, one journal, one rollback. A program
// that several parts run alike (modprobe vfio-pci) runs once, at its first place.
import { ExitCode } from '../errors.js';
import type { Step } from '../mutate/steps.js';
import type { ChangePlan } from './types.js';

export function combine<V>(view: V, parts: readonly ChangePlan<unknown>[], question: string, extra: Step[] = []): ChangePlan<V> {
  const seen = new Set<string>();
  const steps = [...parts.flatMap((p) => p.steps), ...extra].filter((s) => {
    if (s.kind !== 'exec' || s.argv[0] !== 'modprobe' || s.argv[1] === '-r') return true;
    const key = s.argv.join(' ');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const unsupported = parts.some((p) => p.blockedExit === ExitCode.unsupported && (p.refusals ?? []).some((r) => r.force === null));
  const states = parts.flatMap((p) => (p.state ? [p.state] : []));
  return {
    view, steps, question,
    refusals: parts.flatMap((p) => p.refusals ?? []),
    blockedExit: unsupported ? ExitCode.unsupported : ExitCode.refused,
    expect: parts.flatMap((p) => p.expect ?? []),
    watch: parts.flatMap((p) => p.watch ?? []),
    warnings: parts.flatMap((p) => p.warnings ?? []),
    ...(states.length ? { state: (s) => states.reduce((acc, f) => f(acc), s) } : {}),
  };
}
