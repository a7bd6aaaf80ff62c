import { describe, expect, it } from 'vitest';
import { machine } from '../helpers/sim.js';
import { paths } from '../../src/host/paths.js';

const OK = { exitCode: 0, stdout: '', stderr: '' };
const GRUB = '/etc/default/grub';

describe('setup on a GRUB host (Debian/Ubuntu)', () => {
  it('adds intel_iommu=on to GRUB_CMDLINE_LINUX_DEFAULT only, loads vfio at boot, runs update-grub; undo restores every byte', async () => {
    const m = machine('iommu-off-cmdline', { 'update-grub': OK });
    const original = m.host.readText(GRUB)!;
    // JSON says whether a reboot is needed for what the bootloader is configured with, after the run.
    expect((await m.run(['setup', '--dry-run', '--json'])).doc.data.rebootRequired).toBe(false);
    const r = await m.run(['setup', '--yes', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.data.change.add).toEqual(['intel_iommu=on']);
    expect(r.doc.data.rebootRequired).toBe(true);
    const edited = m.host.readText(GRUB)!;
    const diff = edited.split('\n').map((l, i) => [l, original.split('\n')[i]]).filter(([a, b]) => a !== b);
    expect(diff).toEqual([['GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"']]);
    expect(m.host.readText(paths.setupFiles.modulesLoad)).toContain('vfio_pci');
    expect(m.testExec.calls).toEqual([['update-grub']]);
    // doctor now says a reboot is pending
    const doctor = await m.run(['doctor', '--json']);
    const pending = doctor.doc.data.checks.find((c: { id: string }) => c.id === 'boot.pending');
    expect(pending.status).toBe('warn');
    expect(pending.summary).toContain('+intel_iommu=on');
    // a second run has nothing left to do
    const again = await m.run(['setup', '--yes']);
    expect(again.stdout).toContain('Nothing to do');
    expect((await m.run(['setup', '--yes', '--json'])).doc.data.rebootRequired).toBe(true);
    // undo: byte-identical, the created file gone, update-grub again
    const undo = await m.run(['setup', '--undo', '--yes']);
    expect(undo.code).toBe(0);
    expect(m.host.readText(GRUB)).toBe(original);
    expect(m.host.exists(paths.setupFiles.modulesLoad)).toBe(false);
    expect(m.testExec.calls).toEqual([['update-grub'], ['update-grub']]);
    expect((await m.run(['setup', '--undo', '--yes'])).code).toBe(1);
    // Undone before any reboot: the configured line is the running one again.
    expect((await m.run(['setup', '--dry-run', '--json'])).doc.data.rebootRequired).toBe(false);
  });

  it('--dry-run shows the diff of each file and changes nothing', async () => {
    const m = machine('iommu-off-cmdline');
    const before = m.host.readText(GRUB);
    const r = await m.run(['setup', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('-GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n+GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"');
    expect(r.stdout).toContain('Plan (dry run, nothing changed):');
    expect(m.host.readText(GRUB)).toBe(before);
    expect(m.testExec.calls).toEqual([]);
  });

  it('a failing update-grub restores every file byte for byte', async () => {
    let runs = 0;
    const m = machine('iommu-off-cmdline', { 'update-grub': () => (++runs === 1 ? { exitCode: 1, stdout: '', stderr: '/usr/sbin/grub-mkconfig: error: out of space' } : OK) });
    const before = m.host.readText(GRUB);
    const r = await m.run(['setup', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('out of space');
    expect(r.stdout).toContain('Rolled back: the host shows what it showed before');
    expect(m.host.readText(GRUB)).toBe(before);
    expect(m.host.exists(paths.setupFiles.modulesLoad)).toBe(false);
    // grub.cfg is regenerated from the restored file
    expect(m.testExec.calls).toEqual([['update-grub'], ['update-grub']]);
  });

  it('undo refuses to discard edits made after setup, unless --force', async () => {
    const m = machine('iommu-off-cmdline', { 'update-grub': OK });
    const original = m.host.readText(GRUB)!;
    await m.run(['setup', '--vfio-modules', '--param', 'iommu=pt', '--yes']);
    m.host.writeFile(GRUB, `${m.host.readText(GRUB)}# my own edit\n`);
    const r = await m.run(['setup', '--undo', '--yes']);
    expect(r.code).toBe(7);
    expect(r.stdout).toContain('changed since setup');
    expect(r.stdout).toContain('--force would restore them anyway');
    expect((await m.run(['setup', '--undo', '--yes', '--force'])).code).toBe(0);
    expect(m.host.readText(GRUB)).toBe(original);
  });
});

describe('setup on other bootloaders', () => {
  it('Proxmox: the single line of /etc/kernel/cmdline, then proxmox-boot-tool refresh', async () => {
    const m = machine('server-mxgpu-sriov', { 'proxmox-boot-tool refresh': OK });
    const before = m.host.readText(paths.etcKernelCmdline)!;
    const r = await m.run(['setup', '--param', 'vfio_iommu_type1.allow_unsafe_interrupts=1', '--yes']);
    expect(r.code).toBe(0);
    expect(m.host.readText(paths.etcKernelCmdline)).toBe(`${before.trimEnd()} vfio_iommu_type1.allow_unsafe_interrupts=1\n`);
    expect(m.testExec.calls).toEqual([['proxmox-boot-tool', 'refresh']]);
  });

  it('systemd-boot: /etc/kernel/cmdline and the options line of every loader entry', async () => {
    const m = machine('amd-desktop-shared');
    const r = await m.run(['setup', '--param', 'iommu=pt', '--yes', '--json']);
    expect(r.code).toBe(0);
    expect(m.host.readText(paths.etcKernelCmdline)).toContain('iommu=pt');
    const entries = m.host.list('/boot/loader/entries')!.filter((n) => n.endsWith('.conf'));
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) expect(m.host.readText(`/boot/loader/entries/${e}`)).toMatch(/^options .*iommu=pt/m);
    expect(m.testExec.calls).toEqual([]);
  });

  it('GRUB with BootLoaderSpec entries: grubby updates every kernel, GRUB_CMDLINE_LINUX covers new ones', async () => {
    const dir = '/boot/loader/entries';
    // A grubby that does its job: appends to the options line of every entry.
    const grubby = (m: ReturnType<typeof machine>) => () => {
      for (const e of m.host.list(dir)!) m.host.writeFile(`${dir}/${e}`, m.host.readText(`${dir}/${e}`)!.replace(/^(options .*)$/m, '$1 iommu=pt'));
      return OK;
    };
    const m: ReturnType<typeof machine> = machine('shared-with-boot-disk', { 'grubby --update-kernel=ALL --args=iommu=pt': () => grubby(m)() });
    m.host.mkdirp('/boot/grub2');
    const r = await m.run(['setup', '--param', 'iommu=pt', '--yes']);
    expect(r.code).toBe(0);
    expect(m.testExec.calls).toEqual([['grubby', '--update-kernel=ALL', '--args=iommu=pt']]);
    expect(m.host.readText(GRUB)).toMatch(/^GRUB_CMDLINE_LINUX=".*iommu=pt.*"$/m);
  });

  it('a grubby that changes nothing fails verification, and its inverse runs on rollback', async () => {
    const m = machine('shared-with-boot-disk', { 'grubby --update-kernel=ALL --args=iommu=pt': OK, 'grubby --update-kernel=ALL --remove-args=iommu': OK });
    m.host.mkdirp('/boot/grub2');
    const before = m.host.readText(GRUB);
    const r = await m.run(['setup', '--param', 'iommu=pt', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('iommu=pt missing');
    expect(m.testExec.calls).toEqual([['grubby', '--update-kernel=ALL', '--args=iommu=pt'], ['grubby', '--update-kernel=ALL', '--remove-args=iommu']]);
    expect(m.host.readText(GRUB)).toBe(before);
  });

  it('kernelstub (Pop!_OS): kernelstub -a', async () => {
    const m = machine('two-identical-gpus', { 'kernelstub -a iommu=pt': OK });
    m.host.writeFile(paths.kernelstubConfig, JSON.stringify({ user: { kernel_options: ['quiet', 'splash', 'iommu=pt'] } }));
    const r = await m.run(['setup', '--param', 'iommu=pt', '--yes']);
    expect(r.code).toBe(0);
    expect(m.testExec.calls).toEqual([['kernelstub', '-a', 'iommu=pt']]);
  });

  it('no known bootloader: prints the parameters to add and changes nothing', async () => {
    const m = machine('container-no-iommu');
    const r = await m.run(['setup', '--param', 'iommu=pt', '--yes']);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('add `iommu=pt` to the kernel command line yourself');
    expect(m.host.writes).toEqual([]);
  });
});

describe('setup input', () => {
  it('refuses amd_iommu=on and explains why', async () => {
    const m = machine('amd-desktop-shared');
    const r = await m.run(['setup', '--param', 'amd_iommu=on', '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('not a kernel option');
  });

  it('refuses parameters with shell characters or spaces', async () => {
    const m = machine('iommu-off-cmdline');
    for (const bad of ['a=$(reboot)', 'x="y z"', "q='1'", 'a;b']) {
      const r = await m.run(['setup', '--param', bad, '--yes']);
      expect(r.code, bad).toBe(2);
    }
    expect(m.host.writes).toEqual([]);
  });

  it('refuses pcie_acs_override on a kernel without the patch', async () => {
    const m = machine('iommu-off-cmdline');
    const r = await m.run(['setup', '--param', 'pcie_acs_override=downstream', '--yes']);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('does not carry the ACS override patch');
  });
});

describe('setup recommendations', () => {
  it('does not plan to load vfio modules the running kernel does not have', async () => {
    const m = machine('container-no-iommu');
    const r = await m.run(['setup', '--dry-run', '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.data.vfioModules).toBe(false);
    expect(r.doc.data.steps).toEqual([]);
    expect(r.doc.data.cannot.join(' ')).toContain('not installed');
  });
});
