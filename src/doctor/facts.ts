// Gathers everything doctor judges into one plain HostFacts value (the imperative part);
// checks.ts then decides verdicts from it without touching the host.
import type { Host } from '../host/host.js';
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { detectBootloader, type Bootloader } from '../boot/bootloader.js';
import { parseCmdline, type KernelParam } from '../detect/cmdline.js';
import { isolationOf, newGroupReads, type Isolation } from '../detect/groups.js';
import { isGpuClass, listAddresses, readClass, readDetails, readFunction, slotOf, type PciDetails, type PciFunction } from '../detect/pci.js';
import {
  readCpu, readFirmwareIommu, readKernelConfig, readKernelIommu, readModules, readRunningCmdline,
  type CmdlineFacts, type CpuFacts, type FirmwareIommu, type KernelIommu, type ModuleState,
} from '../detect/system.js';
import type { VendorResetState } from '../reset/judge.js';

export const VFIO_MODULES = ['vfio', 'vfio_pci', 'vfio_iommu_type1'] as const;

/** A function of the GPU's own slot (HDMI audio, USB-C) that the kernel put in another IOMMU group. */
export interface Companion {
  address: string;
  iommuGroup: number | null;
  /** Devices of the companion's group that would have to leave the host with it. */
  blockingPeers: PciFunction[];
}

export interface GpuFacts extends PciFunction, PciDetails {
  /** `clean` only when the GPU's own group and the groups of its companions are. */
  isolation: Isolation;
  blockingPeers: PciFunction[];
  companions: Companion[];
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

export function readVendorReset(host: Host, kernel: string | null, modulesListed?: boolean, state?: ModuleState): VendorResetState {
  const m = state ?? readModules(host, kernel, ['vendor_reset'])[0]!;
  if (m.loaded) return 'loaded';
  if (m.available) return 'installed';
  return (modulesListed ?? (kernel !== null && host.exists(paths.modulesDep(kernel)))) ? 'absent' : 'unknown';
}

export function readGpus(host: Host): GpuFacts[] {
  const gpus: GpuFacts[] = [];
  const groupReads = newGroupReads();
  const all = listAddresses(host);
  for (const addr of all) {
    const classId = readClass(host, addr);
    if (!isGpuClass(classId)) continue;
    const fn = readFunction(host, addr, classId);
    const own = isolationOf(host, fn, groupReads);
    // A VF goes alone; a PF's other functions go with it (passthrough takes the whole slot).
    const companions: Companion[] = fn.physfn !== null ? [] : all
      .filter((a) => a !== addr && slotOf(a) === slotOf(addr))
      .map((a) => readFunction(host, a, readClass(host, a)))
      .filter((c) => c.iommuGroup !== fn.iommuGroup && c.physfn === null)
      .map((c) => ({ address: c.address, iommuGroup: c.iommuGroup, blockingPeers: isolationOf(host, c, groupReads).blockingPeers }));
    const dirty = companions.some((c) => c.blockingPeers.length > 0);
    const isolation = own.isolation === 'clean' && dirty ? 'shared' : own.isolation;
    gpus.push({ ...fn, ...readDetails(host, addr), isolation, blockingPeers: own.blockingPeers, companions });
  }
  return gpus;
}

export function gatherFacts(host: Host): HostFacts {
  const kernel = readAttr(host, paths.osrelease);
  const boot = detectBootloader(host, kernel);
  // One reading of /proc/modules, modules.dep and modules.builtin (a few MB on a real host) for
  // the vfio modules and vendor-reset alike.
  const modules = readModules(host, kernel, [...VFIO_MODULES, 'vendor_reset']);
  const modulesListed = kernel !== null && host.exists(paths.modulesDep(kernel));
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
    modules: modules.slice(0, VFIO_MODULES.length),
    modulesListed,
    privileged: host.isPrivileged(),
    vendorReset: readVendorReset(host, kernel, modulesListed, modules[VFIO_MODULES.length]),
    gpus: readGpus(host),
  };
}
