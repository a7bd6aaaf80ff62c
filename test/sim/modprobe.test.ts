import { afterEach, describe, expect, it } from 'vitest';
import { readFunction } from '../../src/detect/pci.js';
import { readPf } from '../../src/sriov/detect.js';
import { paths } from '../../src/host/paths.js';
import { makeSimHost, type SimHost } from '../../src/sim/host.js';
import { FIXTURES } from '../helpers/sim.js';
import { simMachine, track, write } from '../helpers/sysfs-builder.js';

const sims: SimHost[] = [];
afterEach(() => sims.splice(0).forEach((s) => s.cleanup()));
const q35 = () => track(sims, simMachine());
const server = () => track(sims, makeSimHost(`${FIXTURES}server-mxgpu-sriov`));
const nvidia = () => track(sims, makeSimHost(`${FIXTURES}nvidia-vgpu-host`));

const GPU = '0000:41:00.0';
const GPU2 = '0000:81:00.0';
const vfs = (sim: SimHost, pf: string) => readPf(sim.host, pf)!.vfs.map((v) => v.address);

describe('modprobe with parameters', () => {
  it('puts the command line\'s options in /sys/module/<m>/parameters, after modprobe.d\'s', async () => {
    const { host, exec } = q35();
    host.writeFile('/etc/modprobe.d/vfio.conf', '# comment\noptions vfio-pci enable_sriov=1 \\\n  disable_idle_d3=Y\n');
    host.writeFile('/etc/modprobe.d/zz.conf', 'options vfio_pci nointxmask=1\noptions e1000e enable_sriov=1\n');
    expect(await exec.run(['modprobe', 'vfio-pci', 'disable_idle_d3=N', 'no_such_param=3'])).toMatchObject({ exitCode: 0 });
    const param = (p: string) => host.readText(paths.moduleParam('vfio_pci', p));
    expect([param('enable_sriov'), param('disable_idle_d3'), param('nointxmask')]).toEqual(['Y\n', 'N\n', 'Y\n']);
    expect(host.exists(paths.moduleParam('vfio_pci', 'no_such_param'))).toBe(false); // "unknown parameter" is ignored
  });

  it('a bool the kernel cannot parse fails the load; options of a loaded module are ignored', async () => {
    const { host, exec } = q35();
    expect(await exec.run(['modprobe', 'vfio-pci', 'enable_sriov=maybe'])).toEqual({
      exitCode: 1, stdout: '', stderr: "modprobe: ERROR: could not insert 'vfio_pci': Invalid argument\n",
    });
    expect(host.exists(paths.pciDriver('vfio-pci'))).toBe(false);
    await exec.run(['modprobe', 'vfio-pci']);
    expect((await exec.run(['modprobe', 'vfio-pci', 'enable_sriov=Y'])).exitCode).toBe(0);
    expect(host.readText(paths.moduleParam('vfio_pci', 'enable_sriov'))).toBe('N\n');
  });

  it('an install command replaces the load: /bin/false fails it, /bin/true skips it, anything else is not simulated', async () => {
    const { host, exec } = q35();
    host.writeFile('/etc/modprobe.d/fault.conf', 'install pci_stub /bin/false\ninstall pci_pf_stub /bin/true\ninstall vfio_pci echo hi\n');
    expect(await exec.run(['modprobe', 'pci-stub'])).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/could not insert 'pci_stub'/) });
    expect(await exec.run(['modprobe', 'pci-pf-stub'])).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    expect([host.exists(paths.pciDriver('pci-stub')), host.exists(paths.pciDriver('pci-pf-stub'))]).toEqual([false, false]);
    await expect(exec.run(['modprobe', 'vfio-pci'])).rejects.toThrow(/install command `echo hi`/);
  });

  it('modprobe -r of a module that is not loaded succeeds quietly, as kmod does without --first-time', async () => {
    const { exec } = q35();
    expect(await exec.run(['modprobe', '-r', 'pci_stub'])).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    expect(await exec.run(['modprobe', '-r', 'gpuvirt_no_such_module'])).toEqual({
      exitCode: 1, stdout: '', stderr: 'modprobe: FATAL: Module gpuvirt_no_such_module not found.\n',
    });
  });
});

describe('AMD GIM: modprobe gim vf_num=N', () => {
  it('modprobe -r gim takes every VF of its GPUs and leaves the PF driverless', async () => {
    const sim = server();
    expect(vfs(sim, GPU)).toHaveLength(4);
    expect(await sim.exec.run(['modprobe', '-r', 'gim'])).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    expect(readFunction(sim.host, GPU).driver).toBeNull();
    expect(readPf(sim.host, GPU)!.sriov.numVfs).toBe(0);
    expect(sim.host.exists(paths.pciDevice('0000:41:02.0'))).toBe(false);
    expect(sim.host.exists(paths.sysModule('gim'))).toBe(false);
    expect(await sim.exec.run(['modprobe', '-r', 'gim'])).toEqual({ exitCode: 0, stdout: '', stderr: '' }); // already gone
  });

  it('loads with the line\'s vf_num over modprobe.d\'s, binds only enabled_devices, makes the VFs with their groups', async () => {
    const sim = server();
    await sim.exec.run(['modprobe', '-r', 'gim']);
    expect((await sim.exec.run(['modprobe', 'gim', 'vf_num=8'])).exitCode).toBe(0);
    expect(sim.host.readText(paths.moduleParam('gim', 'vf_num'))).toBe('8\n');
    expect(sim.host.readText(paths.moduleParam('gim', 'enabled_devices'))).toBe('0000:41:00.0\n'); // from gim.conf
    expect(readFunction(sim.host, GPU).driver).toBe('gim');
    expect(readFunction(sim.host, GPU2).driver).toBeNull();
    const made = readPf(sim.host, GPU)!;
    expect(made.sriov.numVfs).toBe(8);
    expect(made.vfs.map((v) => v.address)).toEqual(Array.from({ length: 8 }, (_, i) => `0000:41:02.${i}`));
    expect(new Set(made.vfs.map((v) => v.iommuGroup)).size).toBe(8);
    expect(made.vfs.every((v) => v.iommuGroup !== null && sim.host.exists(paths.iommuGroupDevices(v.iommuGroup)))).toBe(true);
    // GIM has no sriov_configure: the count cannot be changed through sysfs.
    expect(write(sim.host, paths.pciAttr(GPU, 'sriov_numvfs'), '0')).toBe('ENOENT');
  });

  it('takes vf_num from modprobe.d when the line has none, one count per GPU in address order', async () => {
    const sim = server();
    await sim.exec.run(['modprobe', '-r', 'gim']);
    sim.host.writeFile('/etc/modprobe.d/gim.conf', 'options gim vf_num=2,1 enabled_devices=0000:41:00.0,0000:81:00.0\n');
    expect((await sim.exec.run(['modprobe', 'gim'])).exitCode).toBe(0);
    expect([vfs(sim, GPU).length, vfs(sim, GPU2).length]).toEqual([2, 1]);
    expect(readFunction(sim.host, GPU2).driver).toBe('gim');
  });

  it('a count over sriov_totalvfs fails GIM\'s probe: the module loads, the GPU stays driverless', async () => {
    const sim = server();
    await sim.exec.run(['modprobe', '-r', 'gim']);
    expect((await sim.exec.run(['modprobe', 'gim', 'vf_num=9'])).exitCode).toBe(0);
    expect(readFunction(sim.host, GPU).driver).toBeNull();
    expect(vfs(sim, GPU)).toEqual([]);
  });

  it('modprobe -r gim fails while a VF it would remove cannot be released, and changes nothing', async () => {
    const sim = server();
    sim.host.holdOpen('0000:41:02.0', { errno: 'EINTR' });
    expect(await sim.exec.run(['modprobe', '-r', 'gim'])).toMatchObject({ exitCode: 1, stderr: 'modprobe: FATAL: Module gim is in use.\n' });
    expect(readFunction(sim.host, GPU).driver).toBe('gim');
    expect(vfs(sim, GPU)).toHaveLength(4);
  });
});

describe('NVIDIA sriov-manage', () => {
  const PF = '0000:41:00.0';
  const SM = paths.nvidiaSriovManage;

  it('-e enables sriov_totalvfs VFs, -d removes them, both through the kernel\'s sriov_numvfs', async () => {
    const sim = nvidia();
    const total = readPf(sim.host, PF)!.sriov.totalVfs;
    expect(await sim.exec.run([SM, '-e', PF])).toEqual({ exitCode: 0, stdout: `Enabling VFs on ${PF}\n`, stderr: '' });
    expect(readPf(sim.host, PF)!.sriov.numVfs).toBe(total);
    expect(sim.host.writes).toEqual([{ path: paths.pciAttr(PF, 'sriov_numvfs'), value: String(total), result: 'ok' }]);
    expect((await sim.exec.run([SM, '-e', 'ALL'])).exitCode).toBe(0); // the same count again is fine
    expect((await sim.exec.run([SM, '-d', 'ALL'])).exitCode).toBe(0);
    expect(readPf(sim.host, PF)!.sriov.numVfs).toBe(0);
  });

  it('fails on a PF that is not on nvidia, and on a write the kernel refuses', async () => {
    const sim = nvidia();
    sim.host.writeAttr(paths.pciDriverAttr('nvidia', 'unbind'), PF);
    expect(await sim.exec.run([SM, '-e', PF])).toMatchObject({ exitCode: 1, stderr: `${PF} is not bound to the nvidia driver\n` });
    sim.host.writeAttr(paths.pciDriversProbe, PF);
    sim.host.failOn({ path: paths.pciAttr(PF, 'sriov_numvfs'), errno: 'EIO', times: 1 });
    expect(await sim.exec.run([SM, '-e', PF])).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/EIO/) });
    expect(await sim.exec.run([SM, '-e', '0000:00:00.0'])).toMatchObject({ exitCode: 1 });
  });
});
