import { describe, expect, it } from 'vitest';
import { detectBootloader } from '../../src/boot/bootloader.js';
import { FsHost } from '../../src/host/fs-host.js';
import { makeTree } from '../helpers/tree.js';

const detect = (files: Record<string, string>, release: string | null = '6.8.0-45-generic') => detectBootloader(new FsHost(makeTree(files)), release);

describe('detectBootloader', () => {
  it('Debian/Ubuntu GRUB: both variables, grub.d drop-ins after the main file', () => {
    const b = detect({
      'etc/default/grub': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\nGRUB_CMDLINE_LINUX=""\n',
      'etc/default/grub.d/50-cloudimg.cfg': 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT console=ttyS0"\n',
    });
    expect(b).toMatchObject({ kind: 'grub', configFile: '/etc/default/grub', configured: 'quiet splash console=ttyS0' });
  });

  it('Fedora GRUB with BootLoaderSpec entries is grub-bls, configured from the running kernel entry', () => {
    const b = detect({
      'etc/default/grub': 'GRUB_CMDLINE_LINUX="rhgb quiet"\n',
      'boot/grub2/grub.cfg': '',
      'boot/loader/entries/abc-6.8.0-45-generic.conf': 'title Fedora\nversion 6.8.0-45-generic\noptions root=UUID=1 ro rhgb quiet intel_iommu=on\n',
      'boot/loader/entries/abc-6.7.0.conf': 'title Fedora\noptions root=UUID=1 ro old\n',
    });
    expect(b.kind).toBe('grub-bls');
    expect(b.configured).toBe('root=UUID=1 ro rhgb quiet intel_iommu=on');
  });

  it('Fedora is told by os-release and GRUB_ENABLE_BLSCFG, not by /boot/grub2 alone (a separate /boot may not be mounted)', () => {
    const fedora = 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=39\n';
    const bls = detect({
      'etc/os-release': fedora,
      'etc/default/grub': 'GRUB_CMDLINE_LINUX="rhgb quiet"\nGRUB_ENABLE_BLSCFG=true\n',
      'boot/loader/entries/abc-6.8.0-45-generic.conf': 'title Fedora\noptions root=UUID=1 ro rhgb quiet\n',
    });
    expect(bls).toMatchObject({ kind: 'grub-bls', configured: 'root=UUID=1 ro rhgb quiet' });
    expect(bls.reason).toContain('ID=fedora in /etc/os-release, GRUB_ENABLE_BLSCFG=true in /etc/default/grub');
    // Entries unreadable without root (Fedora keeps them 0700): still grubby, configured line unknown.
    expect(detect({ 'etc/os-release': fedora, 'etc/default/grub': 'GRUB_CMDLINE_LINUX="rhgb"\nGRUB_ENABLE_BLSCFG=true\n' })).toMatchObject({ kind: 'grub-bls', configured: null });
    // RHEL-like without BLS: GRUB_CMDLINE_LINUX and grub2-mkconfig.
    const rocky = detect({ 'usr/lib/os-release': 'ID="rocky"\nID_LIKE="rhel centos fedora"\n', 'etc/default/grub': 'GRUB_CMDLINE_LINUX="crashkernel=auto"\nGRUB_CMDLINE_LINUX_DEFAULT="ignored"\n' });
    expect(rocky).toMatchObject({ kind: 'grub', configured: 'crashkernel=auto' });
    expect(rocky.reason).toContain('Fedora/RHEL layout');
    // Debian's GRUB has no BLS support: the variable there changes nothing.
    const debian = detect({ 'etc/os-release': 'ID=debian\n', 'etc/default/grub': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_ENABLE_BLSCFG=true\n' });
    expect(debian).toMatchObject({ kind: 'grub', configured: 'quiet' });
    expect(debian.reason).not.toContain('Fedora');
  });

  it('the Fedora fixture: setup edits GRUB_CMDLINE_LINUX and runs grubby, never update-grub', async () => {
    const { main } = await import('../../src/cli.js');
    const { captureIO } = await import('../helpers/io.js');
    const io = captureIO();
    const root = new URL('../fixtures/sysfs/shared-with-boot-disk', import.meta.url).pathname;
    expect(await main(['setup', '--dry-run', '--param', 'iommu=pt', '--json', '--root', root], { io, env: {}, platform: 'linux' })).toBe(0);
    const d = JSON.parse(io.stdout).data;
    expect(d.bootloader.kind).toBe('grub-bls');
    const text = JSON.stringify(d);
    expect(text).toContain('grubby');
    expect(text).not.toContain('update-grub');
    expect(text).not.toContain('GRUB_CMDLINE_LINUX_DEFAULT');
  });

  it('Proxmox with proxmox-boot-tool reads /etc/kernel/cmdline', () => {
    const b = detect({
      'etc/kernel/cmdline': 'root=ZFS=rpool/ROOT/pve-1 boot=zfs quiet\n',
      'etc/kernel/proxmox-boot-uuids': 'ABCD-1234\n',
      'etc/default/grub': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n',
    });
    expect(b).toMatchObject({ kind: 'proxmox-boot-tool', configured: 'root=ZFS=rpool/ROOT/pve-1 boot=zfs quiet' });
  });

  it('systemd-boot without GRUB, with or without /etc/kernel/cmdline', () => {
    expect(detect({ 'etc/kernel/cmdline': 'quiet rw\n', 'boot/loader/entries/arch.conf': 'options root=/dev/sda2 rw\n' })).toMatchObject({
      kind: 'systemd-boot', configFile: '/etc/kernel/cmdline', configured: 'quiet rw',
    });
    expect(detect({ 'efi/loader/entries/arch.conf': 'title Arch\noptions root=/dev/sda2 rw\n' })).toMatchObject({
      kind: 'systemd-boot', configured: 'root=/dev/sda2 rw',
    });
  });

  it('kernelstub reads the user kernel options', () => {
    const b = detect({ 'etc/kernelstub/configuration': JSON.stringify({ user: { kernel_options: ['quiet', 'splash'] } }), 'etc/kernel/cmdline': 'x\n' });
    expect(b).toMatchObject({ kind: 'kernelstub', configured: 'quiet splash' });
  });

  it('unknown when nothing is found', () => {
    expect(detect({ 'etc/hostname': 'x\n' })).toMatchObject({ kind: 'unknown', configured: null });
  });
});

describe('detectBootloader without root', () => {
  it('an unreadable ESP is treated as absent, not a crash', () => {
    const host = new FsHost(makeTree({ 'etc/default/grub': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n' }));
    const denied = Object.assign(Object.create(FsHost.prototype), host, {
      list(path: string) {
        if (path.includes('loader/entries')) throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
        return host.list(path);
      },
    });
    expect(detectBootloader(denied, null)).toMatchObject({ kind: 'grub', configured: 'quiet' });
  });
});
