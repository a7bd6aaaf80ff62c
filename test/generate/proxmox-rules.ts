// Proxmox VE's own rules for what gpuvirt writes, restated from its Perl code (Proxmox's code is
// not in Debian or npm, so it cannot run here). Independent of src/generate/proxmox.ts on
// purpose: it knows only Proxmox. Sources (qemu-server 9.2.6, pve-common 9.2.1, pve-guest-common):
// - parsePropertyString: pve-common JSONSchema.pm parse_property_string + check_object
// - parseHostpci: qemu-server QemuServer/PCI.pm $hostpci_fmt, parse_hostpci, parse_hostpci_devices
// - parseSectionConfig: pve-common SectionConfig.pm parse_config, Mapping/PCI.pm parse_section_header
// - assertValid: pve-guest-common Mapping/PCI.pm assert_valid, with SysFSTools pci_device_info
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export class PveError extends Error {}
const die = (msg: string): never => {
  throw new PveError(msg);
};

interface Prop {
  type: 'string' | 'boolean' | 'integer';
  pattern?: RegExp;
  defaultKey?: boolean;
  optional?: boolean;
  maxLength?: number;
  enum?: string[];
}
export type Format = Record<string, Prop>;

const PCIRE = '(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\\.[a-f0-9])?';
const CONFIGID = /^[a-z][a-z0-9_-]+$/i;
const BOOL_WORDS: Record<string, boolean> = { 1: true, on: true, yes: true, true: true, 0: false, off: false, no: false, false: false };

export const HOSTPCI_FMT: Format = {
  host: { type: 'string', defaultKey: true, optional: true, pattern: new RegExp(`^${PCIRE}(;${PCIRE})*$`) },
  mapping: { type: 'string', optional: true, pattern: CONFIGID },
  rombar: { type: 'boolean', optional: true },
  romfile: { type: 'string', optional: true, pattern: /^[^,;]+$/ },
  pcie: { type: 'boolean', optional: true },
  'x-vga': { type: 'boolean', optional: true },
  'legacy-igd': { type: 'boolean', optional: true },
  mdev: { type: 'string', optional: true, pattern: /^[^/.:]+$/ },
  'vendor-id': { type: 'string', optional: true, pattern: /^0x[0-9a-fA-F]{4}$/ },
  'device-id': { type: 'string', optional: true, pattern: /^0x[0-9a-fA-F]{4}$/ },
  'sub-vendor-id': { type: 'string', optional: true, pattern: /^0x[0-9a-fA-F]{4}$/ },
  'sub-device-id': { type: 'string', optional: true, pattern: /^0x[0-9a-fA-F]{4}$/ },
};

const MAP_PCI = '[a-f0-9]{4,}:[a-f0-9]{2}:[a-f0-9]{2}(?:\\.[a-f0-9])?';
export const MAP_FMT: Format = {
  node: { type: 'string', pattern: /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/ },
  id: { type: 'string', pattern: /^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}$/ },
  'subsystem-id': { type: 'string', optional: true, pattern: /^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}$/ },
  path: { type: 'string', pattern: new RegExp(`^(?:${MAP_PCI};)*${MAP_PCI}$`) },
  iommugroup: { type: 'integer', optional: true },
  description: { type: 'string', optional: true, maxLength: 4096 },
};

/** parse_property_string: split on ",", key=value or the default key, then check_object. */
export function parsePropertyString(format: Format, data: string): Record<string, string> {
  const res: Record<string, string> = {};
  let defaultKey: string | null = null;
  for (const part of data.split(',')) {
    if (/^\s*$/.test(part)) continue;
    const kv = /^([^=]+)=(.+)$/.exec(part);
    if (kv) {
      const [, k, v] = kv as unknown as [string, string, string];
      if (k in res) die(`duplicate key in comma-separated list property: ${k}`);
      if (!format[k]) die(`invalid key in comma-separated list property: ${k}`);
      res[k] = v;
    } else if (!part.includes('=')) {
      if (defaultKey) die(`duplicate key in comma-separated list property: ${defaultKey}`);
      defaultKey = Object.keys(format).find((k) => format[k]!.defaultKey) ?? die('value without key, but schema does not define a default key');
      if (res[defaultKey!]) die(`duplicate key in comma-separated list property: ${defaultKey}`);
      res[defaultKey!] = part;
    } else die('missing key in comma-separated list property');
  }
  for (const [k, p] of Object.entries(format)) {
    const v = res[k];
    if (v === undefined) {
      if (!p.optional) die(`format error: ${k}: property is missing and it is not optional`);
      continue;
    }
    if (p.type === 'boolean' && !(v.toLowerCase() in BOOL_WORDS)) die(`format error: ${k}: type check ('boolean') failed - got '${v}'`);
    if (p.type === 'integer' && !/^[+-]?\d+$/.test(v)) die(`format error: ${k}: type check ('integer') failed - got '${v}'`);
    if (p.pattern && !p.pattern.test(v)) die(`format error: ${k}: value does not match the regex pattern`);
    if (p.maxLength !== undefined && v.length > p.maxLength) die(`format error: ${k}: value may only be ${p.maxLength} characters long`);
    if (p.enum && !p.enum.includes(v)) die(`format error: ${k}: value '${v}' does not have a value in the enumeration`);
  }
  return res;
}

export const isTrue = (v: string | undefined) => v !== undefined && BOOL_WORDS[v.toLowerCase()] === true;

// ---- the host Proxmox runs on: what SysFSTools reads ----

export interface SysInfo {
  vendor: string;
  device: string;
  subsystem?: string;
  iommugroup?: number;
  mdev: boolean;
}

/** SysFSTools over a sysfs tree at `root` (a fixture); null when no such device. */
export function sysfs(root: string) {
  const dir = join(root, 'sys/bus/pci/devices');
  const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8').split('\n')[0]!.trim() : undefined);
  return {
    /** pci_device_info($path, 1) */
    info(addr: string): SysInfo | null {
      const d = join(dir, addr);
      const irq = read(join(d, 'irq'));
      const vendor = read(join(d, 'vendor'));
      const device = read(join(d, 'device'));
      if (!irq || !/^\d+$/.test(irq) || !vendor?.startsWith('0x') || !device?.startsWith('0x')) return null;
      const sv = read(join(d, 'subsystem_vendor'))?.replace(/^0x/, '');
      const sd = read(join(d, 'subsystem_device'))?.replace(/^0x/, '');
      const link = existsSync(join(d, 'iommu_group')) ? /\/(\d+)$/.exec(readlinkSync(join(d, 'iommu_group'))) : null;
      return {
        vendor: vendor.slice(2), device: device.slice(2),
        ...(sv !== undefined && sd !== undefined ? { subsystem: `${sv}:${sd}` } : {}),
        ...(link ? { iommugroup: Number(link[1]) } : {}),
        mdev: existsSync(join(d, 'mdev_supported_types')) || existsSync(join(d, 'nvidia')),
      };
    },
    /** lspci($filter): every function whose address starts with the filter. */
    lspci(filter: string): string[] {
      return readdirSync(dir).filter((a) => a.startsWith(filter) || a.startsWith(`0000:${filter}`)).sort();
    },
  };
}
export type Sysfs = ReturnType<typeof sysfs>;

// ---- /etc/pve/mapping/pci.cfg ----

export interface MappingCfg {
  id: string;
  map: string[];
  description?: string;
  mdev?: string;
}

/**
 * SectionConfig parse_config with Mapping::PCI's header: a section is its id line and every
 * following line up to the first empty one; an unparsable line is warned about and dropped.
 */
export function parseSectionConfig(text: string): { ids: Record<string, MappingCfg>; warnings: string[] } {
  const lines = text.split('\n');
  const ids: Record<string, MappingCfg> = {};
  const warnings: string[] = [];
  let i = 0;
  const next = () => {
    while (i < lines.length) {
      const l = lines[i++]!;
      if (!/^\s*#/.test(l)) return l;
    }
    return undefined;
  };
  while (i < lines.length) {
    let line = next();
    if (!line) continue;
    const h = /^(\S+)\s*$/.exec(line);
    if (!h) continue;
    const id = h[1]!;
    const skip = !CONFIGID.test(id);
    if (skip) warnings.push(`line ${i} (skip section '${id}'): invalid configuration ID '${id}'`);
    const cfg: MappingCfg = { id, map: [] };
    while ((line = next())) {
      if (skip) continue;
      const m = /^\s+(\S+)(\s+(.*\S))?\s*$/.exec(line);
      if (!m) {
        warnings.push(`line ${i} (section '${id}') - ignore config line: ${line}`);
        continue;
      }
      const [k, v = ''] = [m[1]!, m[3]];
      try {
        if (k === 'map') cfg.map.push((parsePropertyString(MAP_FMT, v), v));
        else if (k === 'description') {
          if (cfg.description !== undefined) die('duplicate attribute');
          if (v.length > 4096) die('value may only be 4096 characters long');
          cfg.description = v;
        } else if (k === 'mdev' || k === 'live-migration-capable') {
          if (cfg.mdev !== undefined && k === 'mdev') die('duplicate attribute');
          if (!(v.toLowerCase() in BOOL_WORDS)) die(`type check ('boolean') failed - got '${v}'`);
          if (k === 'mdev') cfg.mdev = v;
        } else die(`unknown property type`);
      } catch (e) {
        warnings.push(`line ${i} (section '${id}') - unable to parse value of '${k}': ${(e as Error).message}`);
      }
    }
    if (!skip) {
      if (!cfg.map.length) warnings.push(`(skip section '${id}'): missing value for required option 'map'`);
      else ids[id] = cfg;
    }
  }
  return { ids, warnings };
}

/** Mapping::PCI assert_valid for one map line on this host. */
export function assertValid(name: string, map: Record<string, string>, cfg: MappingCfg | undefined, host: Sysfs): void {
  const paths = (map.path ?? '').split(';');
  paths.forEach((p, idx) => {
    const path = /\.[a-f0-9]/i.test(p) ? p : `${p}.0`;
    const info = host.info(path) ?? die(`pci device '${path}' not found`);
    const expected: Record<string, string | undefined> = {
      id: `${info!.vendor}:${info!.device}`,
      iommugroup: info!.iommugroup === undefined ? undefined : String(info!.iommugroup),
      'subsystem-id': info!.subsystem,
    };
    const configured: Record<string, string | undefined> = { id: map.id, iommugroup: map.iommugroup, 'subsystem-id': map['subsystem-id'] };
    if (cfg) {
      expected.mdev = info!.mdev ? '1' : '0';
      configured.mdev = isTrue(cfg.mdev) ? '1' : '0';
    }
    for (const prop of Object.keys(expected).sort()) {
      if (prop === 'iommugroup' && idx > 0) continue;
      const e = expected[prop];
      const c = configured[prop];
      if (e === undefined && c === undefined) continue;
      if (e !== undefined && c === undefined) die(`missing expected property '${prop}' for device '${path}'`);
      if (e === undefined && c !== undefined) die(`unexpected property '${prop}' configured for device '${path}'`);
      if (e!.replace(/0x/g, '') !== c!.replace(/0x/g, '')) die(`'${prop}' does not match for '${name}' (${e} != ${c})`);
    }
  });
}

// ---- hostpciN ----

export interface HostpciParsed {
  props: Record<string, string>;
  /** Alternatives; each is the list of host functions that become ONE guest device. */
  alternatives: string[][];
}

/** parse_hostpci (+ the q35 check of parse_hostpci_devices), mappings resolved for `node`. */
export function parseHostpci(value: string, ctx: { q35: boolean; node?: string; mappings: Record<string, MappingCfg>; host: Sysfs }): HostpciParsed {
  const props = parsePropertyString(HOSTPCI_FMT, value);
  const { host: hostList, mapping } = props;
  if (hostList !== undefined && mapping !== undefined) die("Cannot set both 'host' and 'mapping'.");
  const raw: string[][] = [];
  if (mapping) {
    const cfg = ctx.mappings[mapping];
    const maps = (cfg?.map ?? []).map((m) => parsePropertyString(MAP_FMT, m)).filter((m) => m.node === ctx.node);
    if (!maps.length) die(`PCI device mapping not found for '${mapping}'`);
    for (const m of maps) {
      try {
        assertValid(mapping, m, cfg, ctx.host);
      } catch (e) {
        die(`PCI device mapping invalid (hardware probably changed): ${(e as Error).message}`);
      }
      raw.push(m.path!.split(';'));
    }
  } else if (hostList) raw.push(hostList.split(';'));
  else die("Either 'host' or 'mapping' must be set.");
  const alternatives = raw.map((alt) => {
    const ids = alt.flatMap((id) => {
      const devs = ctx.host.lspci(id);
      return devs.length ? devs : die(`no PCI device found for '${id}'`);
    });
    if (ids.length > 1 && props.mdev) die('cannot use mediated device with multifunction device');
    return ids;
  });
  if (!ctx.q35 && isTrue(props.pcie)) die('q35 machine model is not enabled');
  return { props, alternatives };
}

// ---- the VM config ----

const VGA = ['cirrus', 'qxl', 'qxl2', 'qxl3', 'qxl4', 'none', 'serial0', 'serial1', 'serial2', 'serial3', 'std', 'virtio', 'virtio-gl', 'vmware'];
/** The qemu-server keys gpuvirt may write, with their format (QemuServer.pm $confdesc). */
export const CONF_KEYS: Record<string, RegExp> = {
  name: /^(?=.{1,63}$)[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/,
  ostype: /^(other|wxp|w2k|w2k3|w2k8|wvista|win7|win8|win10|win11|l24|l26|solaris)$/,
  machine: /^(q35|pc|pc-(i440fx|q35)-\d+\.\d+(\+pve\d+)?)$/,
  bios: /^(seabios|ovmf)$/,
  cpu: /^host$/,
  sockets: /^[1-9]\d*$/,
  cores: /^[1-9]\d*$/,
  memory: /^\d+$/,
  balloon: /^\d+$/,
  affinity: /^\d+(-\d+)?(,\d+(-\d+)?)*$/,
  hugepages: /^(any|2|1024)$/,
  vga: new RegExp(`^(${VGA.join('|')})(,.*)?$`),
  scsihw: /^(lsi|lsi53c810|virtio-scsi-pci|virtio-scsi-single|megasas|pvscsi)$/,
  ivshmem: /^size=\d+(,name=[^,]+)?$/,
  args: /^[^\n]+$/,
  efidisk0: /^[a-z][a-z0-9\-_.]*[a-z0-9]:1,efitype=4m,pre-enrolled-keys=[01]$/i,
  tpmstate0: /^[a-z][a-z0-9\-_.]*[a-z0-9]:1,version=v2\.0$/i,
  description: /^[\s\S]*$/,
};

/** Keys and value formats of the conf / qm create settings gpuvirt writes. */
export function checkConfKey(key: string, value: string): void {
  if (/^hostpci(\d+)$/.test(key)) {
    if (Number(key.slice(7)) > 15) die(`${key}: only hostpci0 to hostpci15`);
    return;
  }
  if (/^net\d+$/.test(key)) {
    const p = parsePropertyString({ model: { type: 'string', defaultKey: true, enum: ['virtio', 'e1000', 'e1000e', 'rtl8139', 'vmxnet3'] }, bridge: { type: 'string', optional: true, pattern: /^[-_.\w\d]+$/ }, macaddr: { type: 'string', optional: true, pattern: /^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/i } }, value);
    if (!p.model) die(`${key}: no model`);
    return;
  }
  if (/^(scsi|virtio|sata)\d+$/.test(key)) {
    if (!/^[a-z][a-z0-9\-_.]*[a-z0-9]:\d+(,iothread=1)?$/i.test(value)) die(`${key}: not a new volume STORAGE:SIZE`);
    return;
  }
  const re = CONF_KEYS[key];
  if (!re) die(`${key}: not a key gpuvirt knows the format of`);
  if (!re!.test(value)) die(`${key}: bad value ${JSON.stringify(value)}`);
}
