// The one record of what this host keeps across reboots: /etc/gpuvirt/host.yaml, a host config
// file (gpuvirt/v1, kind HostConfig), and the config in it that gpuvirt-host.service applies.
// `host apply --persist` records a user's file as given. The single commands' --persist
// (passthrough, release, sriov enable|disable) edit the recorded config in place: one entry per
// device, selected by its address alone, the rest of the file (other configs, comments, the
// user's own entries) left as written. With no record yet they start one whose only config is
// named `local`. A device that one of the user's own entries (an id, a name, all, an index,
// or a second entry) already says something else about is refused, never rewritten: the user's
// config stays what the user wrote, and the message says to change it there.
//
// Records from before this file (state.json `persisted` flags, kept with their own boot files)
// are converted the first time anything edits the record: each becomes an address entry.
import { isMap, isScalar, isSeq, parseDocument, type Document, type YAMLMap, type YAMLSeq } from 'yaml';
import type { Ctx } from '../context.js';
import type { Refusal } from '../change/types.js';
import type { GpuvirtState, PassthroughDriver } from '../state.js';
import { HOST_STATE, persistedConfig } from './boot.js';
import { loadHostConfigText } from './load.js';
import type { HostConfig, HostDevice } from './schema.js';
import { selectDevices, selectorText } from './state.js';

/** The config the single commands start when the host has no record. */
export const LOCAL_CONFIG = 'local';

export interface BootRecord {
  /** host.yaml as it is (null: there is none). */
  text: string | null;
  /** The config the unit applies, or would. */
  name: string;
  /** That config, parsed (null: no record, or one gpuvirt cannot read). */
  config: HostConfig | null;
  /** Why the record cannot be read or edited. */
  problems: string[];
}

/** What a single command wants recorded for one device: undefined leaves a field alone, null removes it. */
export interface DeviceEdit {
  address: string;
  driver?: PassthroughDriver | null;
  sriov?: { vfs: number; vfDriver?: 'vfio-pci' } | null;
  /** vGPUs per type (type ids), on a GPU: the whole list the entry gets. */
  vgpu?: VgpuWant[] | null;
}

export interface VgpuWant {
  type: string;
  count: number;
}

type Wants = { driver?: PassthroughDriver; sriov?: { vfs: number; vfDriver?: 'vfio-pci' }; vgpu?: VgpuWant[] };
const FIELDS = ['driver', 'sriov', 'vgpu'] as const;

const NEW_RECORD = (name: string) => [
  '# What gpuvirt sets up again at every boot: gpuvirt-host.service applies this config, and the',
  '# udev, modprobe and initramfs files that must act before any unit are generated from it.',
  '# The --persist of `gpuvirt passthrough`, `release`, `sriov enable|disable`, `vgpu create|remove`',
  '# and `apply` edit it;',
  '# `gpuvirt host unpersist` removes it and everything generated from it.',
  'apiVersion: gpuvirt/v1',
  'kind: HostConfig',
  'configs:',
  `  ${name}:`,
  '    devices: []',
  '',
].join('\n');

const full = (a: string) => (a.length === 7 ? `0000:${a}` : a).toLowerCase();

export function readRecord(ctx: Pick<Ctx, 'host'>): BootRecord {
  const text = ctx.host.readText(HOST_STATE);
  const unitName = persistedConfig(ctx.host).config;
  if (text === null) return { text, name: unitName ?? LOCAL_CONFIG, config: null, problems: [] };
  const loaded = loadHostConfigText(text);
  if (!loaded.file) {
    const errors = loaded.problems.filter((p) => p.severity === 'error').map((p) => `${HOST_STATE}:${p.line ?? 1}:${p.col ?? 1}: ${p.message}`);
    return { text, name: unitName ?? LOCAL_CONFIG, config: null, problems: errors };
  }
  const names = Object.keys(loaded.file.configs);
  const name = unitName ?? (names.length === 1 ? names[0]! : LOCAL_CONFIG);
  const config = Object.hasOwn(loaded.file.configs, name) ? loaded.file.configs[name]! : null;
  return { text, name, config, problems: config || !unitName ? [] : [`${HOST_STATE} has no config ${name}, which gpuvirt-host.service applies`] };
}

/** An entry that selects exactly one device by its address and nothing else: the single commands' own. */
function ownEntry(d: HostDevice, address: string): boolean {
  const keys = Object.entries(d.select).filter(([, v]) => v !== undefined).map(([k]) => k);
  return keys.length === 1 && keys[0] === 'address' && full(d.select.address!) === address;
}

/** Every entry other than the device's own that selects it on this host. */
function otherEntries(ctx: Ctx, config: HostConfig, address: string): { entry: HostDevice; index: number }[] {
  return config.devices.flatMap((entry, index) => {
    if (ownEntry(entry, address)) return [];
    const picked = selectDevices(ctx.host, ctx.names, { ...config, devices: [entry] }).devices.some((s) => s.now.address === address);
    return picked ? [{ entry, index }] : [];
  });
}

/** What the record says for each device now, as the single commands' edits would say it (address entries and selectors resolved here). */
export function recordedWants(ctx: Ctx, rec: BootRecord): Map<string, Wants> {
  const out = new Map<string, Wants>();
  if (!rec.config) return out;
  for (const d of selectDevices(ctx.host, ctx.names, rec.config).devices) {
    out.set(d.now.address, { ...(d.want.driver && { driver: d.want.driver }), ...(d.want.sriov && { sriov: d.want.sriov }), ...(d.want.vgpu && { vgpu: d.want.vgpu }) });
  }
  return out;
}

/**
 * The edits that carry records from before host.yaml into it: state.json `persisted` flags, and
 * its vGPU records (types set on VFs by their own unit), as vGPUs per GPU and type, with the VF
 * count the GPU has (the vGPUs live on its VFs).
 */
export function legacyEdits(state: GpuvirtState, numVfs: (pf: string) => number | null = () => null): DeviceEdit[] {
  const out: DeviceEdit[] = [];
  for (const d of Object.values(state.devices)) if (d.persisted) out.push({ address: d.address, driver: d.target });
  for (const r of Object.values(state.sriov ?? {})) if (r.persisted) out.push({ address: r.pf, sriov: { vfs: r.numVfs, ...(r.bind ? { vfDriver: r.bind } : {}) } });
  const byPf = new Map<string, Map<string, number>>();
  for (const r of Object.values(state.vgpu ?? {})) {
    const types = byPf.get(r.pf) ?? new Map<string, number>();
    types.set(r.type, (types.get(r.type) ?? 0) + 1);
    byPf.set(r.pf, types);
  }
  for (const [pf, types] of [...byPf].sort(([a], [b]) => a.localeCompare(b))) {
    const vfs = numVfs(pf);
    const sriov = vfs && !out.some((e) => e.address === pf && e.sriov) ? { sriov: { vfs } } : {};
    out.push({ address: pf, vgpu: [...types].sort(([a], [b]) => a.localeCompare(b)).map(([type, count]) => ({ type, count })), ...sriov });
  }
  return out;
}

/** state.json with its `persisted` flags and vGPU records cleared: what they said is in host.yaml now (or was dropped). */
export function clearLegacy(state: GpuvirtState): GpuvirtState {
  for (const d of Object.values(state.devices)) d.persisted = false;
  for (const r of Object.values(state.sriov ?? {})) r.persisted = false;
  delete state.vgpu;
  return state;
}

export const hasLegacy = (state: GpuvirtState): boolean => legacyEdits(state).length > 0;

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

function what(field: (typeof FIELDS)[number], v: unknown): string {
  if (field === 'driver') return `binds it to ${String(v)}`;
  if (field === 'vgpu') return `gives it ${(v as VgpuWant[]).map((w) => `${w.count} vGPU(s) of type ${w.type}`).join(', ')}`;
  const s = v as { vfs: number; vfDriver?: string };
  return `gives it ${s.vfs} VFs${s.vfDriver ? ` on ${s.vfDriver}` : ''}`;
}

function devicesSeq(doc: Document.Parsed, name: string): YAMLSeq {
  if (!doc.hasIn(['configs', name])) doc.setIn(['configs', name], doc.createNode({ devices: [] }));
  if (!isSeq(doc.getIn(['configs', name, 'devices']))) doc.setIn(['configs', name, 'devices'], doc.createNode([]));
  const seq = doc.getIn(['configs', name, 'devices']) as YAMLSeq;
  seq.flow = false;
  return seq;
}

/** The YAML node of a device's own entry, by address. */
function ownNode(seq: YAMLSeq, address: string): YAMLMap | null {
  for (const item of seq.items) {
    if (!isMap(item)) continue;
    const sel = item.get('select');
    if (!isMap(sel) || sel.items.length !== 1) continue;
    const a = sel.get('address');
    if (typeof a === 'string' && full(a) === address) return item;
  }
  return null;
}

function newEntry(doc: Document.Parsed, address: string): YAMLMap {
  const node = doc.createNode({ select: { address } }) as YAMLMap;
  const sel = node.get('select') as YAMLMap;
  sel.flow = true;
  const scalar = sel.items[0]!.value;
  // Quoted, as every address gpuvirt writes: YAML 1.1 readers take 0000:01:00.0 for a number.
  if (isScalar(scalar)) scalar.type = 'QUOTE_DOUBLE';
  return node;
}

/** True when the config says nothing at all: no record is kept for it. */
function empty(text: string, name: string): boolean {
  const file = loadHostConfigText(text).file;
  if (!file) return false;
  const c = file.configs[name];
  return Object.keys(file.configs).length === 1 && !!c && c.devices.length === 0 && !c.description
    && !c.host.iommu && !c.host.vfioModules && c.host.kernelParams.length === 0;
}

/**
 * The record with `edits` made (in order: a later edit of the same device wins), or the refusals
 * that stop it. `text` is null when nothing is left to keep at boot.
 */
export function editRecord(ctx: Ctx, rec: BootRecord, edits: readonly DeviceEdit[]): { text: string | null; refusals: Refusal[] } {
  if (!edits.length) return { text: rec.text, refusals: [] };
  if (rec.problems.length) {
    return { text: rec.text, refusals: [{ code: 'boot-record', message: `${HOST_STATE} cannot be edited: ${rec.problems.join('; ')}`, force: null }] };
  }
  const doc = parseDocument(rec.text ?? NEW_RECORD(rec.name));
  const config: HostConfig = rec.config ?? { host: { iommu: false, kernelParams: [], vfioModules: false }, devices: [] };
  const seq = devicesSeq(doc, rec.name);
  const refusals: Refusal[] = [];
  for (const e of edits) {
    const address = full(e.address);
    const others = otherEntries(ctx, config, address);
    for (const field of FIELDS) {
      const want = e[field];
      if (want === undefined) continue;
      const clash = others.find((o) => o.entry[field] !== undefined);
      let node = ownNode(seq, address);
      if (clash) {
        // The user's own entry already says this: nothing to add, and nothing of theirs to remove.
        if (want !== null && same(clash.entry[field], want)) {
          if (node?.has(field)) node.delete(field);
          continue;
        }
        refusals.push({
          code: 'boot-record', address, force: null,
          message: `${address} is selected by devices[${clash.index}] of config ${rec.name} in ${HOST_STATE} (${selectorText(clash.entry.select)}), which ${what(field, clash.entry[field])}: `
            + 'change it in that config and run `gpuvirt host apply --persist` with it, or `gpuvirt host unpersist` first',
        });
        continue;
      }
      if (want === null) {
        node?.delete(field);
      } else {
        if (!node) {
          node = newEntry(doc, address);
          seq.items.push(node);
        }
        const value = doc.createNode(want) as YAMLMap | ReturnType<Document['createNode']>;
        if (isMap(value)) value.flow = true;
        if (isSeq(value)) for (const item of value.items) if (isMap(item)) item.flow = true;
        node.set(field, value);
      }
      if (node && node.items.length === 1) seq.items.splice(seq.items.indexOf(node), 1);
    }
  }
  if (refusals.length) return { text: rec.text, refusals };
  const text = doc.toString();
  const check = loadHostConfigText(text);
  if (!check.file) {
    const errors = check.problems.filter((p) => p.severity === 'error').map((p) => p.message);
    return { text: rec.text, refusals: [{ code: 'boot-record', message: `the boot record would not be a valid host config: ${errors.join('; ')}`, force: null }] };
  }
  // Nothing said differently: the file stays byte for byte as it is (a round trip may move comments).
  if (rec.text !== null && JSON.stringify(check.file) === JSON.stringify(loadHostConfigText(rec.text).file)) return { text: rec.text, refusals: [] };
  return { text: empty(text, rec.name) ? null : text, refusals: [] };
}

/** What the host keeps at boot now, per device: the record's wants, and flags of earlier versions not converted yet. */
export function keptAtBoot(ctx: Ctx, state: GpuvirtState): { driver: Map<string, PassthroughDriver>; sriov: Map<string, { vfs: number; vfDriver?: 'vfio-pci' }>; vgpu: Map<string, VgpuWant[]> } {
  const driver = new Map<string, PassthroughDriver>();
  const sriov = new Map<string, { vfs: number; vfDriver?: 'vfio-pci' }>();
  const vgpu = new Map<string, VgpuWant[]>();
  for (const [a, w] of recordedWants(ctx, readRecord(ctx))) {
    if (w.driver) driver.set(a, w.driver);
    if (w.sriov) sriov.set(a, w.sriov);
    if (w.vgpu) vgpu.set(a, w.vgpu);
  }
  for (const e of legacyEdits(state)) {
    if (e.driver && !driver.has(e.address)) driver.set(e.address, e.driver);
    if (e.sriov && !sriov.has(e.address)) sriov.set(e.address, e.sriov);
    if (e.vgpu && !vgpu.has(e.address)) vgpu.set(e.address, e.vgpu);
  }
  return { driver, sriov, vgpu };
}

/** The device's own entry in the record says what `field` it has (the entry a single command's --persist would edit). */
export function ownRecorded(ctx: Pick<Ctx, 'host'>, address: string, field: (typeof FIELDS)[number]): boolean {
  const rec = readRecord(ctx);
  return Boolean(rec.config?.devices.some((d) => ownEntry(d, full(address)) && d[field] !== undefined));
}
