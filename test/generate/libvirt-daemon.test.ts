// libvirt's own daemon judges every generated domain: `virsh define`, `dumpxml`, and
// `domxml-to-native qemu-argv`, whose QEMU command is then compared with gpuvirt's qemu target
// (host addresses, guest slot/function layout, x-vga, ROM, display). The daemon runs in session
// mode as an unprivileged user with its own runtime, config and cache directories, so nothing
// of the machine's libvirt is touched; it is stopped by its pid.
// This machine has no usable KVM: a copy of each domain is given type='qemu' and the CPU mode
// 'maximum' (libvirt refuses host-passthrough without KVM), and without its hugepages
// (domxml-to-native needs a mounted hugetlbfs). For domxml-to-native only, its NICs are left
// out: it turns every interface into a tap device, which an unprivileged daemon cannot create.
// Everything else is the generated XML.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_CASES, type Case } from './cases.js';
import { gpuvirt, hostArgs } from './run.js';
import { inCI, missing, parseQemuOpts, virtXmlValidate } from './tools.js';
import { privateLibvirtd } from '../helpers/libvirtd.js';

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const daemon = privateLibvirtd('gpuvirt-libvirtd-');
const { ready, dir } = daemon;
const need = missing('libvirtd with the QEMU driver, virsh and qemu-system-x86_64', 'libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86');
const virsh = (...args: string[]) => daemon.virsh(args);

beforeAll(() => daemon.start(), 60_000);
afterAll(() => daemon.stop(), 30_000);

/** What libvirt's TCG-only copy of a domain differs in (see the file comment). */
function forThisMachine(xml: string): string {
  return xml
    .replace('<domain type="kvm"', '<domain type="qemu"')
    .replace(/<cpu mode="host-passthrough"[^>]*>/, '<cpu mode="maximum" check="none">')
    .replace(/<memoryBacking>[\s\S]*?<\/memoryBacking>\n/, '');
}

/** domxml-to-native would create tap devices for these, which an unprivileged daemon cannot. */
function withoutNics(xml: string): string {
  return xml.replace(/ *<interface [\s\S]*?<\/interface>\n/g, '');
}

const renderNode = () => existsSync('/dev/dri') && spawnSync('sh', ['-c', 'ls /dev/dri | grep -q renderD']).status === 0;

interface Vfio {
  host: string;
  /** Guest place: root-port index (0 = root bus), slot, function. */
  place: string;
  multifunction: boolean;
  xVga: boolean;
  romfile: string | null;
  rombar: boolean;
}

const num = (s: string) => Number.parseInt(s, 16);
function place(bus: string, addr: string): string {
  const port = /^(?:rp|pci\.)(\d+)$/.exec(bus)?.[1] ?? '0';
  const [slot, fn = '0'] = addr.replace(/0x/g, '').split('.');
  return `${port}:${num(slot!)}.${num(fn)}`;
}

/** -device arguments of either syntax (libvirt 9 writes JSON) as key/value maps. */
function devices(argv: string[]): Record<string, string>[] {
  return argv.flatMap((a, i) => {
    if (argv[i - 1] !== '-device') return [];
    if (a.startsWith('{')) return [Object.fromEntries(Object.entries(JSON.parse(a) as Record<string, unknown>).map(([k, v]) => [k, String(v)]))];
    const { type, props } = parseQemuOpts(a);
    return [{ driver: type, ...Object.fromEntries(props) }];
  });
}

function vfio(argv: string[]): Vfio[] {
  return devices(argv).filter((d) => d.driver === 'vfio-pci').map((d) => ({
    host: d.host ?? d.sysfsdev!,
    place: place(d.bus!, d.addr!),
    multifunction: d.multifunction === 'on' || d.multifunction === 'true',
    xVga: d['x-vga'] === 'on' || d['x-vga'] === 'true',
    romfile: d.romfile ?? null,
    rombar: d.rombar !== '0',
  })).sort((a, b) => a.host.localeCompare(b.host));
}

function display(argv: string[]): { video: string[]; vnc: boolean; spice: boolean } {
  const video = devices(argv).map((d) => d.driver!).filter((t) => /^(virtio-vga|virtio-gpu|VGA|qxl)/.test(t));
  return { video, vnc: argv.includes('-vnc'), spice: argv.includes('-spice') };
}

/** The shell words of domxml-to-native's one-line output (it quotes with single quotes). */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.trim().matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)) out.push(m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]!);
  return out;
}

const generated: Record<string, { xml: string; argv: string[] }> = {};
beforeAll(async () => {
  for (const c of ALL_CASES) {
    const lv = await gpuvirt(['generate', c.file, '--target', 'libvirt', '--json', ...hostArgs(c.root)]);
    const q = await gpuvirt(['generate', c.file, '--target', 'qemu', '--json', ...hostArgs(c.root)]);
    expect(lv.code, lv.stdout).toBe(0);
    expect(q.code, q.stdout).toBe(0);
    generated[c.name] = { xml: lv.doc.data.output, argv: q.doc.data.argv };
  }
}, 60_000);

describe('libvirt\'s schema', () => {
  it('every example and edge domain validates (virt-xml-validate)', (ctx) => {
    if (!has('virt-xml-validate') && !inCI) ctx.skip(missing('virt-xml-validate', 'libvirt-clients libxml2-utils'));
    expect(virtXmlValidate(Object.fromEntries(ALL_CASES.map((c) => [c.name, generated[c.name]!.xml])))).toEqual({});
  });
});

describe.each(ALL_CASES)('$name in libvirtd', (c: Case) => {
  it('is defined, dumped and translated to the QEMU command gpuvirt\'s qemu target writes', (ctx) => {
    if (!ready && !inCI) ctx.skip(need);
    expect(ready, need).toBe(true);
    expect(virsh('version').code, daemon.log()).toBe(0);
    const { xml, argv } = generated[c.name]!;
    const file = join(dir, `${c.name.replace(/\W/g, '_')}.xml`);
    writeFileSync(file, forThisMachine(xml));
    chmodSync(file, 0o644);
    const def = virsh('define', file);
    expect(def.code, def.err).toBe(0);
    const name = /<name>([^<]*)<\/name>/.exec(xml)![1]!.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
    try {
      const dump = virsh('dumpxml', '--', name);
      expect(dump.code, dump.err).toBe(0);
      expect(dump.out.match(/<hostdev /g)?.length ?? 0).toBe(xml.match(/<hostdev /g)?.length ?? 0);
      writeFileSync(`${file}.native`, withoutNics(forThisMachine(xml)));
      chmodSync(`${file}.native`, 0o644);
      const native = virsh('domxml-to-native', 'qemu-argv', `${file}.native`);
      if (xml.includes('<gl enable="yes"/>') || xml.includes('type="egl-headless"')) {
        if (!renderNode()) {
          // OpenGL needs a GPU render node, which this machine does not have: that, and only that, may stop it.
          expect(native.err).toMatch(/\/dev\/dri/);
          return;
        }
      }
      expect(native.code, native.err).toBe(0);
      const lvArgv = words(native.out);
      expect(vfio(lvArgv)).toEqual(vfio(argv));
      expect(display(lvArgv)).toEqual(display(argv));
      // The same UEFI build: libvirt chose it from the descriptors; gpuvirt from them or Debian's names.
      const code = (a: string[]) => a.join(' ').match(/\/[^\s"',]*CODE[^\s"',]*\.fd/)?.[0] ?? null;
      expect(code(lvArgv)).toBe(code(argv));
    } finally {
      virsh('undefine', '--nvram', '--tpm', '--', name);
    }
  }, 60_000);
});

/** A domain as virt-manager makes one: its own devices already on bus 0x01, and a graphics device. */
const BASE = `<domain type="qemu"><name>gpuvirt-base</name><memory unit="MiB">1024</memory>
<os><type arch="x86_64" machine="q35">hvm</type></os><devices>
<controller type="pci" index="0" model="pcie-root"/>
<controller type="pci" index="1" model="pcie-root-port"><address type="pci" domain="0x0000" bus="0x00" slot="0x02" function="0x0"/></controller>
<controller type="virtio-serial" index="0"><address type="pci" domain="0x0000" bus="0x01" slot="0x00" function="0x0"/></controller>
<graphics type="vnc" port="-1" autoport="yes"/><memballoon model="none"/></devices></domain>`;

describe.skipIf(!ready && !inCI)('--hostdev-only in libvirtd', () => {
  it.each(ALL_CASES.filter((c) => !c.name.includes('virgl')))('$name: each document attaches (--config) to a domain that already uses bus 0x01', async (c) => {
    expect(ready, need).toBe(true);
    const r = await gpuvirt(['generate', c.file, '--target', 'libvirt', '--hostdev-only', '--json', ...hostArgs(c.root)]);
    expect(r.code).toBe(0);
    const docs: string[] = r.doc.data.hostdevs;
    const base = join(dir, 'base.xml');
    writeFileSync(base, BASE);
    chmodSync(base, 0o644);
    expect(virsh('define', base).code).toBe(0);
    try {
      docs.forEach((d, i) => {
        const f = join(dir, `hostdev-${i}.xml`);
        writeFileSync(f, d);
        chmodSync(f, 0o644);
        const a = virsh('attach-device', 'gpuvirt-base', f, '--config');
        expect(a.code, `${d}\n${a.err}`).toBe(0);
      });
      const dump = virsh('dumpxml', 'gpuvirt-base').out;
      expect(dump.match(/<hostdev /g)?.length).toBe(docs.length);
    } finally {
      virsh('undefine', 'gpuvirt-base');
    }
  }, 60_000);
});
