// The command-line entry: parses argv with commander and hands the command it names to
// run.ts, which runs it. Between them, the only places that decide exit statuses.
import { Command, CommanderError } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import { commands, type CommandEntry } from './commands/index.js';
import type { AnyCommand } from './commands/command.js';
import type { IO } from './context.js';
import { ExitCode, GpuvirtError } from './errors.js';
import { jsonDocument } from './output.js';
import { asGpuvirtError, clockOf, defaultIO, documentMeta, execute, openHost, reportFailure, type Deps, type OpenHost, type Selected } from './run.js';

export type { Deps } from './run.js';

const GROUPS: Record<string, string> = {
  sriov: 'manage SR-IOV virtual functions: status, enable, disable',
  vgpu: 'manage vGPUs over NVIDIA vendor-specific VFIO and mdev, and MIG: types, status, create, remove',
  mdev: 'manage mediated devices (Intel GVT-g, NVIDIA vGPU): types, create, remove',
  profile: 'work with VM profiles: validate, check against the hardware, JSON Schema',
  host: 'manage declarative host state for fleets: diff, assert, apply, export a host config',
};

export const sentence = (s: string) => `${s.charAt(0).toUpperCase()}${s.slice(1)}.`;

/**
 * Help texts are paragraphs: their single line breaks become spaces, so commander wraps them
 * to the terminal's real width (not a width someone typed them at).
 */
export function reflow(text: string): string {
  return text.replace(/([^\n])\n(?=[^\n])/g, '$1 ');
}

/** The whole command tree; also read at build time for the man page and shell completions (scripts/package/docs.ts). */
export function buildProgram(io: IO, json: boolean, defs: readonly AnyCommand[], pick: (s: Selected) => void): Command {
  const program = new Command('gpuvirt');
  program
    .description('Prepare Linux hosts for GPU passthrough and SR-IOV, and write the VM configuration that uses them.')
    .version(pkg.version, '-V, --version')
    .option('--root <dir>', 'read and change the host under DIR instead of / (a snapshot or test tree); also GPUVIRT_ROOT')
    .option('--json', 'print one JSON document on stdout (schemaVersion 1)')
    .option('--no-color', 'no colour, even on a terminal (NO_COLOR is honoured too)')
    .option('--strict', 'exit 1 when there are warnings (doctor\'s warn checks and a profile\'s warnings count)')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => (json ? undefined : io.err(s)),
      getOutHelpWidth: () => (io.isTTY ? io.columns : 80),
      getErrHelpWidth: () => (io.isTTY ? io.columns : 80),
      // Errors are reported by reportFailure, with the suggestion as a hint.
      outputError: () => undefined,
    });
  const parents = new Map<string, Command>();
  for (const def of defs) {
    // "sriov enable" is the subcommand enable of a group command sriov.
    const [group, leaf] = def.name.includes(' ') ? def.name.split(' ') as [string, string] : [null, def.name];
    let parent = program;
    if (group) {
      parent = parents.get(group) ?? program.command(group).summary(GROUPS[group] ?? group).description(sentence(GROUPS[group] ?? group));
      parents.set(group, parent);
    }
    const cmd = parent.command(leaf).summary(def.summary).description(reflow(def.help ?? sentence(def.summary)));
    def.configure(cmd);
    cmd.action((...a: unknown[]) => {
      const self = a[a.length - 1] as Command;
      pick({ def, args: self.args, opts: { ...program.opts(), ...self.opts() } });
    });
  }
  return program;
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

/** A commander error as a usage error; its "(Did you mean doctor?)" becomes the hint. */
function toGpuvirtError(err: unknown): GpuvirtError {
  if (!(err instanceof CommanderError)) return asGpuvirtError(err);
  const text = err.message.replace(/^error: /, '');
  const m = /\s*\(Did you mean (.+)\?\)\s*$/.exec(text);
  const message = m ? text.slice(0, m.index) : text.trim();
  return new GpuvirtError('E_USAGE', message, { exitCode: ExitCode.usage, hint: m ? `did you mean ${m[1]}?` : undefined });
}

/** Options before the command that commander would take as the program's; `--root` takes a value. */
const GLOBAL_FLAGS = new Set(['--json', '--no-color', '--strict']);

/** The registry entry argv names when that is plain: only global options before its words. */
function namedEntry(argv: readonly string[]): CommandEntry | undefined {
  let i = 0;
  for (let a = argv[0]; a === '--root' || a?.startsWith('--root=') || GLOBAL_FLAGS.has(a ?? ''); a = argv[i]) i += a === '--root' ? 2 : 1;
  const [first, second] = [argv[i], argv[i + 1]];
  if (first === undefined || first.startsWith('-')) return undefined;
  const inGroup = first in GROUPS && second !== undefined && !second.startsWith('-');
  return commands.find((c) => c.name === (inGroup ? `${first} ${second}` : first));
}

/**
 * Parses argv with only the command it names loaded, so a command's start never pays for
 * loading the others. undefined unless that selected this very command without a word of
 * output (help, a typo, a usage error): the caller then parses again with every command, so
 * what the user sees is exactly what the full program says.
 */
async function quickSelect(argv: readonly string[], json: boolean): Promise<Selected | undefined> {
  const entry = namedEntry(argv);
  if (!entry) return undefined;
  let wrote = false;
  const silent: IO = { out: () => void (wrote = true), err: () => void (wrote = true), isTTY: false, color: false, columns: 80 };
  let selected: Selected | undefined;
  try {
    buildProgram(silent, json, [await entry.load()], (s) => (selected = s)).parse([...argv], { from: 'user' });
  } catch {
    return undefined;
  }
  return !wrote && selected?.def.name === entry.name ? selected : undefined;
}

/** The command named in argv ("sriov enable" for a subcommand), for JSON errors before parsing ends. */
function commandName(argv: readonly string[]): string {
  for (const c of commands) {
    const words = c.name.split(' ');
    const i = argv.indexOf(words[0]!);
    if (i >= 0 && words.every((w, k) => argv[i + k] === w)) return c.name;
  }
  const group = argv.find((a) => a in GROUPS);
  return group ?? 'gpuvirt';
}

/** `--version --json`: the version as a document like every other. */
function versionDocument(argv: readonly string[], now: () => Date): string | undefined {
  if (!argv.includes('--json') || !argv.every((a) => a === '--json' || a === '--version' || a === '-V') || argv.length < 2) return undefined;
  return jsonDocument('version', { ok: true, data: { version: pkg.version }, warnings: [] }, documentMeta(null, now));
}

export async function main(argv: string[], deps: Partial<Deps> = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const io = deps.io ?? defaultIO(env);
  const json = argv.includes('--json');
  const version = versionDocument(argv, clockOf({ ...deps, env }));
  if (version) {
    io.out(version);
    return ExitCode.ok;
  }
  let selected: Selected | undefined;
  try {
    selected = await quickSelect(argv, json);
    if (!selected) {
      const program = buildProgram(io, json, await Promise.all(commands.map((c) => c.load())), (s) => (selected = s));
      try {
        program.parse(argv, { from: 'user' });
      } catch (err) {
        if (err instanceof CommanderError && (err.exitCode === 0 || err.code === 'commander.helpDisplayed')) return ExitCode.ok;
        throw err;
      }
      if (!selected) {
        program.outputHelp({ error: true });
        return ExitCode.usage;
      }
    }
  } catch (raw) {
    const command = commandName(argv);
    const help = raw instanceof CommanderError ? `see \`gpuvirt ${command === 'gpuvirt' ? '' : `${command} `}--help\`` : undefined;
    return reportFailure(raw, toGpuvirtError(raw), { io, env, json, command, help, meta: documentMeta(null, clockOf({ ...deps, env })) });
  }
  return execute(selected, json, { ...deps, io, env }, simulatedHost(env, deps));
}
