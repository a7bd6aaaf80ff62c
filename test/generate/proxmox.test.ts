// Proxmox VE's rules (test/generate/proxmox-rules.ts), one test each, then every example and
// edge profile through them: the conf file, the commands script and the pci.cfg sections.
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/sim.js';
import { ALL_CASES, EDGE, type Case } from './cases.js';
import {
  assertValid, checkConfKey, HOSTPCI_FMT, MAP_FMT, parseHostpci, parsePropertyString, parseSectionConfig, sysfs, type MappingCfg,
} from './proxmox-rules.js';
import { gpuvirt, hostArgs } from './run.js';
import { runWithStubs } from './stub-run.js';
import { parseQemuOpts } from './tools.js';

const nvidia = sysfs(`${FIXTURES}intel-desktop-nvidia`);
const mxgpu = sysfs(`${FIXTURES}server-mxgpu-sriov`);
const ctx = (mappings: Record<string, MappingCfg> = {}, q35 = true) => ({ q35, node: 'pve1', mappings, host: nvidia });
const cfg = (id: string, map: string[], mdev?: string): Record<string, MappingCfg> => ({ [id]: { id, map, ...(mdev ? { mdev } : {}) } });
const GPU = 'id=10de:2204,iommugroup=8,node=pve1,subsystem-id=1043:87b3';

describe('property strings (parse_property_string)', () => {
  it('refuses a key given twice', () => expect(() => parsePropertyString(HOSTPCI_FMT, '01:00.0,pcie=1,pcie=0')).toThrow(/duplicate key.*pcie/));
  it('refuses an unknown key', () => expect(() => parsePropertyString(HOSTPCI_FMT, '01:00.0,display=on')).toThrow(/invalid key.*display/));
  it('takes one value without a key, as the default key', () => {
    expect(parsePropertyString(HOSTPCI_FMT, '0000:01:00.0;0000:01:00.1,pcie=1')).toEqual({ host: '0000:01:00.0;0000:01:00.1', pcie: '1' });
    expect(() => parsePropertyString(HOSTPCI_FMT, '01:00.0,01:00.1')).toThrow(/duplicate key.*host/);
  });
  it('refuses an empty value', () => expect(() => parsePropertyString(HOSTPCI_FMT, '01:00.0,romfile=')).toThrow(/missing key/));
  it('romfile allows spaces, not "," or ";"', () => {
    expect(parsePropertyString(HOSTPCI_FMT, '01:00.0,romfile=My Card (v2).rom').romfile).toBe('My Card (v2).rom');
    expect(() => parsePropertyString(HOSTPCI_FMT, '01:00.0,romfile=a;b.rom')).toThrow(/romfile/);
    expect(() => parsePropertyString(HOSTPCI_FMT, '01:00.0,romfile=a,b.rom')).toThrow(/duplicate key.*host/);
  });
  it('mdev types cannot contain ".", ":" or "/"', () => expect(() => parsePropertyString(HOSTPCI_FMT, '00:02.0,mdev=a.b')).toThrow(/mdev/));
  it('booleans are 0/1/on/off/yes/no/true/false', () => expect(() => parsePropertyString(HOSTPCI_FMT, '01:00.0,x-vga=maybe')).toThrow(/boolean/));
});

describe('hostpci (parse_hostpci)', () => {
  it('a ";" list is ONE device with every address as a function', () => {
    expect(parseHostpci('0000:01:00.0;0000:01:00.1', ctx()).alternatives).toEqual([['0000:01:00.0', '0000:01:00.1']]);
  });
  it('an address without a function passes every function of the slot', () => {
    expect(parseHostpci('0000:01:00', ctx()).alternatives).toEqual([['0000:01:00.0', '0000:01:00.1']]);
  });
  it('several map lines for the node are alternatives', () => {
    const map = [0, 1].map((i) => `id=1002:74b5,iommugroup=${24 + i},node=pve1,path=0000:41:02.${i},subsystem-id=1002:74a1`);
    expect(parseHostpci('mapping=pool', { ...ctx(cfg('pool', map)), host: mxgpu }).alternatives).toEqual([['0000:41:02.0'], ['0000:41:02.1']]);
  });
  it('refuses host and mapping together, and neither', () => {
    expect(() => parseHostpci('host=01:00.0,mapping=xx', ctx())).toThrow(/both/);
    expect(() => parseHostpci('pcie=1', ctx())).toThrow(/Either/);
  });
  it('refuses a mapping with no line for this node', () => expect(() => parseHostpci('mapping=mm', ctx(cfg('mm', [`${GPU},path=0000:01:00`.replace('pve1', 'pve2')])))).toThrow(/not found/));
  it('a mapping id is a config id (a letter, then at least one more character)', () => expect(() => parseHostpci('mapping=m', ctx())).toThrow(/mapping/));
  it('pcie=1 needs q35', () => expect(() => parseHostpci('0000:01:00,pcie=1', ctx({}, false))).toThrow(/q35/));
  it('an mdev cannot be multifunction', () => expect(() => parseHostpci('0000:01:00,mdev=nvidia-1', ctx())).toThrow(/multifunction/));
});

describe('mapping check at VM start (assert_valid)', () => {
  const check = (map: string, mdev?: string) => () => assertValid('m', parsePropertyString(MAP_FMT, map), { id: 'm', map: [map], ...(mdev ? { mdev } : {}) }, nvidia);
  it('accepts a complete line', () => expect(check(`${GPU},path=0000:01:00.0`)).not.toThrow());
  it('a line without iommugroup fails', () => expect(check('id=10de:2204,node=pve1,path=0000:01:00.0,subsystem-id=1043:87b3')).toThrow(/missing expected property 'iommugroup'/));
  it('a line without subsystem-id fails', () => expect(check('id=10de:2204,iommugroup=8,node=pve1,path=0000:01:00.0')).toThrow(/missing expected property 'subsystem-id'/));
  it('each path of a list is checked against the same id', () => expect(check(`${GPU},path=0000:01:00.0;0000:01:00.1`)).toThrow(/'id' does not match .*10de:1aef != 10de:2204/));
  it('a whole slot is checked as its function 0', () => expect(check(`${GPU},path=0000:01:00`)).not.toThrow());
  it('mdev must say whether the device offers mdevs', () => expect(check(`${GPU},path=0000:01:00`, '1')).toThrow(/'mdev' does not match/));
  it('a device that does not exist fails', () => expect(check(`${GPU},path=0000:09:00.0`)).toThrow(/not found/));
});

describe('pci.cfg (SectionConfig)', () => {
  it('reads sections separated by an empty line', () => {
    const { ids, warnings } = parseSectionConfig(`a1\n\tmap ${GPU},path=0000:01:00\n\tdescription x y\n\nb1\n\tmap ${GPU},path=0000:01:00\n\tmdev 1\n\n`);
    expect(warnings).toEqual([]);
    expect(Object.keys(ids)).toEqual(['a1', 'b1']);
    expect(ids.a1!.description).toBe('x y');
  });
  it('without the empty line, the next id is a bad line of the previous section and is lost', () => {
    const { ids, warnings } = parseSectionConfig(`a1\n\tmap ${GPU},path=0000:01:00\nb1\n\tmap ${GPU},path=0000:01:00\n`);
    expect(Object.keys(ids)).toEqual(['a1']);
    expect(warnings.join()).toMatch(/ignore config line: b1/);
  });
  it('a section needs a map and a valid id', () => {
    expect(parseSectionConfig('a1\n\tdescription x\n').warnings.join()).toMatch(/required option 'map'/);
    expect(parseSectionConfig(`1a\n\tmap ${GPU},path=0000:01:00\n`).warnings.join()).toMatch(/invalid configuration ID/);
  });
  it('a map line needs node, path and id', () => expect(parseSectionConfig('a1\n\tmap node=pve1,path=0000:01:00\n').warnings.join()).toMatch(/id: property is missing/));
});

describe('VM settings', () => {
  it('name is a DNS name', () => {
    expect(() => checkConfKey('name', 'win11-gaming')).not.toThrow();
    expect(() => checkConfKey('name', 'ünï cødé')).toThrow(/name/);
  });
  it('only hostpci0 to hostpci15', () => expect(() => checkConfKey('hostpci16', '01:00.0')).toThrow());
});

// ---- every profile ----

type Px = { conf: string; commands: string; mapping: string };
const outputs: Record<string, { px: Px; qemu: string[] | null }> = {};

beforeAll(async () => {
  for (const c of ALL_CASES) {
    const r = await gpuvirt(['generate', c.file, '--target', 'proxmox', '--json', ...hostArgs(c.root)]);
    expect(r.code, `${c.name}: ${r.stdout}`).toBe(0);
    const q = await gpuvirt(['generate', c.file, '--target', 'qemu', '--json', ...hostArgs(c.root)]);
    outputs[c.name] = { px: r.doc.data.proxmox.artifacts, qemu: q.code === 0 ? q.doc.data.argv : null };
  }
}, 60_000);

/** The pci.cfg text pvesh writes for these `pvesh create` calls (SectionConfig write_config). */
function pveshWrites(calls: string[][]): string {
  return calls.map((argv) => {
    const opt = (k: string) => argv.flatMap((a, i) => (a === `--${k}` ? [argv[i + 1]!] : []));
    return `${opt('id')[0]}\n${opt('map').map((m) => `\tmap ${m}\n`).join('')}${opt('description').map((d) => `\tdescription ${d}\n`).join('')}${opt('mdev').map((m) => `\tmdev ${m}\n`).join('')}\n`;
  }).join('');
}

/** qemu's vfio-pci host addresses per Proxmox-style device id (hostpciN). */
function qemuDevices(argv: string[]): string[][] {
  const byDev: string[][] = [];
  argv.forEach((a, i) => {
    if (argv[i - 1] !== '-device' || !a.startsWith('vfio-pci,')) return;
    const p = Object.fromEntries(parseQemuOpts(a).props);
    const n = Number(/^hostpci(\d+)/.exec(p.id!)![1]);
    (byDev[n] ??= []).push(p.host ?? p.sysfsdev!);
  });
  return byDev;
}

describe.each(ALL_CASES)('$name through Proxmox\'s rules', (c: Case) => {
  it('conf, commands and pci.cfg are accepted and mean what the QEMU target means', () => {
    const { px, qemu } = outputs[c.name]!;
    const conf = px.conf.trimEnd().split('\n').map((l) => /^([a-z0-9-]+): (.*)$/.exec(l)!.slice(1) as [string, string]);
    const { ids: mappings, warnings } = parseSectionConfig(px.mapping);
    expect(warnings).toEqual([]);
    const calls = runWithStubs(px.commands, ['pvesh', 'qm']);
    expect(pveshWrites(calls.filter((a) => a[0] === 'pvesh'))).toBe(px.mapping);
    const create = calls.filter((a) => a[0] === 'qm');
    expect(create.map((a) => a.slice(0, 2))).toEqual([['qm', 'create']]);
    const opts: [string, string][] = [];
    for (let i = 3; i < create[0]!.length; i += 2) opts.push([create[0]![i]!.slice(2), create[0]![i + 1]!]);
    for (const [k, v] of opts) expect(() => checkConfKey(k, v), `${k}: ${v}`).not.toThrow();
    for (const kv of conf) expect(opts).toContainEqual(kv);
    const q35 = conf.some(([k, v]) => k === 'machine' && v === 'q35');
    const host = c.root ? sysfs(`${FIXTURES}${c.root}`) : null;
    const node = /node=([^,]+)/.exec(px.mapping)?.[1];
    const hostpci = conf.filter(([k]) => k.startsWith('hostpci'));
    hostpci.forEach(([, v]) => {
      if (host) {
        const parsed = parseHostpci(v, { q35, node, mappings, host });
        if (qemu && !parsed.props.mdev) {
          const qdev = qemuDevices(qemu)[Number(hostpci.findIndex(([, w]) => w === v))]!;
          // The device QEMU gets is one of Proxmox's alternatives, with the same functions.
          expect(parsed.alternatives, `${c.name}: ${v}`).toContainEqual(qdev);
        }
      } else {
        const p = parsePropertyString(HOSTPCI_FMT, v);
        if (p.mapping) for (const m of mappings[p.mapping]!.map) expect(m).toMatch(/(^|,)iommugroup=\d+/);
      }
    });
  });
});

describe('what Proxmox cannot say', () => {
  it('a ROM name with a comma is refused for Proxmox only', async () => {
    const px = await gpuvirt(['generate', `${EDGE}rom-comma.yaml`, '--target', 'proxmox', '--root', `${FIXTURES}intel-desktop-nvidia`]);
    expect(px.code).toBe(2);
    expect(px.stderr).toMatch(/romfile cannot contain "," or ";"/);
    const q = await gpuvirt(['generate', `${EDGE}rom-comma.yaml`, '--target', 'qemu', '--root', `${FIXTURES}intel-desktop-nvidia`]);
    expect(q.code).toBe(0);
    expect(q.stdout).toContain("romfile=/var/lib/vbios/a,,b rom.bin");
  });
});
