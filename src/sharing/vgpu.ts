// What `gpuvirt vgpu types|status` read: per GPU, its vGPU mechanism (NVIDIA vendor-specific
// VFIO on the VFs, or mdev on the GPU or its VFs), the types with their free capacity, the
// vGPUs that exist, and the MIG layout where nvidia-smi can tell. Read-only.
import type { Exec } from '../host/exec.js';
import { type Host, listIfReadable } from '../host/host.js';
import { paths } from '../host/paths.js';
import { isGpuClass, listAddresses, readClass, readFunction, readVirtfns, type PciFunction } from '../detect/pci.js';
import { rowFor, rowsFor, type MigProfile } from './families.js';
import { readMig, type MigDevice, type MigMode } from './mig.js';
import { mergeMdevOffers, readMdevInstances, readMdevParents, readVendorVfio, type NvidiaVf } from './nvidia.js';
import { vendorVfioOffers, type TypeOffer } from './verdict.js';

export type VgpuMechanism = 'vendor-vfio' | 'mdev';

export interface VgpuDevice {
  /** The GPU (PF) address. */
  address: string;
  vendorId: string;
  deviceId: string;
  mechanism: VgpuMechanism;
  /** vendor-vfio: offers over the free VFs; mdev: every parent's types (parent named per type). */
  types: (TypeOffer & { parent: string })[];
  /** mdev parents (the GPU, or each of its VFs); vendor-vfio: the VFs that have nvidia/. */
  parents: string[];
  /** vendor-vfio: every VF with its current type. */
  vfs: (NvidiaVf & { currentName: string | null })[];
  /** mdev: the instances whose parent is this GPU or one of its VFs. */
  instances: { uuid: string; parent: string; type: string | null; typeName: string | null }[];
}

export interface MigLayout {
  address: string;
  known: boolean;
  reason: string | null;
  current: MigMode | null;
  pending: MigMode | null;
  gpuInstances: { id: number; computeInstances: number[]; multiprocessors: number | null; memoryMiB: number | null }[];
  /** GPU instance profiles of this board from the facts table (nvidia-smi lists them only as a table). */
  profiles: readonly MigProfile[] | null;
}

function gpus(host: Host): PciFunction[] {
  return listAddresses(host).map((a) => [a, readClass(host, a)] as const).filter(([, c]) => isGpuClass(c)).map(([a, c]) => readFunction(host, a, c));
}

export function readVgpuDevices(host: Host): VgpuDevice[] {
  const all = gpus(host);
  const bus = listIfReadable(host, paths.mdevBus);
  const instances = bus?.length ? readMdevInstances(host) : [];
  const out: VgpuDevice[] = [];
  for (const g of all.filter((x) => !x.physfn)) {
    const vfAddrs = readVirtfns(host, g.address);
    const vfs = vfAddrs.map((address, index) => ({ index, address, driver: all.find((x) => x.address === address)?.driver ?? null }));
    const vendor = g.vendorId === '10de' && vfs.length ? readVendorVfio(host, vfs) : null;
    const base = { address: g.address, vendorId: g.vendorId, deviceId: g.deviceId };
    if (vendor) {
      const names = new Map(vendor.flatMap((v) => v.creatable.map((t) => [t.id, t.name] as const)));
      out.push({
        ...base, mechanism: 'vendor-vfio',
        parents: vendor.map((v) => v.address),
        types: vendorVfioOffers(vendor).map((t) => ({ ...t, parent: g.address })),
        vfs: vendor.map((v) => ({ ...v, currentName: v.current ? names.get(v.current) ?? null : null })),
        instances: [],
      });
      continue;
    }
    const parents = readMdevParents(host, [g.address, ...vfAddrs], bus);
    if (!parents.length) continue;
    const typeName = (parent: string, type: string | null) => parents.find((p) => p.parent === parent)?.types.find((t) => t.id === type)?.name ?? null;
    out.push({
      ...base, mechanism: 'mdev',
      parents: parents.map((p) => p.parent),
      types: mergeMdevOffers(parents, g.address),
      vfs: [],
      instances: instances.filter((i) => i.parent !== null && parents.some((p) => p.parent === i.parent))
        .map((i) => ({ uuid: i.uuid, parent: i.parent!, type: i.type, typeName: typeName(i.parent!, i.type) })),
    });
  }
  return out;
}

/** NVIDIA GPUs on nvidia whose family has MIG: the ones nvidia-smi is asked about. */
export function migCandidates(host: Host): PciFunction[] {
  return gpus(host).filter((g) => !g.physfn && g.vendorId === '10de' && g.driver === 'nvidia' && rowsFor(g.vendorId, g.deviceId).some((r) => r.mechanism === 'mig' && r.supported));
}

function layout(address: string, current: MigMode, pending: MigMode, devices: MigDevice[], profiles: MigLayout['profiles']): MigLayout {
  const gis = new Map<number, MigLayout['gpuInstances'][number]>();
  for (const d of devices) {
    const gi = gis.get(d.gpuInstanceId) ?? { id: d.gpuInstanceId, computeInstances: [], multiprocessors: d.multiprocessors, memoryMiB: d.memoryMiB };
    gi.computeInstances.push(d.computeInstanceId);
    gis.set(d.gpuInstanceId, gi);
  }
  return { address, known: true, reason: null, current, pending, gpuInstances: [...gis.values()].sort((a, b) => a.id - b.id), profiles };
}

export async function readMigLayouts(host: Host, exec: Exec, only?: string): Promise<MigLayout[]> {
  const candidates = migCandidates(host).filter((g) => !only || g.address === only);
  if (!candidates.length) return [];
  const report = await readMig(exec);
  return candidates.map(({ address, vendorId, deviceId }) => {
    const profiles = rowFor(vendorId, deviceId, 'mig')?.migProfiles ?? null;
    const unknown = (reason: string): MigLayout => ({ address, known: false, reason, current: null, pending: null, gpuInstances: [], profiles });
    if (!report.known) return unknown(report.reason);
    const g = report.gpus.find((x) => x.address === address);
    if (!g) return unknown('nvidia-smi does not list this GPU');
    return layout(address, g.current, g.pending, g.devices, profiles);
  });
}
