// Everything a host keeps at boot, generated from one record by one function: host.yaml itself,
// the early files that must act before any unit can (passthrough: the driver_override udev rule,
// the softdeps and the initramfs; SR-IOV: the VF-count udev rule, GIM's vf_num) and
// gpuvirt-host.service for the rest (sriov-manage, vGPU types, the re-apply of everything). Every
// file is a step the change engine writes atomically and undoes; a record that is already on
// disk, with its files, plans no step. Files of earlier versions (the sriov-manage unit, the
// `persisted` flags of state.json) are removed or cleared on the way.
import type { Ctx } from '../context.js';
import type { Step } from '../mutate/steps.js';
import { detectInitramfs } from '../boot/initramfs.js';
import { planPersist, type PersistedDevice } from '../passthrough/persist.js';
import { readMember } from '../passthrough/resolve.js';
import { readPf } from '../sriov/detect.js';
import { planSriovPersist, removeLegacyUnit, type PersistedPf } from '../sriov/persist.js';
import { VGPU_UNIT } from '../vgpu/persist.js';
import { vfAddresses } from '../sriov/plan.js';
import { chooseAdapter } from '../sriov/vendors.js';
import { readState, type GpuvirtState } from '../state.js';
import { EARLY_FILES, HOST_STATE, HOST_UNIT_NAME, persistedConfig, planHostPersist, planHostUnpersist } from './boot.js';
import { paths } from '../host/paths.js';
import { loadHostConfigText } from './load.js';
import { clearLegacy, editRecord, legacyEdits, readRecord, type DeviceEdit } from './record.js';
import type { Refusal } from '../change/types.js';
import { selectDevices, selectorText } from './state.js';

const PASSTHROUGH = new Set(['vfio-pci', 'pci-stub']);

export interface BootPlan {
  steps: Step[];
  warnings: string[];
  refusals: Refusal[];
  /** Clears the `persisted` flags of earlier versions: what they said is in the record now. */
  state: (s: GpuvirtState) => GpuvirtState;
}

/** The early files' contents for a record: the devices bound from the start and the PFs given VFs. */
export function earlyContents(ctx: Ctx, text: string | null, name: string): { devices: PersistedDevice[]; pfs: PersistedPf[]; problems: string[] } {
  const config = text === null ? null : loadHostConfigText(text).file?.configs[name] ?? null;
  if (!config) return { devices: [], pfs: [], problems: [] };
  const state = readState(ctx.host);
  const selection = selectDevices(ctx.host, ctx.names, config);
  const devices: PersistedDevice[] = [];
  const pfs: PersistedPf[] = [];
  for (const d of selection.devices) {
    const a = d.now.address;
    if (d.want.driver) {
      // The host driver to load after the passthrough driver: the one bound now, else the one gpuvirt recorded taking it from.
      const now = d.now.driver && !PASSTHROUGH.has(d.now.driver) ? readMember(ctx.host, a, 'requested').driverModule : null;
      devices.push({ address: a, target: d.want.driver, originalModule: now ?? state.devices[a]?.originalModule ?? null });
    }
    if (d.want.sriov && d.want.sriov.vfs > 0) {
      const pf = readPf(ctx.host, a);
      if (pf) pfs.push({ pf: a, numVfs: d.want.sriov.vfs, bind: d.want.sriov.vfDriver ?? null, adapter: chooseAdapter(pf).id, vfs: vfAddresses(pf, d.want.sriov.vfs) });
    }
  }
  return { devices, pfs, problems: selection.problems };
}

/** Steps that make host.yaml, its unit and its early files be `text`'s (null: none of them). */
export function planBootFiles(ctx: Ctx, text: string | null, name: string): BootPlan {
  const early = earlyContents(ctx, text, name);
  const initramfs = detectInitramfs(ctx.host);
  const steps: Step[] = [
    ...(text === null ? planHostUnpersist(ctx.host) : planHostPersist(ctx.host, text, name)),
    ...planSriovPersist(ctx.host, early.pfs),
    // vGPU types are set by gpuvirt-host.service from the record: the per-command unit of earlier versions goes.
    ...removeLegacyUnit(ctx.host, VGPU_UNIT, 'stop setting vGPU types from their own unit (gpuvirt-host.service does it)'),
    // Last: its initramfs rebuild takes the files written before it.
    ...planPersist(ctx.host, early.devices, initramfs),
  ];
  const warnings = early.problems.map((p) => `the boot record: ${p}`);
  if (early.devices.length && initramfs.kind === 'none') {
    warnings.push('no initramfs generator found: a host driver loaded from an initramfs could still claim the device at boot');
  }
  return { steps, warnings, refusals: [], state: clearLegacy };
}

/** Records of earlier versions as edits, with the VF counts their vGPUs need read from the host. */
export function legacyOf(ctx: Ctx, state: GpuvirtState): DeviceEdit[] {
  return legacyEdits(state, (pf) => readPf(ctx.host, pf)?.sriov.numVfs ?? null);
}

/**
 * A single command's --persist: the record edited (records of earlier versions carried in first),
 * and every boot file made to match it.
 */
export function planRecordEdit(ctx: Ctx, edits: readonly DeviceEdit[]): BootPlan {
  const rec = readRecord(ctx);
  const legacy = legacyOf(ctx, readState(ctx.host));
  const edited = editRecord(ctx, rec, [...legacy, ...edits]);
  if (edited.refusals.length) return { steps: [], warnings: [], refusals: edited.refusals, state: (s) => s };
  return planBootFiles(ctx, edited.text, rec.name);
}

/**
 * `host apply --persist` records its file as given, in place of the record there was: what the
 * record kept (entries the single commands added, records of earlier versions) and the new
 * config does not, said rather than dropped silently.
 */
export function droppedFromRecord(ctx: Ctx, text: string, name: string): string[] {
  const rec = readRecord(ctx);
  const next = loadHostConfigText(text).file?.configs[name] ?? null;
  const keeps = next ? selectDevices(ctx.host, ctx.names, next).devices : [];
  const kept = (address: string, field: 'driver' | 'sriov', value: unknown) =>
    keeps.some((d) => d.now.address === address && JSON.stringify(d.want[field]) === JSON.stringify(value));
  const lost: string[] = [];
  if (rec.config && rec.text !== text) {
    for (const d of selectDevices(ctx.host, ctx.names, rec.config).devices) {
      for (const field of ['driver', 'sriov'] as const) {
        if (d.want[field] !== undefined && !kept(d.now.address, field, d.want[field])) lost.push(`${d.now.address} ${field === 'driver' ? `on ${String(d.want.driver)}` : `with ${d.want.sriov!.vfs} VFs`}`);
      }
    }
  }
  for (const e of legacyOf(ctx, readState(ctx.host))) {
    if (e.vgpu) lost.push(`${e.address} with vGPUs ${e.vgpu.map((v) => `${v.count} x ${v.type}`).join(', ')}`);
    if (e.driver && !kept(e.address, 'driver', e.driver)) lost.push(`${e.address} on ${e.driver}`);
    if (e.sriov && !kept(e.address, 'sriov', e.sriov)) lost.push(`${e.address} with ${e.sriov.vfs} VFs`);
  }
  return lost.length ? [`config ${name} replaces the boot record ${rec.text !== null ? `(config ${rec.name})` : '(records of earlier --persist)'}: ${[...new Set(lost)].join(', ')} no longer kept at boot (add them to the config to keep them)`] : [];
}

export interface BootStatus {
  /** The config the unit applies (null: no unit, or one gpuvirt cannot read a config from). */
  config: string | null;
  /** The record (null: there is none, only files of an earlier version). */
  file: string | null;
  unit: string;
  enabled: boolean;
  /** The record's config: its device entries, as written. */
  devices: { select: string; driver?: string; vfs?: number; vfDriver?: string; vgpu?: string; resetMethod?: string }[];
  /** The early files on disk and what each holds (addresses and what they get). */
  early: { file: string; holds: string[] }[];
  /** Boot files and records of earlier versions, still in effect until converted. */
  legacy: string[];
}

const EARLY = EARLY_FILES;

/** What one early file holds, read back from its lines. */
function holds(file: string, text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = line.match(/KERNEL=="([^"]+)", ATTR\{driver_override\}="([^"]+)"/) ?? line.match(/^# (\S+): (\d+ VFs(?: on \S+)?)$/)
      ?? line.match(/^softdep (\S+) pre: (.+)$/) ?? line.match(/^options gim (vf_num)=(\S+)$/);
    if (!m) continue;
    if (line.startsWith('softdep')) out.push(`${m[1]} loads after ${m[2]}`);
    else if (line.startsWith('options')) out.push(`GIM vf_num=${m[2]}`);
    else if (line.startsWith('#')) out.push(`${m[1]}: ${m[2]}`);
    else out.push(`${m[1]} on ${m[2]}`);
  }
  if (!out.length && file === paths.persist.modprobe) out.push('no softdep (no host driver to load after the passthrough driver)');
  else if (!out.length && file !== paths.persist.udevRule) out.push('the passthrough driver and the udev rule, into the initramfs');
  return [...new Set(out)];
}

/** `status`: the record, its unit, its early files, and anything an earlier version left. */
export function bootStatus(ctx: Ctx, state: GpuvirtState): BootStatus | null {
  const now = persistedConfig(ctx.host);
  const rec = readRecord(ctx);
  const early = EARLY.flatMap((file) => {
    const text = ctx.host.readText(file);
    return text === null ? [] : [{ file, holds: holds(file, text) }];
  });
  const legacy: string[] = [];
  for (const e of legacyEdits(state)) {
    const said = e.driver ? `on ${e.driver}` : e.sriov ? `${e.sriov.vfs} VFs` : `vGPUs ${e.vgpu!.map((v) => `${v.count} x type ${v.type}`).join(', ')}`;
    legacy.push(`${e.address}: ${said} at boot, recorded in state.json by an earlier gpuvirt`);
  }
  if (ctx.host.readText(paths.sriovPersist.nvidiaUnit) !== null) legacy.push(`${paths.sriovPersist.nvidiaUnit}: runs sriov-manage at boot (an earlier gpuvirt's unit)`);
  if (ctx.host.readText(VGPU_UNIT) !== null) legacy.push(`${VGPU_UNIT}: sets vGPU types at boot (an earlier gpuvirt's unit)`);
  if (!now.unit && !now.file && !early.length && !legacy.length) return null;
  const devices = (rec.config?.devices ?? []).map((d) => ({
    select: selectorText(d.select),
    ...(d.driver && { driver: d.driver }), ...(d.sriov && { vfs: d.sriov.vfs, ...(d.sriov.vfDriver && { vfDriver: d.sriov.vfDriver }) }),
    ...(d.vgpu && { vgpu: d.vgpu.map((v) => `${v.count} x ${String(v.type)}`).join(', ') }), ...(d.resetMethod && { resetMethod: d.resetMethod }),
  }));
  return { config: now.config ?? (rec.text !== null ? rec.name : null), file: now.file ? HOST_STATE : null, unit: HOST_UNIT_NAME, enabled: now.enabled, devices, early, legacy };
}
