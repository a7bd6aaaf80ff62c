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

  it('--hostdev-only: just the <hostdev> elements, each well-formed', async () => {
    const r = await gpuvirt(['generate', ...GAMING, '--target', 'libvirt', '--hostdev-only']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('<domain');
    const devices = create(`<devices>${r.stdout}</devices>`).root().node as unknown as Element;
    const hostdevs = devices.getElementsByTagName('hostdev');
    expect(hostdevs.length).toBe(2);
    expect(hostdevs[0]!.getAttribute('managed')).toBe('yes');
  });

  it('usage errors: an unknown target, --hostdev-only for another target', async () => {
    expect((await gpuvirt(['generate', ...GAMING, '--target', 'xen', '--json'])).doc.error.message).toContain('must be qemu, libvirt or proxmox');
    expect((await gpuvirt(['generate', ...GAMING, '--target', 'qemu', '--hostdev-only'])).code).toBe(2);
  });
});
