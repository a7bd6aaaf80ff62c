import type { CommandDef } from '../command.js';
import type { Ctx } from '../../context.js';
import { ExitCode, usageError } from '../../errors.js';
import type { Style } from '../../output.js';
import type { ChangeResult } from '../../change/types.js';
import { renderChangeText } from '../../change/render.js';
import type { Label } from '../../fleet/nfd.js';

const DEFAULT_OUT = '/etc/kubernetes/node-feature-discovery/features.d/gpuvirt';

export interface HostLabelsOptions {
  file: string | null;
  config: string | null;
  namespace: string;
  out: string;
  stdout: boolean;
  dryRun: boolean;
  yes: boolean;
}

export interface LabelsView {
  out: string | null;
  namespace: string;
  labels: Label[];
  /** The host config named with -c, and whether `host assert` passes for it. */
  hostConfig: { name: string; asserted: boolean } | null;
  text: string;
}

export type HostLabelsData = LabelsView & Partial<ChangeResult<Record<never, never>>>;

function render(d: HostLabelsData, s: Style): string {
  if (d.out === null) return d.text;
  if (!d.steps) return '';
  const head = [`${d.labels.length} label(s) for Node Feature Discovery in ${d.out}`];
  return renderChangeText(d as ChangeResult<LabelsView>, s, head, `Nothing to do: ${d.out} already has these labels.`);
}

export const hostLabels: CommandDef<HostLabelsOptions, HostLabelsData> = {
  name: 'host labels',
  summary: 'write this host\'s GPU facts as Node Feature Discovery labels (features.d file)',
  help: [
    'Writes one Node Feature Discovery local feature file (default',
    `${DEFAULT_OUT}), replaced atomically as one change (plan,`,
    '--dry-run, undo on failure): <namespace>/iommu, gpus, gpus.isolated, sriov, vgpu, and per GPU',
    'gpu.<address>.{id,driver,isolation,sriov.totalvfs,sriov.numvfs,vgpu}, vgpu.<type>=<type name>,',
    'and with -f/-c host-config=<name> and host-config.asserted=true|false (`host assert` passes).',
    'Every key and value is a valid Kubernetes label. --stdout prints the file and writes nothing.',
  ].join('\n'),
  linuxOnly: true,
  options: [
    { flags: '-f, --file <file>', help: 'host configuration file, to label the config this host is in' },
    { flags: '-c, --config <name>', help: 'the config of the file the node should be in' },
    { flags: '--namespace <ns>', help: 'label namespace (prefix)', default: 'gpuvirt.io' },
    { flags: '--out <path>', help: 'the features.d file to write', default: DEFAULT_OUT },
    { flags: '--stdout', help: 'print the file and write nothing' },
    { flags: '--dry-run', help: 'print the plan and change nothing' },
    { flags: '-y, --yes', help: 'write without asking' },
  ],
  parse(_args, opts) {
    const file = typeof opts.file === 'string' ? opts.file : null;
    const config = typeof opts.config === 'string' ? opts.config : null;
    if ((file === null) !== (config === null)) throw usageError('-f and -c go together: the file and the config of it this node should be in');
    const out = String(opts.out ?? DEFAULT_OUT);
    if (!out.startsWith('/') || out.endsWith('/')) throw usageError(`--out ${JSON.stringify(out)}: an absolute file path`);
    if (out.slice(out.lastIndexOf('/') + 1).startsWith('.')) throw usageError(`--out ${out}: Node Feature Discovery ignores files whose name starts with "."`);
    return { file, config, namespace: String(opts.namespace ?? 'gpuvirt.io'), out, stdout: Boolean(opts.stdout), dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes) };
  },
  async run(opts, ctx: Ctx) {
    const [{ labelNamespaceProblem }, { hostLabels: labelsOf, renderFeatureFile }, { readOffer }] = await Promise.all([
      import('../../fleet/names.js'), import('../../fleet/nfd.js'), import('../../fleet/offer.js'),
    ]);
    const bad = labelNamespaceProblem(opts.namespace);
    if (bad) throw usageError(`--namespace ${bad}`);
    let hostConfig: LabelsView['hostConfig'] = null;
    if (opts.file !== null && opts.config !== null) {
      const [{ openHostConfig }, { inspect }] = await Promise.all([import('./common.js'), import('../../hostconfig/inspect.js')]);
      const opened = await openHostConfig({ file: opts.file, config: opts.config });
      if (!opened.config) throw usageError(opened.result.msg);
      const i = await inspect(ctx, opened.config);
      hostConfig = { name: opts.config, asserted: i.differences.length === 0 && i.problems.length === 0 && !i.rebootRequired };
    }
    const offer = readOffer(ctx.host, ctx.names);
    const set = labelsOf(offer, opts.namespace, hostConfig);
    const text = renderFeatureFile(set, offer.node);
    if (text === null) throw usageError('the labels pass Node Feature Discovery\'s 64 KiB limit for a feature file, which it would ignore whole');
    const view: LabelsView = { out: opts.stdout ? null : opts.out, namespace: opts.namespace, labels: set.labels, hostConfig, text };
    const warnings = set.dropped;
    if (opts.stdout) return { ok: true, data: view, warnings };
    const { runChange } = await import('../../change/engine.js');
    const same = ctx.host.readText(opts.out) === text;
    const outcome = await runChange(ctx, 'host labels', { dryRun: opts.dryRun, yes: opts.yes, force: false }, async () => ({
      view,
      steps: same ? [] : [{ kind: 'file' as const, path: opts.out, content: text, mode: 0o644, title: `write ${set.labels.length} label(s) to ${opts.out}` }],
      question: `Write ${opts.out}?`,
    }), async (d) => render(d, await ctx.style()));
    return { ...outcome, warnings: [...warnings, ...outcome.warnings], exitCode: outcome.exitCode ?? (outcome.ok ? ExitCode.ok : ExitCode.failed) };
  },
  render,
};
