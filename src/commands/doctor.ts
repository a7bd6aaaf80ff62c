import type { CommandDef } from './command.js';
import type { Ctx } from '../context.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import { paths } from '../host/paths.js';
import { wrap, type Style } from '../output.js';
import { runChecks, iommuActive, type Check } from '../doctor/checks.js';
import { gatherFacts, type GpuFacts, type HostFacts } from '../doctor/facts.js';
import type { PciNames } from '../pci/names.js';
import type { PciFunction } from '../detect/pci.js';
import { gatherSharing, type GpuSharing } from '../sharing/gather.js';
import { renderSharing, sharingJson, type SharingJson } from '../sharing/render.js';
import { judgeReset, type GpuReset } from '../reset/judge.js';

export type DoctorOptions = Record<string, never>;

interface PeerJson {
  address: string;
  classId: string;
  name: string;
  driver: string | null;
}

export interface GpuJson {
  address: string;
  vendorId: string;
  deviceId: string;
  classId: string;
  name: string;
  driver: string | null;
  iommuGroup: number | null;
  bootVga: boolean | null;
  resetMethods: string[];
  /** The reset methods judged with the family's known behaviour and vendor-reset (null for a VF: its PF resets it). */
  reset: GpuReset | null;
  sriov: { totalVfs: number; numVfs: number } | null;
  physfn: string | null;
  isolation: GpuFacts['isolation'];
  blockingPeers: PeerJson[];
  /** Functions of the GPU's slot in other IOMMU groups, with what blocks in theirs (they go with the GPU). */
  companions: { address: string; iommuGroup: number | null; blockingPeers: PeerJson[] }[];
  /** How this GPU can be shared: one entry per strategy that applies to it. */
  sharing: SharingJson[];
}

export interface DoctorData {
  host: { kernel: string | null; cpuVendor: string; bootloader: { kind: string; reason: string; configFile: string | null } };
  checks: Check[];
  iommu: { firmware: 'DMAR' | 'IVRS' | 'none' | 'unknown'; enabled: boolean; groupCount: number };
  cmdline: { running: string | null; configured: string | null };
  gpus: GpuJson[];
}

function peerJson(p: PciFunction, names: PciNames): PeerJson {
  return { address: p.address, classId: p.classId, name: names.name(p.vendorId, p.deviceId), driver: p.driver };
}

function gpuJson(g: GpuFacts, names: PciNames, sharing: GpuSharing | undefined, f: HostFacts): GpuJson {
  return {
    address: g.address,
    vendorId: g.vendorId,
    deviceId: g.deviceId,
    classId: g.classId,
    name: names.name(g.vendorId, g.deviceId),
    driver: g.driver,
    iommuGroup: g.iommuGroup,
    bootVga: g.bootVga,
    resetMethods: g.resetMethods,
    reset: g.physfn ? null : judgeReset(g, f.vendorReset),
    sriov: g.sriov ? { totalVfs: g.sriov.totalVfs, numVfs: g.sriov.numVfs } : null,
    physfn: g.physfn,
    isolation: g.isolation,
    blockingPeers: g.blockingPeers.map((p) => peerJson(p, names)),
    companions: g.companions.map((c) => ({ address: c.address, iommuGroup: c.iommuGroup, blockingPeers: c.blockingPeers.map((p) => peerJson(p, names)) })),
    sharing: sharing ? sharingJson(sharing.strategies) : [],
  };
}

function firmwareSummary(f: HostFacts): DoctorData['iommu']['firmware'] {
  if (f.firmware.dmar === 'present') return 'DMAR';
  if (f.firmware.ivrs === 'present') return 'IVRS';
  return f.firmware.dmar === 'absent' ? 'none' : 'unknown';
}

export function doctorData(f: HostFacts, names: PciNames, sharing: GpuSharing[] = []): DoctorData {
  return {
    host: { kernel: f.kernel, cpuVendor: f.cpu.vendor, bootloader: { kind: f.boot.kind, reason: f.boot.reason, configFile: f.boot.configFile } },
    checks: runChecks(f),
    iommu: { firmware: firmwareSummary(f), enabled: iommuActive(f), groupCount: f.iommu.groupCount },
    cmdline: { running: f.cmdline.running, configured: f.boot.configured },
    gpus: f.gpus.map((g) => gpuJson(g, names, sharing.find((x) => x.address === g.address), f)),
  };
}

const LABEL: Record<Check['status'], (s: Style) => string> = {
  pass: (s) => s.green('PASS'),
  warn: (s) => s.yellow('WARN'),
  fail: (s) => s.red('FAIL'),
  skip: (s) => s.dim('SKIP'),
};

function renderGpu(g: GpuJson, s: Style, width: number, narrow: boolean): string[] {
  const title = `${g.name} [${g.vendorId}:${g.deviceId}]`;
  const lines = narrow ? [`  ${s.bold(g.address)}`, `      ${wrap(title, width, 6)}`] : [`  ${s.bold(g.address)}  ${wrap(title, width, 16)}`];
  const facts = [
    `driver ${g.driver ?? 'none'}`,
    `group ${g.iommuGroup ?? 'none'}`,
    g.bootVga ? 'boot GPU' : null,
    `reset ${g.resetMethods.length ? g.resetMethods.join(',') : 'none'}`,
    g.sriov ? `SR-IOV ${g.sriov.numVfs}/${g.sriov.totalVfs} VFs` : null,
    g.physfn ? `VF of ${g.physfn}` : null,
  ].filter(Boolean);
  lines.push(`      ${wrap(facts.join(' · '), width, 6)}`);
  const verdict = g.isolation === 'clean' ? s.green('clean') : g.isolation === 'shared' ? s.yellow('shared') : s.dim('unknown (no IOMMU)');
  lines.push(`      isolation: ${verdict}`);
  if (g.reset && g.reset.verdict !== 'ok') {
    const text = `reset: ${g.reset.summary}${g.reset.command ? ` (run \`${g.reset.command}\`)` : ''}`;
    const line = wrap(text, width, 6);
    lines.push(`      ${g.reset.verdict === 'vendor-reset' ? line : s.yellow(line)}`);
  }
  for (const p of g.blockingPeers) {
    lines.push(`        ${wrap(`shares group with ${p.address} [${p.classId.slice(0, 4)}] ${p.name} (driver ${p.driver ?? 'none'})`, width, 8)}`);
  }
  for (const c of g.companions) {
    for (const p of c.blockingPeers) {
      lines.push(`        ${wrap(`its function ${c.address} (group ${c.iommuGroup ?? 'none'}) shares that group with ${p.address} [${p.classId.slice(0, 4)}] ${p.name} (driver ${p.driver ?? 'none'})`, width, 8)}`);
    }
  }
  // A VF's only strategy is its own passthrough: the JSON carries it, the text would repeat it per VF.
  if (!g.physfn) lines.push(...renderSharing(g.sharing, s, width));
  return lines;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function renderDoctor(d: DoctorData, s: Style, ctx: Pick<Ctx, 'io'>): string {
  const width = ctx.io.isTTY ? ctx.io.columns : 0;
  const out: string[] = [];
  out.push(s.bold(wrap(`gpuvirt doctor: kernel ${d.host.kernel ?? 'unknown'}, ${d.host.cpuVendor} CPU, bootloader ${d.host.bootloader.kind}`, width, 0)));
  out.push('');
  const idWidth = Math.max(...d.checks.map((c) => c.id.length));
  // Too narrow for a summary column beside the ids (a 40-column terminal): each summary goes under its id.
  const narrow = width > 0 && width - (idWidth + 10) < 30;
  for (const c of d.checks) {
    const fix = c.remedy && (c.status === 'fail' || c.status === 'warn' || c.status === 'skip') ? c.remedy : null;
    if (narrow) {
      out.push(`  ${LABEL[c.status](s)}  ${c.id}`, `        ${wrap(c.summary, width, 8)}`);
      if (fix) out.push(`        ${s.cyan('fix:')} ${wrap(fix, width, 13)}`);
      continue;
    }
    out.push(`  ${LABEL[c.status](s)}  ${c.id.padEnd(idWidth)}  ${wrap(c.summary, width, idWidth + 10)}`);
    if (fix) out.push(`        ${' '.repeat(idWidth)}  ${s.cyan('fix:')} ${wrap(fix, width, idWidth + 15)}`);
  }
  out.push('');
  if (d.gpus.length) {
    out.push(s.bold('GPUs'));
    for (const g of d.gpus) out.push(...renderGpu(g, s, width, narrow));
    out.push('');
  }
  const count = (st: Check['status']) => d.checks.filter((c) => c.status === st).length;
  out.push(wrap(`${count('pass')} passed, ${plural(count('warn'), 'warning')}, ${count('fail')} failed, ${count('skip')} skipped`, width, 0));
  return `${out.join('\n')}\n`;
}

/**
 * Every Linux host with PCI has sys/bus/pci; a root without it (a project directory, a half
 * unpacked snapshot) would otherwise get firmware advice for a machine that is not there.
 */
function notAHostTree(host: Ctx['host']): void {
  if (host.exists(paths.pciDevices)) return;
  const where = host.root === '/' ? 'this system' : `--root ${host.root}`;
  throw new GpuvirtError('E_NOT_A_HOST', `${where} has no ${paths.pciDevices}: it is not a Linux host tree, so there is nothing to check`, {
    exitCode: host.root === '/' ? ExitCode.unsupported : ExitCode.usage,
    hint: host.root === '/' ? 'run gpuvirt on the host itself, not in a container without sysfs' : 'point --root at an unpacked `gpuvirt snapshot` or the / of a host',
  });
}

export const doctor: CommandDef<DoctorOptions, DoctorData> = {
  name: 'doctor',
  summary: 'check this host for GPU passthrough and SR-IOV, with the fix for each problem',
  help: 'Checks CPU virtualization, KVM, the firmware and kernel IOMMU, the kernel command line,\ninterrupt remapping, the vfio modules and a pending reboot, then lists every GPU with its\nIOMMU group, isolation verdict and how it can be shared (passthrough, SR-IOV, vGPU, MIG,\nvirtio-gpu): now, after a named change, or not on this hardware. Exit status 1 when a check fails.',
  linuxOnly: true,
  parse() {
    return {};
  },
  async run(_opts, ctx) {
    notAHostTree(ctx.host);
    const facts = gatherFacts(ctx.host);
    const data = doctorData(facts, ctx.names, await gatherSharing(ctx.host, ctx.exec, facts));
    const warnings: string[] = [];
    if (facts.firmware.dmar === 'unreadable') warnings.push('not running as root: checks that need root are marked skip');
    const failed = data.checks.filter((c) => c.status === 'fail').map((c) => c.id);
    const dataWarnings = data.checks.filter((c) => c.status === 'warn').length;
    if (!failed.length) return { ok: true, data, warnings, dataWarnings };
    const error = { code: 'E_CHECKS_FAILED', message: `${failed.length} check${failed.length > 1 ? 's' : ''} failed: ${failed.join(', ')}`, hint: 'each failed check in data.checks has its remedy' };
    return { ok: false, data, warnings, error, dataWarnings };
  },
  render: renderDoctor,
};
