// Names, paths and strings with quotes, spaces, $(), backquotes, <, & and commas: every output
// stays valid for its consumer and means exactly what the profile said.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'xmlbuilder2';
import { describe, expect, it } from 'vitest';
import { gpuvirt, runScript } from './run.js';
import { runWithStubs } from './stub-run.js';
import { inCI, libvirtTools, missing, parseQemuOpts, validateDomainsBatch } from './tools.js';

const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-inject-'));
const NAME = `it's "$(id)" <b> & \`id\`; x, y`;
const DESCRIPTION = `a & b < c > d ]]> ' " $(x) \`y\``;
const ROM = `/var/lib/my roms/it's $(touch ${dir}/pwned) & <y>,z.rom`;
const DOMAIN = `dom & <x> 'y' "z"`;
const EXTRA = ['-fw_cfg', `name=opt/x,string=a b'c$(touch ${dir}/pwned) \`e\` &`, '; rm -rf /'];

const yamlString = (s: string) => JSON.stringify(s); // JSON strings are YAML double-quoted scalars

function profile(rom = ROM): string {
  const f = join(dir, `p${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, `apiVersion: gpuvirt/v1
name: ${yamlString(NAME)}
description: ${yamlString(DESCRIPTION)}
firmware: bios
memory: 4GiB
cpu: { cores: 2 }
devices:
  - type: gpu
    select: { address: 0000:01:00.0, class: "0300" }
    functions: [0, 1]
    primary: true
    rom: { file: ${yamlString(rom)} }
targets:
  qemu:
    binary: fake-qemu
    extraArgs: ${JSON.stringify(EXTRA)}
  libvirt:
    domainName: ${yamlString(DOMAIN)}
  proxmox: { vmid: 100 }
`);
  return f;
}

describe('hostile strings', () => {
  it('QEMU: the script passes exactly the argv, and QemuOpts reads back the ROM path', async () => {
    const r = await gpuvirt(['generate', profile(), '--target', 'qemu', '--offline', '--json']);
    expect(r.code).toBe(0);
    const { argv, output } = r.doc.data;
    expect(runScript(output, 'fake-qemu')).toEqual(argv);
    expect(spawnSync('sh', ['-c', `test -e ${dir}/pwned`]).status).not.toBe(0);
    expect(argv).toContain(`guest=${NAME.replace(/,/g, ',,')}`);
    const fn0 = argv.map((a: string) => parseQemuOpts(a)).find((o: { type: string; props: [string, string][] }) => o.type === 'vfio-pci');
    expect(Object.fromEntries(fn0.props)).toMatchObject({ host: '0000:01:00.0', romfile: ROM, 'x-vga': 'on', multifunction: 'on' });
    expect(argv.slice(-EXTRA.length)).toEqual(EXTRA);
  });

  it('libvirt: the XML is schema-valid and carries the strings unchanged', async (ctx) => {
    const r = await gpuvirt(['generate', profile(), '--target', 'libvirt', '--offline', '--json']);
    expect(r.code).toBe(0);
    const xml: string = r.doc.data.output;
    // Read back through a parser's DOM, which decodes entities as libvirt's parser does.
    const root = create(xml).root().node as unknown as Element;
    const first = (tag: string) => root.getElementsByTagName(tag)[0]!;
    expect(first('name').textContent).toBe(DOMAIN);
    expect(first('description').textContent).toBe(DESCRIPTION);
    expect(first('rom').getAttribute('file')).toBe(ROM);
    expect(first('qemu:property').getAttribute('name')).toBe('x-vga');
    if (!libvirtTools && !inCI) ctx.skip(missing('virt-xml-validate', 'libvirt-clients libxml2-utils'));
    expect(validateDomainsBatch([xml])).toEqual([]);
  });

  it('Proxmox: a ROM name a hostpci line cannot carry is refused, with its line', async () => {
    const r = await gpuvirt(['generate', profile(), '--target', 'proxmox', '--offline', '--json']);
    expect(r.code).toBe(2);
    expect(r.doc.data.profile.problems).toEqual([expect.objectContaining({ path: 'devices[0].rom.file', line: 12, message: expect.stringContaining('romfile cannot contain "," or ";"') })]);
  });

  it('Proxmox: the qm commands run exactly the argv the JSON lists', async () => {
    const r = await gpuvirt(['generate', profile('/usr/share/kvm/gpu-1.rom'), '--target', 'proxmox', '--offline', '--json']);
    expect(r.code).toBe(0);
    const { proxmox } = r.doc.data;
    const ran = runWithStubs(proxmox.artifacts.commands, ['qm', 'pvesh']);
    expect(ran).toEqual(proxmox.commands);
    expect(proxmox.config).toContainEqual({ key: 'hostpci0', value: '0000:01:00.0;0000:01:00.1,pcie=1,x-vga=1,romfile=gpu-1.rom' });
  });
});
