// generate's options: --out, --hostdev-only, and usage errors.
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
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
