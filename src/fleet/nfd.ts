// Node Feature Discovery labels for this host (kubernetes-sigs/node-feature-discovery,
// docs/usage/customization-guide.md, "Local feature source"): a file in
// /etc/kubernetes/node-feature-discovery/features.d/ with one `<namespace>/<name>=<value>` per
// line and `#` comments. nfd-worker ignores dotfiles and files over 64 KiB, and nfd-master drops
// a label whose key or value Kubernetes would refuse, so every line is checked here.
import type { HostOffer } from './offer.js';
import { addressLabel, isLabelValue, isQualifiedName, toLabelName } from './names.js';

export const NFD_FEATURES_FILE = '/etc/kubernetes/node-feature-discovery/features.d/gpuvirt';
export const DEFAULT_LABEL_NAMESPACE = 'gpuvirt.io';
const MAX_FILE = 64 * 1024;

export interface Label {
  key: string;
  value: string;
}

export interface ConfigState {
  name: string;
  /** `host assert` passes for it now. */
  asserted: boolean;
}

export interface LabelSet {
  labels: Label[];
  /** Labels left out (a key or value Kubernetes would refuse) and why. */
  dropped: string[];
}

/** The labels, sorted by key; each is valid for Kubernetes or left out with the reason. */
export function hostLabels(offer: HostOffer, ns: string, config: ConfigState | null): LabelSet {
  const raw: [string, string][] = [
    ['iommu', String(offer.iommu)],
    ['gpus', String(offer.gpus.length)],
    ['gpus.isolated', String(offer.gpus.filter((g) => g.isolation === 'clean').length)],
    ['sriov', String(offer.gpus.some((g) => (g.sriov?.totalVfs ?? 0) > 0))],
    ['vgpu', String(offer.gpus.some((g) => (g.vgpu?.types.length ?? 0) > 0))],
  ];
  const types = new Map<string, string | null>();
  for (const g of offer.gpus) {
    const p = `gpu.${addressLabel(g.address)}`;
    raw.push([`${p}.id`, `${g.vendorId}-${g.deviceId}`], [`${p}.driver`, g.driver ?? 'none'], [`${p}.isolation`, g.isolation]);
    if (g.sriov) raw.push([`${p}.sriov.totalvfs`, String(g.sriov.totalVfs)], [`${p}.sriov.numvfs`, String(g.sriov.numVfs)]);
    if (g.vgpu) {
      raw.push([`${p}.vgpu`, g.vgpu.mechanism]);
      for (const t of g.vgpu.types) if (!types.has(t.id)) types.set(t.id, t.name);
    }
  }
  for (const [id, name] of types) raw.push([`vgpu.${id}`, name ?? 'true']);
  if (config) raw.push(['host-config', config.name], ['host-config.asserted', String(config.asserted)]);
  const labels: Label[] = [];
  const dropped: string[] = [];
  for (const [name, text] of raw) {
    const key = `${ns}/${toLabelName(name) ?? ''}`;
    const value = toLabelName(text) ?? '';
    if (!isQualifiedName(key) || !isLabelValue(value)) dropped.push(`${ns}/${name}=${text}: not a valid Kubernetes label`);
    else labels.push({ key, value });
  }
  labels.sort((a, b) => a.key.localeCompare(b.key));
  return { labels, dropped };
}

/** The features.d file; null when it would pass NFD's 64 KiB limit (NFD would ignore all of it). */
export function renderFeatureFile(set: LabelSet, node: string | null): string | null {
  const lines = [
    `# Node Feature Discovery labels written by gpuvirt host labels${node ? ` on ${node}` : ''}.`,
    '# Rewritten whole on every run; edits here are lost.',
    ...set.labels.map((l) => `${l.key}=${l.value}`),
  ];
  const text = `${lines.join('\n')}\n`;
  return Buffer.byteLength(text) > MAX_FILE ? null : text;
}
