// Gathers everything doctor judges into one plain HostFacts value (the imperative part);
// checks.ts then decides verdicts from it without touching the host.
import type { Host } from '../host/host.js';
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { detectBootloader, type Bootloader } from '../boot/bootloader.js';
import { parseCmdline, type KernelParam } from '../detect/cmdline.js';
import { isolationOf, newGroupReads, type Isolation } from '../detect/groups.js';
import { isGpuClass, listAddresses, readClass, readDetails, readFunction, type PciDetails, type PciFunction } from '../detect/pci.js';
import {
  readCpu, readFirmwareIommu, readKernelConfig, readKernelIommu, readModules, readRunningCmdline,
  type CmdlineFacts, type CpuFacts, type FirmwareIommu, type KernelIommu, type ModuleState,
} from '../detect/system.js';
import type { VendorResetState } from '../reset/judge.js';

export const VFIO_MODULES = ['vfio', 'vfio_pci', 'vfio_iommu_type1'] as const;

export interface GpuFacts extends PciFunction, PciDetails {
  isolation: Isolation;
  blockingPeers: PciFunction[];
}

export interface HostFacts {
  kernel: string | null;
  cpu: CpuFacts;
  kvmDevice: boolean;
  firmware: FirmwareIommu;
  iommu: KernelIommu;
  cmdline: CmdlineFacts;
  boot: Bootloader;
  configuredParams: KernelParam[] | null;
  /** CONFIG_INTEL_IOMMU_DEFAULT_ON of the running kernel: 'y', 'n', or null when unknown. */
  intelIommuDefaultOn: string | null;
  modules: ModuleState[];
  /** The running kernel's modules.dep was found, so "not available" is known, not guessed. */
  modulesListed: boolean;
  privileged: boolean;
  /** The vendor-reset module (gnif/vendor-reset) for the running kernel. */
  vendorReset: VendorResetState;
  gpus: GpuFacts[];
}

export function readVendorReset(host: Host, kernel: string | null): VendorResetState {
  const [m] = readModules(host, kernel, ['vendor_reset']);
  if (m!.loaded) return 'loaded';
  if (m!.available) return 'installed';
  return kernel !== null && host.exists(paths.modulesDep(kernel)) ? 'absent' : 'unknown';
}

export function readGpus(host: Host): GpuFacts[] {
  const gpus: GpuFacts[] = [];
  const groupReads = newGroupReads();
  for (const addr of listAddresses(host)) {
    const classId = readClass(host, addr);
    if (!isGpuClass(classId)) continue;
    const fn = readFunction(host, addr, classId);
    gpus.push({ ...fn, ...readDetails(host, addr), ...isolationOf(host, fn, groupReads) });
  }
  return gpus;
}

export function gatherFacts(host: Host): HostFacts {
  const kernel = readAttr(host, paths.osrelease);
  const boot = detectBootloader(host, kernel);
  return {
    kernel,
    cpu: readCpu(host),
    kvmDevice: host.exists(paths.devKvm),
    firmware: readFirmwareIommu(host),
    iommu: readKernelIommu(host),
    cmdline: readRunningCmdline(host),
    boot,
    configuredParams: boot.configured === null ? null : parseCmdline(boot.configured),
    intelIommuDefaultOn: readKernelConfig(host, kernel, 'CONFIG_INTEL_IOMMU_DEFAULT_ON'),
    modules: readModules(host, kernel, VFIO_MODULES),
    modulesListed: kernel !== null && host.exists(paths.modulesDep(kernel)),
    privileged: host.isPrivileged(),
    vendorReset: readVendorReset(host, kernel),
    gpus: readGpus(host),
  };
}
