// NVIDIA's /usr/lib/nvidia/sriov-manage (vGPU host driver): `-e PF|ALL` enables every VF the
// PF offers (sriov_totalvfs) through sriov_numvfs, `-d PF|ALL` disables them; the PF must be on
// the nvidia driver. Its writes go through the simulated kernel like anyone else's, so they are
// logged, can be made to fail, and answer as the kernel does (EBUSY for a different count).
import type { ExecResult } from '../host/exec.js';
import { linkName, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { listAddresses } from '../detect/pci.js';
import type { SimKernel } from './kernel.js';

const NVIDIA = '0x10de';

function nvidiaPfs(kernel: SimKernel): string[] {
  return listAddresses(kernel).filter((a) => readAttr(kernel, paths.pciAttr(a, 'vendor')) === NVIDIA &&
    readAttr(kernel, paths.pciAttr(a, 'sriov_totalvfs')) !== null);
}

export function sriovManage(kernel: SimKernel, flag: '-e' | '-d', target: string): ExecResult {
  const pfs = target === 'ALL' ? nvidiaPfs(kernel) : [target];
  let stdout = '';
  for (const pf of pfs) {
    if (!nvidiaPfs(kernel).includes(pf)) return { exitCode: 1, stdout, stderr: `${pf} is not an SR-IOV capable NVIDIA GPU\n` };
    if (linkName(kernel, paths.pciAttr(pf, 'driver')) !== 'nvidia') {
      return { exitCode: 1, stdout, stderr: `${pf} is not bound to the nvidia driver\n` };
    }
    const count = flag === '-e' ? readAttr(kernel, paths.pciAttr(pf, 'sriov_totalvfs'))! : '0';
    stdout += `${flag === '-e' ? 'Enabling' : 'Disabling'} VFs on ${pf}\n`;
    try {
      kernel.writeAttr(paths.pciAttr(pf, 'sriov_numvfs'), count);
    } catch (err) {
      return { exitCode: 1, stdout, stderr: `Cannot ${flag === '-e' ? 'enable' : 'disable'} VFs on ${pf}: ${(err as Error).message}\n` };
    }
  }
  return { exitCode: 0, stdout, stderr: '' };
}
