// The command-line entry, for the npm install and the single executable alike: argv is parsed
// once, against the registry's data (the global options below, each command's `args` and
// `options`), loading only the command it names; run.ts then runs it. What this parser does not
// take (help, a typo, a usage error, `--`, grouped short flags) goes to commander (help.ts),
// which prints exactly what it always printed, or runs the command it finds.
import pkg from '../package.json' with { type: 'json' };
import type { AnyCommand, OptionDef } from './commands/command.js';
import { commands, GROUPS } from './commands/index.js';
import { Elsewhere, ExitCode } from './errors.js';
import { jsonDocument } from './output.js';
import { clockOf, defaultIO, documentMeta, execute, reportFailure, type Deps, type OpenHost, type Selected } from './run.js';

export type { Deps } from './run.js';

/** The options every command takes (before or after its name). */
export const GLOBAL_OPTIONS: readonly OptionDef[] = [
  { flags: '--root <dir>', help: 'read and change the host under DIR instead of / (a snapshot or test tree); also GPUVIRT_ROOT' },
  { flags: '--json', help: 'print one JSON document on stdout (schemaVersion 1)' },
  { flags: '--no-color', help: 'no colour, even on a terminal (NO_COLOR is honoured too)' },
  { flags: '--strict', help: 'exit 1 when there are warnings (doctor\'s warn checks and a profile\'s warnings count)' },
];

interface Spec {
  key: string;
  value: boolean;
  /** An optional (`[v]`) or variadic (`<v...>`) value: commander's to read. */
  theirs: boolean;
  negate: boolean;
  repeatable: boolean;
}

const flagsOf = (o: OptionDef) => o.flags.split(/[ ,]+/).filter((w) => w.startsWith('-'));
/** Where an option's value lands: `--dry-run` in dryRun, `--no-persist` in persist. */
const keyOf = (o: OptionDef) => flagsOf(o).find((n) => n.startsWith('--'))!.replace(/^--(no-)?/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Adds options' flags to `table` and their defaults (as commander sets them) to `opts`. */
function learn(options: readonly OptionDef[], table: Map<string, Spec>, opts: Record<string, unknown>): void {
  for (const o of options) {
    const key = keyOf(o);
    const negate = o.flags.includes('--no-');
    const spec = { key, value: o.flags.includes('<'), theirs: /\s\[|\.\.\.[>\]]/.test(o.flags), negate, repeatable: o.repeatable === true };
    for (const n of flagsOf(o)) table.set(n, spec);
    if (o.default !== undefined) opts[key] = o.default;
    else if (o.repeatable) opts[key] = [];
    // `--no-x` alone makes x true until given; beside `--x` it leaves x unset.
    else if (negate && !options.some((p) => p !== o && keyOf(p) === key)) opts[key] = true;
  }
}

/**
 * The command argv names, with its arguments and options; undefined for anything commander is
 * to answer (no command, help, an unknown or a repeated-value option missing its value, a
 * wrong number of arguments, a required option not given), and for forms this parser leaves to
 * it (`--`, `-abc`, `-oFILE`, a value that starts with `-`).
 */
export async function parseArgv(argv: readonly string[]): Promise<Selected | undefined> {
  const table = new Map<string, Spec>();
  const opts: Record<string, unknown> = {};
  learn(GLOBAL_OPTIONS, table, opts);
  const words: string[] = [];
  const args: string[] = [];
  let def: AnyCommand | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.length > 1 && a.startsWith('-')) {
      const eq = a.startsWith('--') ? a.indexOf('=') : -1;
      const spec = table.get(eq > 0 ? a.slice(0, eq) : a);
      if (!spec || spec.theirs || (eq > 0 && !spec.value)) return undefined;
      let value: unknown = !spec.negate;
      if (spec.value) {
        value = eq > 0 ? a.slice(eq + 1) : argv[++i];
        if (value === undefined || (eq < 0 && (value as string).length > 1 && (value as string).startsWith('-'))) return undefined;
      }
      opts[spec.key] = spec.repeatable ? [...(opts[spec.key] as string[]), value] : value;
    } else if (def) args.push(a);
    else {
      words.push(a);
      if (words.length === 1 && a in GROUPS) continue;
      const entry = commands.find((c) => c.name === words.join(' '));
      if (!entry?.load) return undefined;
      def = await entry.load();
      learn(def.options ?? [], table, opts);
    }
  }
  if (!def) return undefined;
  const specs = def.args ?? [];
  const variadic = specs.at(-1)?.name.includes('...') === true;
  const required = specs.filter((s) => s.name.startsWith('<')).length;
  if (args.length < required || (!variadic && args.length > specs.length)) return undefined;
  if ((def.options ?? []).some((o) => o.required && opts[keyOf(o)] === undefined)) return undefined;
  return { def, args, opts };
}

/** `--version --json`: the version as a document like every other. */
function isVersionDocument(argv: readonly string[]): boolean {
  return argv.includes('--json') && argv.some((a) => a === '--version' || a === '-V') && argv.every((a) => a === '--json' || a === '--version' || a === '-V');
}

/**
 * The host and exec seam for a root. GPUVIRT_SIMULATE=1 (with a root other than /) runs the
 * command against the simulated kernel, so a fixture copy reacts to writes as Linux would;
 * it is for tests and demonstrations and never touches the real machine.
 */
function simulatedHost(env: Deps['env'], deps: Partial<Deps>): OpenHost | undefined {
  if (deps.makeHost || deps.makeExec || env.GPUVIRT_SIMULATE !== '1') return undefined;
  return async (root) => {
    if (root === '/') throw new Error('unreachable: run.ts refuses GPUVIRT_SIMULATE=1 at the root /');
    const [{ SimKernel }, { SimExec }] = await Promise.all([import('./sim/kernel.js'), import('./sim/exec.js')]);
    const kernel = new SimKernel(root, { privileged: env.GPUVIRT_SIMULATE_USER !== 'nonroot' });
    return { host: kernel, exec: new SimExec(kernel) };
  };
}

/**
 * What main() of a per-command bundle (src/bundle.d.ts) returns for an argv it does not
 * run itself (another command, help, a usage error): its loader then runs the whole program,
 * which never returns this. Nothing has been written by then.
 */
export const ELSEWHERE = -1;

export async function main(argv: string[], deps: Partial<Deps> = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const io = deps.io ?? defaultIO(env);
  const meta = () => documentMeta(null, clockOf({ ...deps, env }));
  if (isVersionDocument(argv)) {
    io.out(jsonDocument('version', { ok: true, data: { version: pkg.version }, warnings: [] }, meta()));
    return ExitCode.ok;
  }
  const json = argv.includes('--json');
  // The simulated kernel (tests, demonstrations) is in the whole program only.
  if (typeof GPUVIRT_ONLY === 'string' && env.GPUVIRT_SIMULATE === '1' && !deps.makeHost && !deps.makeExec) return ELSEWHERE;
  let selected = await parseArgv(argv);
  if (!selected) {
    // Help and usage errors need every command (and commander): the whole program's work.
    if (typeof GPUVIRT_ONLY === 'string') return ELSEWHERE;
    else {
      const { commanderParse } = await import('./help.js');
      const r = await commanderParse(argv, io, json, GLOBAL_OPTIONS);
      if ('exitCode' in r) return r.exitCode;
      if ('error' in r) return reportFailure(r.error.raw, r.error.err, { io, env, json, command: r.error.command, help: r.error.help, meta: meta() });
      selected = r.selected;
    }
  }
  try {
    return await execute(selected, json, { ...deps, io, env }, typeof GPUVIRT_ONLY === 'string' ? undefined : simulatedHost(env, deps));
  } catch (err) {
    if (err instanceof Elsewhere) return ELSEWHERE;
    throw err;
  }
}
