// generate's options: --out, --hostdev-only, and usage errors.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'xmlbuilder2';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/sim.js';
import { gpuvirt, PROFILES } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-gen-'));
const GAMING = [`${PROFILES}nvidia-gaming.yaml`, '--root', FIXTURES + 'intel-desktop-nvidia'];

describe('generate options', () => {
  it('--out writes the file (the QEMU script executable) and says so', async () => {
    const out = join(dir, 'vm.sh');
    const r = await gpuvirt(['generate', ...GAMING, '--target', 'qemu', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`wrote ${out} (qemu)\n`);
    expect(readFileSync(out, 'utf8')).toMatch(/^#!\/bin\/sh\n/);
    expect(statSync(out).mode & 0o111).not.toBe(0);
  });

  it('--hostdev-only: one <hostdev> document per function, no guest address; --out writes one file each', async () => {
    const r = await gpuvirt(['generate', ...GAMING, '--target', 'libvirt', '--hostdev-only', '--json']);
    expect(r.code).toBe(0);
    const docs: string[] = r.doc.data.hostdevs;
    expect(docs).toHaveLength(2);
    for (const d of docs) {
      const el = create(d).root().node as unknown as Element;
      expect(el.nodeName).toBe('hostdev');
      expect(el.getAttribute('managed')).toBe('yes');
      expect(d).not.toMatch(/<address type=/);
    }
    const out = join(dir, 'gpu.xml');
    const w = await gpuvirt(['generate', ...GAMING, '--target', 'libvirt', '--hostdev-only', '--out', out]);
    expect(w.stdout).toBe(`wrote ${join(dir, 'gpu-0.xml')}, ${join(dir, 'gpu-1.xml')} (libvirt, one <hostdev> each)\n`);
    expect(readFileSync(join(dir, 'gpu-1.xml'), 'utf8')).toBe(docs[1]);
  });

  it('--artifact picks the Proxmox artifact, and is for proxmox only', async () => {
    const conf = await gpuvirt(['generate', ...GAMING, '--target', 'proxmox']);
    expect(conf.stdout).toMatch(/^name: gaming\n/);
    expect(conf.stdout).not.toMatch(/pvesh|qm /);
    const cmds = await gpuvirt(['generate', ...GAMING, '--target', 'proxmox', '--artifact', 'commands']);
    expect(cmds.stdout).toMatch(/^#!\/bin\/sh\n[\s\S]*\npvesh create [^\n]*\nqm create 101 /);
    const map = await gpuvirt(['generate', ...GAMING, '--target', 'proxmox', '--artifact', 'mapping']);
    expect(map.stdout).toMatch(/^vm101-dev0\n\tmap /);
    expect((await gpuvirt(['generate', ...GAMING, '--target', 'proxmox', '--artifact', 'all'])).code).toBe(2);
    expect((await gpuvirt(['generate', ...GAMING, '--target', 'qemu', '--artifact', 'mapping'])).code).toBe(2);
  });

  it('usage errors: an unknown target, --hostdev-only for another target', async () => {
    expect((await gpuvirt(['generate', ...GAMING, '--target', 'xen', '--json'])).doc.error.message).toContain('must be qemu, libvirt or proxmox');
    expect((await gpuvirt(['generate', ...GAMING, '--target', 'qemu', '--hostdev-only'])).code).toBe(2);
  });
});

describe('per-target extras', () => {
  const file = (body: string) => {
    const f = join(dir, `x${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(f, `apiVersion: gpuvirt/v1\nname: x\nmemory: 2GiB\ncpu: { cores: 1 }\n${body}`);
    return f;
  };
  it('libvirt: a fragment that is not one XML element is refused at its line', async () => {
    const r = await gpuvirt(['generate', file('targets:\n  libvirt:\n    xml: ["<input type=\\"evdev\\">"]\n'), '--target', 'libvirt', '--offline', '--json']);
    expect(r.code).toBe(2);
    expect(r.doc.data.profile.problems).toContainEqual(expect.objectContaining({ path: 'targets.libvirt.xml[0]', line: 7, message: 'not one XML element: <input> is not closed' }));
    const two = await gpuvirt(['generate', file('targets:\n  libvirt:\n    xml: ["<a/><b/>"]\n'), '--target', 'libvirt', '--offline', '--json']);
    expect(two.doc.data.profile.problems).toContainEqual(expect.objectContaining({ message: 'not one XML element: 2 top-level elements, not one' }));
  });
  it('libvirt: device elements go into <devices>, others merge into the element the domain has', async () => {
    const r = await gpuvirt(['generate', file('os: windows11\ntargets:\n  libvirt:\n    xml: [\'<input type="tablet" bus="usb"/>\', \'<features><kvm><hidden state="on"/></kvm></features>\']\n'), '--target', 'libvirt', '--offline', '--json']);
    expect(r.code).toBe(0);
    const root = create(r.doc.data.output).root().node as unknown as Element;
    expect(root.getElementsByTagName('features')).toHaveLength(1);
    const features = root.getElementsByTagName('features')[0]!;
    expect(features.getElementsByTagName('hyperv')).toHaveLength(1);
    expect(features.getElementsByTagName('hidden')[0]!.getAttribute('state')).toBe('on');
    expect(root.getElementsByTagName('devices')[0]!.getElementsByTagName('input')[0]!.getAttribute('type')).toBe('tablet');
  });
  it('proxmox: extra keys are added, args joined to gpuvirt\'s, a key gpuvirt sets refused', async () => {
    const ok = await gpuvirt(['generate', file('mmio64: 64GiB\ntargets:\n  proxmox:\n    vmid: 100\n    extra: { args: "-device qemu-xhci", tags: gpu }\n'), '--target', 'proxmox', '--offline']);
    expect(ok.stdout).toContain('args: -fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=65536 -device qemu-xhci\n');
    expect(ok.stdout).toContain('tags: gpu\n');
    const bad = await gpuvirt(['generate', file('targets:\n  proxmox:\n    vmid: 100\n    extra: { vga: std }\n'), '--target', 'proxmox', '--offline', '--json']);
    expect(bad.code).toBe(2);
    expect(bad.doc.data.profile.problems).toContainEqual(expect.objectContaining({ severity: 'error', message: expect.stringContaining('gpuvirt writes vga itself') }));
  });
});

describe('--offline and x-vga', () => {
  const profile = (select: string, xVga = '') => {
    const f = join(dir, `v${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(f, `apiVersion: gpuvirt/v1\nname: v\nfirmware: bios\nmemory: 2GiB\ncpu: { cores: 1 }\ndevices:\n  - { type: gpu, select: ${select}, functions: [0], primary: true${xVga} }\n`);
    return f;
  };
  it('adds x-vga only to a function the profile says is VGA class', async () => {
    const vga = await gpuvirt(['generate', profile('{ address: 01:00.0, class: "0300" }'), '--target', 'qemu', '--offline', '--json']);
    expect(vga.doc.data.argv.find((a: string) => a.startsWith('vfio-pci,'))).toContain('x-vga=on');
    const unknown = await gpuvirt(['generate', profile('{ address: 01:00.0 }'), '--target', 'qemu', '--offline', '--json']);
    expect(unknown.code).toBe(0);
    expect(unknown.doc.data.argv.find((a: string) => a.startsWith('vfio-pci,'))).not.toContain('x-vga');
    expect(unknown.doc.warnings.join()).toContain('x-vga is left out: give select.class');
  });
  it('refuses an explicit xVga it cannot check, and one on another class', async () => {
    const r = await gpuvirt(['generate', profile('{ address: 01:00.0 }', ', xVga: true'), '--target', 'libvirt', '--offline', '--json']);
    expect(r.code).toBe(2);
    expect(r.doc.data.profile.problems[0].message).toContain('x-vga needs select.class: "0300"');
    const audio = await gpuvirt(['generate', profile('{ address: 01:00.0, class: "0403" }', ', xVga: true'), '--target', 'qemu', '--offline', '--json']);
    expect(audio.code).toBe(2);
    expect(audio.doc.data.profile.problems[0].message).toContain('x-vga needs select.class: "0300"');
  });
});
