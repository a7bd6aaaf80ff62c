import { describe, expect, it } from 'vitest';
import { modprobeConf, planPersist, udevRule } from '../../src/passthrough/persist.js';
import { detectInitramfs } from '../../src/boot/initramfs.js';
import { FsHost } from '../../src/host/fs-host.js';
import { describeStep } from '../../src/mutate/steps.js';
import { makeTree } from '../helpers/tree.js';

const gpu = { address: '0000:01:00.0', target: 'vfio-pci' as const, originalModule: 'nvidia' };
const audio = { address: '0000:01:00.1', target: 'vfio-pci' as const, originalModule: 'snd_hda_intel' };

const hostWith = (files: Record<string, string>) => new FsHost(makeTree({ 'etc/hostname': 'h\n', ...files }));
const debian = () => hostWith({ 'etc/initramfs-tools/initramfs.conf': 'MODULES=most\n', 'usr/sbin/update-initramfs': '' });

describe('boot-time passthrough files', () => {
  it('the udev rule names each address (so an identical second GPU is untouched) and re-probes a device a host driver took first', () => {
    const rule = udevRule([gpu]);
    expect(rule).toContain('KERNEL=="0000:01:00.0", ATTR{driver_override}="vfio-pci"');
    expect(rule).not.toMatch(/ATTR\{vendor\}|vfio-pci\.ids|new_id/);
    expect(rule).toContain("case $$(readlink /sys/bus/pci/devices/%k/driver) in */vfio-pci) exit 0;; esac");
    expect(rule).toContain('echo %k > /sys/bus/pci/drivers_probe');
  });

  it('softdeps load vfio-pci before each host driver', () => {
    expect(modprobeConf([gpu, audio])).toContain('softdep nvidia pre: vfio-pci\nsoftdep snd_hda_intel pre: vfio-pci\n');
  });

  it.each([
    ['initramfs-tools', { 'etc/initramfs-tools/modules': '', 'usr/sbin/update-initramfs': '' }, '/etc/initramfs-tools/hooks/gpuvirt-passthrough', 'update-initramfs -u -k all'],
    ['dracut', { 'etc/dracut.conf.d/x.conf': '', 'usr/bin/dracut': '' }, '/etc/dracut.conf.d/gpuvirt-passthrough.conf', 'dracut --regenerate-all --force'],
    ['mkinitcpio', { 'etc/mkinitcpio.conf': 'MODULES=()\n', 'usr/bin/mkinitcpio': '' }, '/etc/mkinitcpio.conf.d/gpuvirt-passthrough.conf', 'mkinitcpio -P'],
  ])('%s: writes its own drop-in and rebuilds the initramfs', (kind, files, dropIn, rebuild) => {
    const host = hostWith(files);
    const initramfs = detectInitramfs(host);
    expect(initramfs.kind).toBe(kind);
    const steps = planPersist(host, [gpu, audio], initramfs);
    expect(steps.map(describeStep)).toEqual([
      'write file /etc/udev/rules.d/41-gpuvirt-passthrough.rules',
      'write file /etc/modprobe.d/gpuvirt-passthrough.conf',
      `write file ${dropIn}`,
      `run ${rebuild}`,
    ]);
    const dropInStep = steps.find((s) => s.kind === 'file' && s.path === dropIn);
    expect(dropInStep && 'content' in dropInStep ? dropInStep.content : '').toMatch(/vfio_pci/);
  });

  it('the initramfs-tools hook is executable and copies the rule into the image', () => {
    const steps = planPersist(debian(), [gpu], detectInitramfs(debian()));
    const hook = steps.find((s) => s.kind === 'file' && s.path.includes('hooks'));
    expect(hook).toMatchObject({ mode: 0o755 });
    expect(hook && 'content' in hook ? hook.content : '').toContain('cp /etc/udev/rules.d/41-gpuvirt-passthrough.rules "${DESTDIR}/lib/udev/rules.d/"');
  });

  it('is idempotent: files that already match are not rewritten and nothing is rebuilt', () => {
    const host = hostWith({ 'etc/udev/rules.d/41-gpuvirt-passthrough.rules': udevRule([gpu]), 'etc/modprobe.d/gpuvirt-passthrough.conf': modprobeConf([gpu]) });
    expect(planPersist(host, [gpu], detectInitramfs(host))).toEqual([]);
  });

  it('with no persisted device left, removes its files and rebuilds', () => {
    const host = hostWith({
      'etc/udev/rules.d/41-gpuvirt-passthrough.rules': udevRule([gpu]),
      'etc/modprobe.d/gpuvirt-passthrough.conf': modprobeConf([gpu]),
      'etc/initramfs-tools/modules': '', 'usr/sbin/update-initramfs': '',
      'etc/initramfs-tools/hooks/gpuvirt-passthrough': '#!/bin/sh\n',
    });
    expect(planPersist(host, [], detectInitramfs(host)).map(describeStep)).toEqual([
      'remove file /etc/udev/rules.d/41-gpuvirt-passthrough.rules',
      'remove file /etc/modprobe.d/gpuvirt-passthrough.conf',
      'remove file /etc/initramfs-tools/hooks/gpuvirt-passthrough',
      'run update-initramfs -u -k all',
    ]);
  });

  it('without an initramfs generator: only the udev rule and softdep, no rebuild', () => {
    const host = hostWith({});
    expect(detectInitramfs(host).kind).toBe('none');
    expect(planPersist(host, [gpu], detectInitramfs(host)).map((s) => s.kind)).toEqual(['file', 'file']);
  });
});
