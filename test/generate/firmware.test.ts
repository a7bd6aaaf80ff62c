// OVMF from the firmware descriptors of each distribution (QEMU docs/interop/firmware.json),
// read through the Host at its root, the way libvirt chooses. The Fedora and Arch descriptors
// are abridged from edk2-ovmf's; the Debian ones are the installed files when present.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFirmware } from '../../src/commands/generate.js';
import { chooseFirmware, mergeDescriptorDirs, parseDescriptor } from '../../src/generate/firmware.js';
import { generateQemu } from '../../src/generate/qemu.js';
import { FsHost } from '../../src/host/fs-host.js';
import { loadProfileText } from '../../src/profiles/load.js';

const desc = (code: string, vars: string | null, features: string[], machines = ['pc-q35-*', 'pc-i440fx-*']) => JSON.stringify({
  'interface-types': ['uefi'],
  mapping: { device: 'flash', executable: { filename: code, format: 'raw' }, ...(vars ? { 'nvram-template': { filename: vars, format: 'raw' } } : {}) },
  targets: [{ architecture: 'x86_64', machines }],
  features,
});

const FEDORA: Record<string, string> = {
  '30-edk2-ovmf-x64-sb-enrolled.json': desc('/usr/share/edk2/ovmf/OVMF_CODE.secboot.fd', '/usr/share/edk2/ovmf/OVMF_VARS.secboot.fd', ['acpi-s3', 'requires-smm', 'secure-boot', 'enrolled-keys', 'verbose-dynamic'], ['pc-q35-*']),
  '40-edk2-ovmf-x64-sb.json': desc('/usr/share/edk2/ovmf/OVMF_CODE.secboot.fd', '/usr/share/edk2/ovmf/OVMF_VARS.fd', ['acpi-s3', 'requires-smm', 'secure-boot', 'verbose-dynamic'], ['pc-q35-*']),
  '50-edk2-ovmf-x64-nosb.json': desc('/usr/share/edk2/ovmf/OVMF_CODE.fd', '/usr/share/edk2/ovmf/OVMF_VARS.fd', ['acpi-s3', 'amd-sev', 'verbose-dynamic']),
  '60-edk2-ovmf-x64-amdsev.json': desc('/usr/share/edk2/ovmf/OVMF.amdsev.fd', null, ['amd-sev', 'amd-sev-es']),
};
const ARCH: Record<string, string> = {
  '40-edk2-x86_64-secure-enrolled.json': desc('/usr/share/edk2/x64/OVMF_CODE.secboot.4m.fd', '/usr/share/edk2/x64/OVMF_VARS.4m.fd', ['enrolled-keys', 'requires-smm', 'secure-boot'], ['pc-q35-*']),
  '60-edk2-x86_64.json': desc('/usr/share/edk2/x64/OVMF_CODE.4m.fd', '/usr/share/edk2/x64/OVMF_VARS.4m.fd', ['acpi-s3']),
};

const parsed = (files: Record<string, string>) => mergeDescriptorDirs([{ dir: '', files }]).map((d) => parseDescriptor(d.name, d.text)!).filter(Boolean);

describe('choosing OVMF from descriptors', () => {
  it('Fedora: Secure Boot with enrolled keys, or the plain build; never the stateless SEV one', () => {
    expect(chooseFirmware(parsed(FEDORA), 'q35', true)).toMatchObject({ code: '/usr/share/edk2/ovmf/OVMF_CODE.secboot.fd', varsTemplate: '/usr/share/edk2/ovmf/OVMF_VARS.secboot.fd', smm: true });
    expect(chooseFirmware(parsed(FEDORA), 'i440fx', false)).toMatchObject({ code: '/usr/share/edk2/ovmf/OVMF_CODE.fd', smm: false });
    expect(chooseFirmware(parsed(FEDORA), 'i440fx', true)).toBeNull();
  });
  it('Arch: its own names', () => {
    expect(chooseFirmware(parsed(ARCH), 'q35', true)?.code).toBe('/usr/share/edk2/x64/OVMF_CODE.secboot.4m.fd');
    expect(chooseFirmware(parsed(ARCH), 'q35', false)?.code).toBe('/usr/share/edk2/x64/OVMF_CODE.4m.fd');
  });
  it('a file in /etc/qemu/firmware overrides the one of the same name; others are read in name order', () => {
    const merged = mergeDescriptorDirs([{ dir: '/etc', files: { '60-edk2-x86_64.json': ARCH['40-edk2-x86_64-secure-enrolled.json']! } }, { dir: '/usr', files: ARCH }]);
    expect(merged.map((m) => m.name)).toEqual(['40-edk2-x86_64-secure-enrolled.json', '60-edk2-x86_64.json']);
    expect(merged[1]!.text).toContain('secboot');
  });
  it('Debian (the installed descriptors): the 4M builds', (ctx) => {
    const dir = '/usr/share/qemu/firmware';
    if (!existsSync(dir)) return ctx.skip('no /usr/share/qemu/firmware (apt-get install ovmf)');
    const files = Object.fromEntries(readdirSync(dir).map((n) => [n, readFileSync(join(dir, n), 'utf8')]));
    expect(chooseFirmware(parsed(files), 'q35', true)?.code).toMatch(/OVMF_CODE_4M\.ms\.fd$/);
    expect(chooseFirmware(parsed(files), 'q35', false)?.code).toMatch(/OVMF_CODE_4M\.fd$/);
  });
});

describe('the QEMU target on a Fedora root', () => {
  const root = mkdtempSync(join(tmpdir(), 'gpuvirt-fw-'));
  mkdirSync(join(root, 'usr/share/qemu/firmware'), { recursive: true });
  for (const [n, t] of Object.entries(FEDORA)) writeFileSync(join(root, 'usr/share/qemu/firmware', n), t);
  const profile = async (extra: string) => (await loadProfileText(`apiVersion: gpuvirt/v1\nname: fw\nmemory: 2GiB\ncpu: { cores: 1 }\n${extra}`)).profile!;

  it('names Fedora\'s OVMF, with SMM and a per-VM copy of the VARS template for Secure Boot', async () => {
    const p = await profile('os: windows11\n');
    const { firmware, problems } = await readFirmware(new FsHost(root), p);
    expect(problems).toEqual([]);
    const q = generateQemu(p, [], { firmware });
    expect(q.argv).toContain('driver=cfi.pflash01,property=secure,value=on');
    expect(q.argv.join(' ')).toMatch(/-machine q35,accel=kvm,smm=on .*file=\/usr\/share\/edk2\/ovmf\/OVMF_CODE\.secboot\.fd .*unit=1,file=\/var\/lib\/gpuvirt\/vms\/fw\/OVMF_VARS\.fd/);
    expect(q.script).toContain('install -D -m 600 /usr/share/edk2/ovmf/OVMF_VARS.secboot.fd /var/lib/gpuvirt/vms/fw/OVMF_VARS.fd');
    expect(q.warnings).toEqual([]);
  });

  it('refuses a build the distribution does not have', async () => {
    const p = (await loadProfileText('apiVersion: gpuvirt/v1\nname: fw\nmemory: 2GiB\ncpu: { cores: 1 }\nmachine: i440fx\nos: windows11\n')).profile!;
    // windows11 on i440fx: no Secure Boot by default (its builds need q35), so the plain one.
    expect((await readFirmware(new FsHost(root), p)).firmware?.code).toBe('/usr/share/edk2/ovmf/OVMF_CODE.fd');
    const only = mkdtempSync(join(tmpdir(), 'gpuvirt-fw-'));
    mkdirSync(join(only, 'usr/share/qemu/firmware'), { recursive: true });
    writeFileSync(join(only, 'usr/share/qemu/firmware/30-sb.json'), FEDORA['30-edk2-ovmf-x64-sb-enrolled.json']!);
    const r = await readFirmware(new FsHost(only), await profile(''));
    expect(r.problems[0]?.message).toMatch(/no firmware descriptor .* offers a UEFI build for q35 without Secure Boot/);
  });
});
