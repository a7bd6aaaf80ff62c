// What undoes a step, as data: it is written to the journal before the first host write, so a
// run that died half-way can be undone by the next one. Every undo is "bring this back to the
// recorded state", planned from what the host shows when it runs, so undoing a step that never
// ran, or ran only in part, does no harm, and running one twice is the same as once.
import type { Exec } from '../host/exec.js';
import { type Host, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { mdevCreatePath } from '../mdev/change.js';
import { vgpuTypePath } from '../vgpu/paths.js';
import { planBind } from '../passthrough/plan.js';
import { liveDevices, planRestoreFromLive, runBestEffort, type Wanted } from '../passthrough/restore.js';
import { readPf } from '../sriov/detect.js';
import { planSriovRestore } from '../sriov/plan.js';
import { readFact, type Fact } from './facts.js';
import { fullCiProfile, gpuInstancesOf, readMig, smiBusId } from '../sharing/mig.js';

export type Undo =
  /** Devices back to their recorded driver and driver_override. */
  | { kind: 'restore-devices'; devices: Wanted[] }
  /** A PF back to its VF count and autoprobe setting, and the VFs that were on a passthrough driver back on it. */
  | { kind: 'restore-sriov'; pf: string; numVfs: number; autoprobe: boolean | null; vfDrivers: { address: string; driver: 'vfio-pci' | 'pci-stub' }[] }
  /** A file back to its content and mode (null: it did not exist, nor did `dirs`, removed when empty). */
  | { kind: 'restore-file'; path: string; content: string | null; mode: number | null; dirs?: string[] }
  /** A PCI device's reset_method back to the methods it had ("\n": none), or an xe VF profile setting back to its number. */
  | { kind: 'restore-attr'; path: string; value: string }
  /** A mediated device removed if it exists. */
  | { kind: 'remove-mdev'; uuid: string }
  /** A mediated device created again (same UUID and type) if it is gone. */
  | { kind: 'create-mdev'; uuid: string; parent: string; type: string }
  /**
   * An NVIDIA VF back to its vGPU type (null: none), through nvidia/current_vgpu_type: `0` first
   * when it holds another, then the type. Nothing when it already shows it.
   */
  | { kind: 'restore-vgpu-type'; vf: string; type: string | null }
  /**
   * An NVIDIA GPU's MIG layout back, through nvidia-smi. `keep`: GPU instances that existed
   * before, so any other one (made by the change) is destroyed, its compute instances first.
   * `restore`: GPU instances the change destroys, each brought back when nvidia-smi does not
   * show it: its full-size compute instance again when the instance is still there, else a new
   * instance of its profile (its id may differ; null profile: it cannot be re-created).
   */
  | { kind: 'restore-mig'; gpu: string; keep?: number[]; restore?: { id: number; profile: string | null; profileId: number | null }[] }
  /**
   * A program run again (update-grub after its file came back, modprobe with the options a module
   * had). `unless`: skipped when any of these facts already has its value (a module already gone).
   * `late`: run after every other undo, since it reads files the other undos restore.
   * `onlyIf`: a read-only program run first; the undo runs only when it exits 0 (`virsh dominfo
   * NAME`: the domain the step defined is there to undefine; a define that never happened is not undone).
   */
  | { kind: 'run'; argv: string[]; title: string; unless?: { fact: Fact; value: string | null }[]; late?: boolean; onlyIf?: string[] };

/** Undos that do the same work are done once. */
export function undoKey(u: Undo): string {
  switch (u.kind) {
    case 'restore-devices':
      return `devices:${u.devices.map((d) => d.address).join(',')}`;
    case 'restore-sriov':
      return `sriov:${u.pf}`;
    case 'restore-file':
      return `file:${u.path}`;
    case 'restore-attr':
      return `attr:${u.path}`;
    case 'remove-mdev':
    case 'create-mdev':
      return `mdev:${u.uuid}`;
    case 'restore-vgpu-type':
      return `vgpu:${u.vf}`;
    case 'restore-mig':
      return `mig:${u.gpu}:${JSON.stringify(u.keep ?? null)}:${JSON.stringify(u.restore ?? null)}`;
    case 'run':
      return `run:${u.argv.join(' ')}`;
  }
}

export function describeUndo(u: Undo): string {
  switch (u.kind) {
    case 'restore-devices':
      return `put ${u.devices.map((d) => d.address).join(', ')} back on ${[...new Set(u.devices.map((d) => d.want ?? 'no driver'))].join('/')}`;
    case 'restore-sriov':
      return `put ${u.pf} back to ${u.numVfs} VFs`;
    case 'restore-file':
      return u.content === null ? `remove ${u.path}` : `restore ${u.path}`;
    case 'restore-attr':
      return `write ${u.value === '\n' ? 'nothing (no reset method)' : u.value} to ${u.path}`;
    case 'remove-mdev':
      return `remove mediated device ${u.uuid}`;
    case 'create-mdev':
      return `create mediated device ${u.uuid} (${u.type} on ${u.parent}) again`;
    case 'restore-vgpu-type':
      return u.type ? `put vGPU type ${u.type} back on ${u.vf}` : `remove the vGPU from ${u.vf}`;
    case 'restore-mig': {
      const parts = [
        ...(u.keep ? [`destroy the GPU instances of ${u.gpu} other than ${u.keep.join(', ') || 'none'}`] : []),
        ...(u.restore ?? []).map((r) => `bring GPU instance ${r.id}${r.profile ? ` (${r.profile})` : ''} of ${u.gpu} back`),
      ];
      return parts.join('; ');
    }
    case 'run':
      return u.title;
  }
}

export interface UndoOutcome {
  ok: boolean;
  actions: string[];
  errors: string[];
}

function sameFile(host: Host, u: Extract<Undo, { kind: 'restore-file' }>): boolean {
  const now = host.readText(u.path);
  if (now !== u.content) return false;
  if (now === null || u.mode === null) return true;
  return (host.stat?.(u.path)?.mode ?? u.mode) === u.mode;
}

/** Performs one undo; never throws. */
export async function performUndo(host: Host, exec: Exec, u: Undo): Promise<UndoOutcome> {
  const done = (actions: string[]): UndoOutcome => ({ ok: true, actions, errors: [] });
  try {
    switch (u.kind) {
      case 'restore-devices':
        return await runBestEffort(host, exec, planRestoreFromLive(host, u.devices));
      case 'restore-sriov': {
        const live = readPf(host, u.pf);
        if (!live) return { ok: false, actions: [], errors: [`${u.pf} is gone`] };
        const back = await runBestEffort(host, exec, planSriovRestore(live, { numVfs: u.numVfs, driversAutoprobe: u.autoprobe }));
        const rebind = (['vfio-pci', 'pci-stub'] as const).flatMap((drv) =>
          planBind(liveDevices(host, u.vfDrivers.filter((v) => v.driver === drv).map((v) => v.address)), drv, host.exists(paths.pciDriver(drv))));
        const bound = await runBestEffort(host, exec, rebind);
        return { ok: back.ok && bound.ok, actions: [...back.actions, ...bound.actions], errors: [...back.errors, ...bound.errors] };
      }
      case 'restore-file': {
        const same = sameFile(host, u);
        if (!same && u.content === null) host.removeFile(u.path);
        else if (!same) host.writeFile(u.path, u.content!, u.mode ?? undefined);
        // Directories the change created for the file go too, deepest first, when nothing else is in them.
        for (const d of u.dirs ?? []) host.removeEmptyDir?.(d);
        return done(same ? [] : [describeUndo(u)]);
      }
      case 'restore-attr': {
        const want = u.value.trim();
        if (!host.exists(u.path) || (readAttr(host, u.path) ?? '') === want) return done([]);
        host.writeAttr(u.path, u.value);
        if ((readAttr(host, u.path) ?? '') !== want) throw new Error(`${u.path} reads ${readAttr(host, u.path) ?? 'nothing'}`);
        return done([describeUndo(u)]);
      }
      case 'remove-mdev': {
        const dev = `${paths.mdevDevices}/${u.uuid}`;
        if (!host.exists(dev)) return done([]);
        host.writeAttr(`${dev}/remove`, '1');
        if (host.exists(dev)) throw new Error(`${dev} still exists`);
        return done([describeUndo(u)]);
      }
      case 'create-mdev': {
        const dev = `${paths.mdevDevices}/${u.uuid}`;
        if (host.exists(dev)) return done([]);
        host.writeAttr(mdevCreatePath(u.parent, u.type), u.uuid);
        if (!host.exists(dev)) throw new Error(`${dev} did not appear`);
        return done([describeUndo(u)]);
      }
      case 'restore-vgpu-type': {
        const path = vgpuTypePath(u.vf);
        const want = u.type ?? '0';
        const now = readAttr(host, path);
        if (now === null) throw new Error(`${u.vf} has no nvidia/current_vgpu_type`);
        if (now === want) return done([]);
        if (now !== '0') host.writeAttr(path, '0');
        if (want !== '0') host.writeAttr(path, want);
        const after = readAttr(host, path);
        if (after !== want) throw new Error(`${path} reads ${after ?? 'nothing'}, not ${want}`);
        return done([describeUndo(u)]);
      }
      case 'restore-mig':
        return await restoreMig(exec, u);
      case 'run': {
        if (u.unless?.some((c) => readFact(host, c.fact) === c.value)) return done([]);
        if (u.onlyIf && (await exec.run(u.onlyIf)).exitCode !== 0) return done([]);
        const r = await exec.run(u.argv);
        if (r.exitCode !== 0) throw new Error(`\`${u.argv.join(' ')}\` exited with status ${r.exitCode}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n')[0]}` : ''}`);
        return done([`ran ${u.argv.join(' ')}`]);
      }
    }
  } catch (err) {
    return { ok: false, actions: [], errors: [`${describeUndo(u)}: ${err instanceof Error ? err.message : String(err)}`] };
  }
}

async function restoreMig(exec: Exec, u: Extract<Undo, { kind: 'restore-mig' }>): Promise<UndoOutcome> {
  const report = await readMig(exec);
  if (!report.known) throw new Error(`MIG state unknown: ${report.reason}`);
  const gpu = report.gpus.find((g) => g.address === u.gpu);
  if (!gpu) throw new Error(`nvidia-smi does not list ${u.gpu}`);
  const gis = gpuInstancesOf(gpu);
  const actions: string[] = [];
  const errors: string[] = [];
  const smi = async (args: string[]): Promise<boolean> => {
    const argv = ['nvidia-smi', 'mig', '-i', smiBusId(u.gpu), ...args];
    const r = await exec.run(argv);
    if (r.exitCode === 0) actions.push(`ran ${argv.join(' ')}`);
    return r.exitCode === 0;
  };
  if (u.keep) {
    for (const id of gis.keys()) {
      if (u.keep.includes(id)) continue;
      if (!(await smi(['-gi', String(id), '-dci'])) || !(await smi(['-gi', String(id), '-dgi']))) errors.push(`GPU instance ${id} of ${u.gpu} could not be destroyed`);
    }
  }
  for (const r of u.restore ?? []) {
    if (gis.has(r.id)) continue;
    const ci = r.profile === null ? null : fullCiProfile(r.profile);
    // Still there without its compute instance: give it one again; gone: a new instance of its profile.
    if (ci !== null && (await smi(['-gi', String(r.id), '-cci', String(ci)]))) continue;
    if (r.profileId === null) errors.push(`GPU instance ${r.id} of ${u.gpu} is gone and its profile is unknown: it cannot be re-created`);
    else if (!(await smi(['-cgi', String(r.profileId), '-C']))) errors.push(`GPU instance ${r.id} (${r.profile ?? `profile ${r.profileId}`}) of ${u.gpu} could not be re-created`);
  }
  return { ok: errors.length === 0, actions, errors };
}
