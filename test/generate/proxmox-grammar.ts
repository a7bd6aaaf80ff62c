// A checker for what gpuvirt writes for Proxmox VE, from the grammar in the shared
// host-facts D3 (qm.conf hostpci[n]; pve-guest-common PCI mapping SectionConfig). Independent
// of src/generate/proxmox.ts on purpose: it only knows the grammar.

const HOSTPCI_KEYS = new Set(['host', 'device-id', 'driver', 'legacy-igd', 'mapping', 'mdev', 'pcie', 'rombar', 'romfile', 'sub-device-id', 'sub-vendor-id', 'vendor-id', 'x-vga']);
const HOSTPCIID = /^(?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-1][0-9a-f](?:\.[0-7])?$/;
const BOOL = /^[01]$/;
const MAP_PATH = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f](?:\.[0-7])?$/;
const ID = /^[0-9a-f]{4}:[0-9a-f]{4}$/;

export interface Hostpci {
  index: number;
  props: Record<string, string>;
}

/** Splits a property string; the first item may omit its key (the default key). */
function propertyString(value: string, defaultKey: string | null, errors: string[], where: string): Record<string, string> {
  const out: Record<string, string> = {};
  value.split(',').forEach((item, i) => {
    const eq = item.indexOf('=');
    const [k, v] = eq < 0 ? (i === 0 && defaultKey ? [defaultKey, item] : [item, '']) : [item.slice(0, eq), item.slice(eq + 1)];
    if (k in out) errors.push(`${where}: ${k} given twice`);
    out[k] = v;
  });
  return out;
}

export function checkHostpci(line: string, machine: string | undefined, errors: string[]): Hostpci | null {
  const m = /^hostpci(\d+): (.+)$/.exec(line);
  if (!m) return null;
  const index = Number(m[1]);
  const where = `hostpci${index}`;
  if (index > 15) errors.push(`${where}: only hostpci0 to hostpci15`);
  const props = propertyString(m[2]!, 'host', errors, where);
  for (const k of Object.keys(props)) if (!HOSTPCI_KEYS.has(k)) errors.push(`${where}: unknown key ${k}`);
  if (('host' in props) === ('mapping' in props)) errors.push(`${where}: exactly one of host and mapping`);
  if (props.host !== undefined) for (const id of props.host.split(';')) if (!HOSTPCIID.test(id)) errors.push(`${where}: bad HOSTPCIID ${id}`);
  for (const k of ['pcie', 'x-vga', 'rombar', 'legacy-igd']) if (props[k] !== undefined && !BOOL.test(props[k]!)) errors.push(`${where}: ${k}=${props[k]} is not 0 or 1`);
  if (props.pcie === '1' && machine !== 'q35') errors.push(`${where}: pcie=1 needs machine q35`);
  if (props.romfile !== undefined && !/^[A-Za-z0-9._-]+$/.test(props.romfile)) errors.push(`${where}: romfile must be a file name in /usr/share/kvm`);
  if (props.mdev !== undefined && !/^[A-Za-z0-9_.:-]+$/.test(props.mdev)) errors.push(`${where}: bad mdev type ${props.mdev}`);
  return { index, props };
}

export interface Mapping {
  id: string;
  maps: Record<string, string>[];
  props: Record<string, string>;
}

/** /etc/pve/mapping/pci.cfg: an id line, then tab-indented `key value` lines. */
export function parseMappingFile(text: string, errors: string[]): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (!line.startsWith('\t')) {
      if (!/^[a-z][a-z0-9_-]*$/i.test(line)) errors.push(`mapping id ${JSON.stringify(line)} is not a config id`);
      out.push({ id: line, maps: [], props: {} });
      continue;
    }
    const cur = out[out.length - 1];
    if (!cur) {
      errors.push(`property before any id: ${line}`);
      continue;
    }
    const m = /^\t([a-z-]+) (.*)$/.exec(line);
    if (!m) {
      errors.push(`${cur.id}: bad property line ${JSON.stringify(line)}`);
      continue;
    }
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'map') {
      const p = propertyString(value, null, errors, `${cur.id} map`);
      for (const k of Object.keys(p)) if (!['node', 'path', 'id', 'subsystem-id', 'iommugroup', 'description'].includes(k)) errors.push(`${cur.id}: unknown map key ${k}`);
      for (const req of ['node', 'path', 'id']) if (p[req] === undefined) errors.push(`${cur.id}: map without ${req}`);
      if (p.path !== undefined) for (const path of p.path.split(';')) if (!MAP_PATH.test(path)) errors.push(`${cur.id}: bad path ${path}`);
      if (p.id !== undefined && !ID.test(p.id)) errors.push(`${cur.id}: bad id ${p.id}`);
      if (p['subsystem-id'] !== undefined && !ID.test(p['subsystem-id'])) errors.push(`${cur.id}: bad subsystem-id`);
      if (p.iommugroup !== undefined && !/^\d+$/.test(p.iommugroup)) errors.push(`${cur.id}: bad iommugroup`);
      const keys = Object.keys(p);
      if (keys.join() !== [...keys].sort().join()) errors.push(`${cur.id}: map keys not in Proxmox's (sorted) order`);
      cur.maps.push(p);
    } else if (key === 'mdev' || key === 'live-migration-capable') {
      if (!BOOL.test(value)) errors.push(`${cur.id}: ${key} must be 0 or 1`);
      cur.props[key] = value;
    } else if (key === 'description') cur.props[key] = value;
    else errors.push(`${cur.id}: unknown property ${key}`);
  }
  return out;
}
