import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { paths } from '../../src/host/paths.js';
import { makeSimHost, type SimHost } from '../../src/sim/host.js';
import { FIXTURES } from '../helpers/sim.js';
import { track } from '../helpers/sysfs-builder.js';
import { hostState } from '../helpers/host-state.js';
import { treeDiff, treeState } from '../helpers/tree-state.js';

const sims: SimHost[] = [];
afterEach(() => sims.splice(0).forEach((s) => s.cleanup()));
const machine = (name: string) => track(sims, makeSimHost(FIXTURES + name));
const linuxLines = (cfg: string) => cfg.split('\n').filter((l) => l.startsWith('\tlinux'));

describe('grub-mkconfig, update-grub, grub2-mkconfig', () => {
  it('update-grub writes linux lines with GRUB_CMDLINE_LINUX and _DEFAULT, drop-ins sourced after the main file', async () => {
    const { host, exec } = machine('intel-desktop-nvidia');
    host.writeFile(paths.etcDefaultGrub, `${host.readText(paths.etcDefaultGrub)}GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX vfio-pci.ids=10de:2684"\n`);
    host.writeFile('/etc/default/grub.d/50-extra.cfg', 'GRUB_CMDLINE_LINUX_DEFAULT="${GRUB_CMDLINE_LINUX_DEFAULT} \\\n  kvm.ignore_msrs=1"\n');
    host.writeFile('/etc/default/grub.d/ignored.conf', 'GRUB_CMDLINE_LINUX_DEFAULT="nothing"\n');
    const r = await exec.run(['update-grub']);
    expect(r.exitCode).toBe(0);
    const lines = linuxLines(host.readText('/boot/grub/grub.cfg')!);
    expect(lines).toEqual([
      // As sh expands them: the empty GRUB_CMDLINE_LINUX leaves a space, the continuation its indent.
      '\tlinux\t/boot/vmlinuz-6.1.0-18-amd64 root=UUID=5f3c2a10-8e4b-4d2a-9c61-0a1b2c3d4e5f ro  vfio-pci.ids=10de:2684 quiet intel_iommu=on iommu=pt   kvm.ignore_msrs=1',
      '\tlinux\t/boot/vmlinuz-6.1.0-18-amd64 root=UUID=5f3c2a10-8e4b-4d2a-9c61-0a1b2c3d4e5f ro single  vfio-pci.ids=10de:2684',
    ]);
  });

  it('grub2-mkconfig -o FILE writes that file, and fails where its directory is missing', async () => {
    const { host, exec } = machine('two-identical-gpus');
    expect(await exec.run(['grub2-mkconfig', '-o', '/boot/grub2/grub.cfg'])).toEqual({
      exitCode: 1, stdout: '', stderr: '/usr/sbin/grub2-mkconfig: 1: cannot create /boot/grub2/grub.cfg.new: Directory nonexistent\n',
    });
    host.mkdirp('/boot/grub2');
    host.writeFile(paths.etcDefaultGrub, 'GRUB_CMDLINE_LINUX="rhgb"\nGRUB_DISABLE_RECOVERY="true"\n');
    expect((await exec.run(['grub2-mkconfig', '-o', '/boot/grub2/grub.cfg'])).exitCode).toBe(0);
    expect(linuxLines(host.readText('/boot/grub2/grub.cfg')!)).toEqual([expect.stringMatching(/ ro rhgb $/)]);
  });
});

describe('grubby', () => {
  it('--update-kernel=ALL edits every entry\'s options: --args replaces a key or appends, --remove-args drops a key', async () => {
    const { host, exec } = machine('shared-with-boot-disk');
    const dir = '/boot/loader/entries';
    const [entry] = host.list(dir)!;
    const before = host.readText(`${dir}/${entry}`)!;
    const options = () => /^options (.*)$/m.exec(host.readText(`${dir}/${entry}`)!)![1]!.split(' ');
    const root = ['root=UUID=7e6d5c4b-3a29-4180-9f8e-7d6c5b4a3928', 'ro', 'rootflags=subvol=root'];
    expect(options()).toEqual([...root, 'rhgb', 'quiet', 'intel_iommu=on']);
    expect((await exec.run(['grubby', '--update-kernel=ALL', '--args=intel_iommu=off iommu=pt', '--remove-args=rhgb'])).exitCode).toBe(0);
    expect(options()).toEqual([...root, 'quiet', 'intel_iommu=off', 'iommu=pt']);
    await exec.run(['grubby', '--update-kernel=ALL', '--args=rhgb', '--remove-args=intel_iommu iommu=pt']);
    expect(options()).toEqual([...root, 'quiet', 'rhgb']);
    expect(host.readText(`${dir}/${entry}`)!.replace(/^options .*$/m, '')).toBe(before.replace(/^options .*$/m, ''));
  });
});

describe('proxmox-boot-tool refresh', () => {
  it('copies /etc/kernel/cmdline and the initrd to every ESP listed in proxmox-boot-uuids, not to the root', async () => {
    const { host, exec, root } = machine('server-mxgpu-sriov');
    host.writeFile(paths.etcKernelCmdline, 'root=ZFS=rpool/ROOT/pve-1 boot=zfs iommu=pt vfio-pci.ids=1002:74a1\n');
    host.writeFile('/boot/initrd.img-6.8.12-4-pve', 'the initrd\n');
    const before = treeState(root);
    const r = await exec.run(['proxmox-boot-tool', 'refresh']);
    expect(r.exitCode).toBe(0);
    expect(treeDiff(before, treeState(root))).toEqual([]);
    const esps = host.espFiles();
    expect(Object.keys(esps)).toEqual(['4A1B-2C3D', '5E6F-7A8B']);
    for (const esp of Object.values(esps)) {
      expect(esp['/loader/entries/proxmox-6.8.12-4-pve.conf']).toContain('options  root=ZFS=rpool/ROOT/pve-1 boot=zfs iommu=pt vfio-pci.ids=1002:74a1\n');
      expect(esp['/EFI/proxmox/6.8.12-4-pve/initrd.img-6.8.12-4-pve']).toBe('the initrd\n');
    }
    host.removeFile(paths.proxmoxBootUuids);
    expect(await exec.run(['proxmox-boot-tool', 'refresh'])).toMatchObject({ exitCode: 2, stderr: 'E: /etc/kernel/proxmox-boot-uuids does not exist.\n' });
  });
});

describe('kernelstub', () => {
  it('-a and -d edit the user kernel_options and the ESP entry', async () => {
    const { host, exec } = machine('intel-desktop-nvidia');
    expect((await exec.run(['kernelstub', '-a', 'intel_iommu=on'])).exitCode).toBe(1); // no configuration
    host.writeFile(paths.kernelstubConfig, JSON.stringify({ default: { kernel_options: ['quiet'] }, user: { kernel_options: ['quiet', 'splash'], esp_path: '/boot/efi' } }));
    host.writeFile('/boot/efi/loader/entries/Pop_OS-current.conf', 'title Pop!_OS\nlinux /EFI/Pop_OS/vmlinuz.efi\noptions root=UUID=x ro quiet splash\n');
    expect((await exec.run(['kernelstub', '-a', 'intel_iommu=on iommu=pt'])).exitCode).toBe(0);
    expect(JSON.parse(host.readText(paths.kernelstubConfig)!).user.kernel_options).toEqual(['quiet', 'splash', 'intel_iommu=on', 'iommu=pt']);
    expect((await exec.run(['kernelstub', '-d', 'splash iommu=pt'])).exitCode).toBe(0);
    expect(JSON.parse(host.readText(paths.kernelstubConfig)!).user.kernel_options).toEqual(['quiet', 'intel_iommu=on']);
    expect(host.readText('/boot/efi/loader/entries/Pop_OS-current.conf')).toContain(
      '\noptions root=UUID=5f3c2a10-8e4b-4d2a-9c61-0a1b2c3d4e5f ro quiet intel_iommu=on\n',
    );
  });
});

describe('initramfs generators', () => {
  it('update-initramfs -u -k all updates the existing images with what it baked in, running only executable hooks', async () => {
    const { host, exec, root } = machine('intel-desktop-nvidia');
    expect(await exec.run(['update-initramfs', '-u', '-k', 'all'])).toEqual({ exitCode: 0, stdout: '', stderr: '' }); // none to update
    expect(host.exists('/boot/initrd.img-6.1.0-18-amd64')).toBe(false);
    expect(await exec.run(['update-initramfs', '-u', '-k', '6.1.0-18-amd64'])).toMatchObject({
      exitCode: 1, stderr: '/boot/initrd.img-6.1.0-18-amd64 does not exist. Cannot update.\n',
    });
    host.writeFile('/boot/initrd.img-6.1.0-18-amd64', 'installed by the distribution\n', 0o644);
    host.writeFile('/etc/modprobe.d/vfio.conf', 'options vfio-pci ids=10de:2684\n');
    host.writeFile('/etc/initramfs-tools/hooks/good', '#!/bin/sh\n', 0o755);
    host.writeFile('/etc/initramfs-tools/hooks/lost-its-mode', '#!/bin/sh\n', 0o644);
    const r = await exec.run(['update-initramfs', '-u', '-k', 'all']);
    expect(r).toEqual({ exitCode: 0, stdout: 'update-initramfs: Generating /boot/initrd.img-6.1.0-18-amd64\n', stderr: '' });
    const image = host.readText('/boot/initrd.img-6.1.0-18-amd64')!;
    expect(image).toMatch(/^# simulated initramfs: update-initramfs for 6.1.0-18-amd64$/m);
    expect(image).toContain('== /etc/modprobe.d/vfio.conf ==\noptions vfio-pci ids=10de:2684\n');
    expect(image).toContain('== /etc/initramfs-tools/hooks/good ==');
    expect(image).toContain('== /etc/initramfs-tools/hooks/lost-its-mode (not executable: not run) ==');
    expect(fs.statSync(`${root}/boot/initrd.img-6.1.0-18-amd64`).mode & 0o777).toBe(0o600);
    await exec.run(['update-initramfs', '-u', '-k', 'all']);
    expect(host.readText('/boot/initrd.img-6.1.0-18-amd64')).toBe(image); // the same files give the same image
    host.removeFile('/etc/modprobe.d/vfio.conf');
    await exec.run(['update-initramfs', '-u', '-k', 'all']);
    expect(host.readText('/boot/initrd.img-6.1.0-18-amd64')).not.toContain('vfio.conf');
  });

  it('dracut --regenerate-all --force and dracut -f; mkinitcpio -P per preset, and fails without one', async () => {
    const { host, exec } = machine('amd-desktop-shared');
    host.writeFile('/etc/dracut.conf.d/vfio.conf', 'force_drivers+=" vfio-pci "\n');
    expect((await exec.run(['dracut', '--regenerate-all', '--force'])).exitCode).toBe(0);
    expect(host.readText('/boot/initramfs-6.7.4-arch1-1.img')).toContain('== /etc/dracut.conf.d/vfio.conf ==');
    host.writeFile('/etc/dracut.conf.d/vfio.conf', 'force_drivers+=" vfio_pci "\n');
    expect((await exec.run(['dracut', '-f'])).exitCode).toBe(0);
    expect(host.readText('/boot/initramfs-6.7.4-arch1-1.img')).toContain('force_drivers+=" vfio_pci "');
    expect(await exec.run(['mkinitcpio', '-P'])).toMatchObject({ exitCode: 1, stderr: '==> ERROR: No presets found in /etc/mkinitcpio.d\n' });
    host.writeFile('/etc/mkinitcpio.d/linux.preset', "PRESETS=('default' 'fallback')\n");
    expect((await exec.run(['mkinitcpio', '-P'])).exitCode).toBe(0);
    expect(host.readText('/boot/initramfs-linux.img')).toContain('== /etc/mkinitcpio.conf ==');
    expect(host.exists('/boot/initramfs-linux-fallback.img')).toBe(true);
  });
});

describe('systemctl', () => {
  const UNIT = 'gpuvirt-nvidia-sriov.service';
  const WANTS = `/etc/systemd/system/multi-user.target.wants/${UNIT}`;

  it('enable makes the WantedBy symlink, disable removes it; a missing unit fails as systemctl does', async () => {
    const { host, exec } = machine('nvidia-vgpu-host');
    expect(await exec.run(['systemctl', 'enable', UNIT])).toEqual({
      exitCode: 1, stdout: '', stderr: `Failed to enable unit: Unit file ${UNIT} does not exist.\n`,
    });
    host.writeFile(paths.sriovPersist.nvidiaUnit, '[Unit]\nDescription=x\n[Service]\nType=oneshot\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n');
    expect((await exec.run(['systemctl', 'daemon-reload'])).exitCode).toBe(0);
    expect(await exec.run(['systemctl', 'enable', UNIT])).toEqual({
      exitCode: 0, stdout: '', stderr: `Created symlink ${WANTS} → ${paths.sriovPersist.nvidiaUnit}.\n`,
    });
    expect(host.readLink(WANTS)).toBe(`../${UNIT}`);
    expect(host.readText(WANTS)).toContain('WantedBy=multi-user.target');
    expect((await exec.run(['systemctl', 'enable', UNIT])).stderr).toBe(''); // already enabled
    expect(await exec.run(['systemctl', 'disable', UNIT])).toEqual({ exitCode: 0, stdout: '', stderr: `Removed "${WANTS}".\n` });
    expect(host.readLink(WANTS)).toBeNull();
    host.removeFile(paths.sriovPersist.nvidiaUnit);
    expect((await exec.run(['systemctl', 'disable', UNIT])).stderr).toBe(`Failed to disable unit: Unit file ${UNIT} does not exist.\n`);
  });
});

describe('failure injection covers every program', () => {
  it('an injected result replaces the run, and the files stay as they were', async () => {
    const { host, exec } = machine('intel-desktop-nvidia');
    const before = host.readText('/boot/grub/grub.cfg');
    for (const argv of [['update-grub'], ['update-initramfs', '-u', '-k', 'all'], ['systemctl', 'daemon-reload'], ['modprobe', 'gim', 'vf_num=1']]) {
      exec.failOn({ argv, exitCode: 7, stderr: 'injected\n', times: 1 });
      expect(await exec.run(argv)).toEqual({ exitCode: 7, stdout: '', stderr: 'injected\n' });
    }
    expect(host.readText('/boot/grub/grub.cfg')).toBe(before);
    expect(host.exists('/boot/initrd.img-6.1.0-18-amd64')).toBe(false);
  });
});

describe('hostState', () => {
  it('sees what proxmox-boot-tool wrote to the ESPs, which treeState cannot', async () => {
    const sim = machine('server-mxgpu-sriov');
    const before = hostState(sim);
    await sim.exec.run(['proxmox-boot-tool', 'refresh']);
    const after = hostState(sim);
    expect(treeDiff(before, after).map((d) => d.split(':').slice(0, 2).join(':'))).toEqual([
      'esp:4A1B-2C3D/loader/entries/proxmox-6.8.12-4-pve.conf', 'esp:5E6F-7A8B/loader/entries/proxmox-6.8.12-4-pve.conf',
    ]);
    expect(after['esp:4A1B-2C3D/loader/entries/proxmox-6.8.12-4-pve.conf']).toContain('options  root=ZFS=rpool/ROOT/pve-1 boot=zfs iommu=pt\n');
  });
});
