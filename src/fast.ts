// The short way for the command users run most, `gpuvirt doctor` (with --json, --root,
// --no-color): bin/gpuvirt requires this as a CommonJS bundle of its own (dist/fast.cjs), so it
// starts without Node's ES module loader, commander or any other command's code. Anything
// but the plainest argv is left to cli.ts: what that prints (help, errors) is never guessed
// here. Once the arguments are known, both run the command through the same execute().
import { doctor } from './commands/doctor.js';
import { defaultIO, execute, type Deps, type Selected } from './run.js';

/**
 * The doctor invocation argv is, when it is one without any doubt: the word `doctor` once and
 * otherwise only `--json`, `--no-color` and `--root DIR` / `--root=DIR`, each at most once, in
 * any order. Anything else (another word, --help, `--`, a repeated or empty option, a value
 * that looks like an option) returns undefined, and commander parses it.
 */
export function plainDoctor(argv: readonly string[]): Selected | undefined {
  const opts: Record<string, unknown> = { color: true };
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.startsWith('--root=') ? a.indexOf('=') : -1;
    const key = eq >= 0 ? '--root' : a;
    if (seen.has(key)) return undefined;
    seen.add(key);
    if (a === 'doctor') continue;
    if (a === '--json') opts.json = true;
    else if (a === '--no-color') opts.color = false;
    else if (key === '--root') {
      const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined || value === '' || value.startsWith('-')) return undefined;
      opts.root = value;
    } else return undefined;
  }
  return seen.has('doctor') ? { def: doctor, args: [], opts } : undefined;
}

/** The exit status of `gpuvirt doctor …`, or undefined when argv (or the environment) is for cli.ts. */
export function fastMain(argv: readonly string[], deps: Partial<Deps> = {}): Promise<number> | undefined {
  const env = deps.env ?? process.env;
  // The simulated kernel (GPUVIRT_SIMULATE) is cli.ts's to set up: it stays out of this bundle.
  if (env.GPUVIRT_SIMULATE === '1') return undefined;
  const selected = plainDoctor(argv);
  if (!selected) return undefined;
  return execute(selected, selected.opts.json === true, { ...deps, env, io: deps.io ?? defaultIO(env) });
}
