import type { BootStatus } from '../hostconfig/early.js';
import { keepsAnything } from '../hostconfig/boot.js';
import type { CommandDef } from './command.js';
import type { Style } from '../output.js';
import { paths } from '../host/paths.js';
import { linkName, readAttr } from '../host/host.js';
import { readState, type ManagedDevice, type MdevRecord, type SriovRecord, type VgpuRecord } from '../state.js';
import { mdevctlConfig } from '../mdev/persist.js';
import { readJournal } from '../change/journal.js';
import { Elsewhere } from '../errors.js';

const elsewhere = (): never => {
  throw new Elsewhere('status: the boot record');
};

export interface StatusDevice extends ManagedDevice {
  /** The driver bound now; differs from `target` when something changed it behind gpuvirt's back. */
  currentDriver: string | null;
  present: boolean;
}

export interface StatusPf extends SriovRecord {
  /** The VF count the PF reports now (null: the PF is gone). */
  currentNumVfs: number | null;
}

export interface StatusVgpu extends VgpuRecord {
  /** The type the VF shows now (null: the VF is gone, or shows none). */
  currentType: string | null;
}

export interface StatusMdev extends MdevRecord {
  /** The device exists now. */
  present: boolean;
  /** mdevctl defines it on its parent now (it is created again at boot). */
  defined: boolean;
}

export interface StatusData {
  devices: StatusDevice[];
  sriov: StatusPf[];
  /** vGPU types an earlier gpuvirt sets again at boot on NVIDIA VFs (its own unit), until converted into the record. */
  vgpu: StatusVgpu[];
  /** Mediated devices gpuvirt made (apply, mdev create, vgpu create). */
  mdevs: StatusMdev[];
  /** A run that died or could not finish its rollback: `gpuvirt recover` deals with it. */
  interrupted: { command: string; pid: number; startedAt: string; step: number; steps: number } | null;
  /** The boot record (host.yaml: `host apply --persist`, the single commands' --persist) and what is generated from it, or null. */
  hostConfig: BootStatus | null;
}

export function renderStatus(d: StatusData, s: Style): string {
  const out: string[] = [];
  if (d.interrupted) {
    const i = d.interrupted;
    out.push(s.red(`An interrupted \`gpuvirt ${i.command}\` (pid ${i.pid}, ${i.startedAt}) stopped at step ${i.step} of ${i.steps}: run \`gpuvirt recover\`.`));
  }
  if (d.devices.length) {
    out.push(s.bold('Devices gpuvirt manages:'));
    for (const x of d.devices) {
      const now = !x.present ? s.red('gone from the host') : x.currentDriver === x.target ? s.green(`on ${x.target}`) : s.yellow(`on ${x.currentDriver ?? 'no driver'}, expected ${x.target}`);
      const flags = [x.persisted ? 'persisted' : 'until reboot', x.status === 'released' ? 'released for now' : null].filter(Boolean).join(', ');
      out.push(`  ${x.address}  ${now}; was ${x.originalDriver ?? 'no driver'}; ${flags}`);
    }
  }
  if (d.sriov.length) {
    out.push(s.bold('SR-IOV PFs gpuvirt manages:'));
    for (const p of d.sriov) {
      const now = p.currentNumVfs === null ? s.red('gone from the host') : p.currentNumVfs === p.numVfs ? s.green(`${p.numVfs} VFs`) : s.yellow(`${p.currentNumVfs} VFs, expected ${p.numVfs}`);
      out.push(`  ${p.pf}  ${now}${p.bind ? ` on ${p.bind}` : ''}; was ${p.originalNumVfs}; ${p.persisted ? 'persisted' : 'until reboot'} (${p.adapter} path)`);
    }
  }
  if (d.vgpu.length) {
    out.push(s.bold('vGPU types an earlier gpuvirt sets at boot (its own unit):'));
    for (const v of d.vgpu) {
      const now = v.currentType === v.type ? s.green('set') : s.yellow(v.currentType === null ? 'not set now' : `type ${v.currentType} now`);
      out.push(`  ${v.vf}  ${v.typeName ?? 'type'} ${v.type}: ${now} (VF of ${v.pf})`);
    }
  }
  if (d.mdevs.length) {
    out.push(s.bold('Mediated devices gpuvirt made:'));
    for (const m of d.mdevs) {
      const now = m.present ? s.green('exists') : s.yellow('gone');
      const boot = m.persisted ? (m.defined ? 'defined in mdevctl' : s.yellow('no longer defined in mdevctl')) : m.defined ? 'defined in mdevctl (not by gpuvirt)' : 'until reboot';
      out.push(`  ${m.uuid}  ${m.type} on ${m.parent}: ${now}; ${boot}; made by ${m.profile ? `apply of ${m.profile}` : m.command}`);
    }
  }
  if (d.hostConfig) {
    const h = d.hostConfig;
    out.push(h.file
      ? `${s.bold('At boot:')} ${h.unit} applies ${h.config ? `config ${h.config}` : 'a host config'} from ${h.file}${h.enabled ? '' : s.yellow(' (the unit is not enabled)')}`
      : s.bold('At boot (files of an earlier gpuvirt, no record yet: the next --persist or `host unpersist` converts or removes them):'));
    for (const d of h.devices) {
      const what = [d.driver && `on ${d.driver}`, d.vfs !== undefined && `${d.vfs} VFs${d.vfDriver ? ` on ${d.vfDriver}` : ''}`, d.vgpu && `vGPUs ${d.vgpu}`, d.resetMethod && `reset ${d.resetMethod}`].filter(Boolean).join(', ');
      out.push(`  ${d.select}: ${what}`);
    }
    if (h.early.length) out.push('  Early files (act before any unit):');
    for (const e of h.early) out.push(`    ${e.file}: ${e.holds.join('; ') || 'nothing'}`);
    for (const l of h.legacy) out.push(s.yellow(`  ${l}`));
  }
  if (!out.length) return 'gpuvirt manages no devices and no SR-IOV PFs on this host\n';
  return `${out.join('\n')}\n`;
}

export const status: CommandDef<Record<string, never>, StatusData> = {
  name: 'status',
  summary: 'show what gpuvirt manages: devices, SR-IOV PFs, mdevs, the config applied at boot, an interrupted run',
  linuxOnly: true,
  parse: () => ({}),
  async run(_opts, ctx) {
    const state = readState(ctx.host);
    // What is kept at boot is read only where there is some: the record's reader (YAML and its
    // schema) is most of the code status could run, and most hosts keep nothing.
    // status's own bundle leaves that reader out: such a host is the whole program's to show.
    const [early, record] = !keepsAnything(ctx.host, state) ? [null, null]
      : typeof GPUVIRT_ONLY === 'string' ? elsewhere()
        : await Promise.all([import('../hostconfig/early.js'), import('../hostconfig/record.js')]);
    // Persisted: kept at boot by the record (or by a flag of an earlier version, until converted).
    const kept = record ? record.keptAtBoot(ctx, state) : { driver: new Map<string, string>(), sriov: new Map<string, { vfs: number }>() };
    const devices = Object.values(state.devices)
      .sort((a, b) => (a.address < b.address ? -1 : 1))
      .map((d) => ({
        ...d,
        persisted: kept.driver.get(d.address) === d.target,
        present: ctx.host.exists(paths.pciDevice(d.address)),
        currentDriver: linkName(ctx.host, paths.pciAttr(d.address, 'driver')),
      }));
    const sriov = Object.values(state.sriov ?? {}).sort((a, b) => (a.pf < b.pf ? -1 : 1)).map((r) => {
      const n = readAttr(ctx.host, paths.pciAttr(r.pf, 'sriov_numvfs'));
      return { ...r, persisted: kept.sriov.get(r.pf)?.vfs === r.numVfs, currentNumVfs: n !== null && /^\d+$/.test(n) ? Number(n) : null };
    });
    const vgpu = Object.values(state.vgpu ?? {}).sort((a, b) => (a.vf < b.vf ? -1 : 1)).map((r) => {
      const t = readAttr(ctx.host, paths.pciAttr(r.vf, 'nvidia/current_vgpu_type'));
      return { ...r, currentType: t && t !== '0' ? t : null };
    });
    const mdevs = Object.values(state.mdevs ?? {}).sort((a, b) => (a.uuid < b.uuid ? -1 : 1))
      .map((r) => ({ ...r, present: ctx.host.exists(`${paths.mdevDevices}/${r.uuid}`), defined: ctx.host.exists(mdevctlConfig(r.parent, r.uuid)) }));
    const found = readJournal(ctx.host);
    const interrupted = found ? { command: found.journal.command, pid: found.journal.pid, startedAt: found.journal.startedAt, step: found.started + 1, steps: found.journal.steps.length } : null;
    const warnings = devices.filter((d) => d.present && d.status !== 'released' && d.currentDriver !== d.target).map((d) => `${d.address} is on ${d.currentDriver ?? 'no driver'}, not ${d.target}`);
    for (const p of sriov) if (p.currentNumVfs !== null && p.currentNumVfs !== p.numVfs) warnings.push(`${p.pf} has ${p.currentNumVfs} VFs, not ${p.numVfs}`);
    for (const m of mdevs) if (m.persisted && !m.defined) warnings.push(`mediated device ${m.uuid} is no longer defined in mdevctl: it is not created again at boot`);
    const hostConfig = early ? early.bootStatus(ctx, state) : null;
    return { ok: true, data: { devices, sriov, vgpu, mdevs, interrupted, hostConfig }, warnings };
  },
  render: (d, s) => renderStatus(d, s),
};
