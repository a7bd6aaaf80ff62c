// The per-GPU sharing verdict: a pure function of one GPU's facts. For each strategy it says
// whether this host can use it now, after a named change, not on this hardware, or that
// gpuvirt cannot tell. Only what the host shows, or a family's row in families.ts, decides;
// a device the table does not know is never called impossible.
import { type FamilyRow, kernelName } from './families.js';
import type { IntelFacts, XeProfile } from './intel.js';
import type { MigDevice, MigMode } from './mig.js';
import type { NvidiaVf } from './nvidia.js';

export type Strategy = 'passthrough' | 'sriov' | 'vendor-vfio' | 'mdev' | 'mig' | 'virtio-gpu';
export type Availability = 'now' | 'after' | 'impossible' | 'unknown';
export type ChangeKind = 'firmware' | 'kernel-param' | 'module' | 'driver' | 'command' | 'hardware' | 'kernel';

export interface Change {
  kind: ChangeKind;
  what: string;
  /** The gpuvirt (or vendor) command that makes the change, when there is one. */
  command: string | null;
}

export interface StrategyVerdict {
  strategy: Strategy;
  status: Availability;
  summary: string;
  /** What to run to use it now (status now), e.g. the VF count to enable. */
  command: string | null;
  /** What must change first (status after). */
  changes: Change[];
  /** Where the hardware fact comes from (a families.ts row), when one decided. */
  source: string | null;
}

export interface TypeOffer {
  id: string;
  name: string | null;
  /** Free VFs (vendor VFIO) or available_instances (mdev) that can still take it. */
  available: number | null;
  migBacked: boolean;
}

export interface GpuSharingFacts {
  address: string;
  vendorId: string;
  classId: string;
  driver: string | null;
  physfn: string | null;
  isolation: 'clean' | 'shared' | 'unknown';
  host: {
    iommuActive: boolean;
    /** The firmware's IOMMU table: present, absent, or not known (no root). */
    firmwareIommu: 'present' | 'absent' | 'unknown';
    cpuVendor: string;
    vfioAvailable: boolean;
    kernel: number | null;
    /** Kernel parameter names on the running command line (`i915.max_vfs`). */
    cmdline: string[];
    sriovManage: boolean;
  };
  sriov: { totalVfs: number; numVfs: number; driversAutoprobe: boolean | null; vfDrivers: (string | null)[] } | null;
  rows: FamilyRow[];
  mdevTypes: TypeOffer[];
  vendorVfio: NvidiaVf[] | null;
  /** null: not asked (not an NVIDIA GPU on nvidia, or no MIG in its family). */
  mig: { known: true; current: MigMode; pending: MigMode; devices: MigDevice[] } | { known: false; reason: string } | null;
  intel: IntelFacts | null;
  xeProfiles: XeProfile[] | null;
}

const v = (strategy: Strategy, status: Availability, summary: string, extra: Partial<Pick<StrategyVerdict, 'command' | 'changes' | 'source'>> = {}): StrategyVerdict => ({
  strategy, status, summary, command: extra.command ?? null, changes: extra.changes ?? [], source: extra.source ?? null,
});
const change = (kind: ChangeKind, what: string, command: string | null = null): Change => ({ kind, what, command });
const row = (f: GpuSharingFacts, m: FamilyRow['mechanism']) => f.rows.find((r) => r.mechanism === m) ?? null;

function iommuChanges(f: GpuSharingFacts): Change[] {
  if (f.host.iommuActive) return [];
  if (f.host.firmwareIommu === 'absent') return [change('firmware', 'enable the IOMMU (Intel VT-d / AMD IOMMU) in the firmware setup')];
  if (f.host.cpuVendor === 'intel') return [change('kernel-param', 'intel_iommu=on', 'gpuvirt setup --iommu')];
  return [change('firmware', 'an active IOMMU (see doctor\'s iommu.enabled check)')];
}

function passthrough(f: GpuSharingFacts): StrategyVerdict {
  const what = f.physfn ? `this VF alone (PF ${f.physfn})` : 'the whole GPU';
  const changes = iommuChanges(f);
  if (!f.host.vfioAvailable) changes.push(change('module', 'the vfio-pci module for the running kernel', 'gpuvirt setup --vfio-modules'));
  if (f.host.iommuActive && f.isolation === 'shared') {
    changes.push(change('hardware', 'a slot with its own IOMMU group (or pass the whole group with `gpuvirt passthrough --force`)'));
  }
  if (changes.length) return v('passthrough', 'after', `${what} to one VM, once the host is ready`, { changes });
  return v('passthrough', 'now', `${what} to one VM`, { command: `gpuvirt passthrough ${f.address}` });
}

function intelSriov(f: GpuSharingFacts, r: FamilyRow | null, total: number): StrategyVerdict | null {
  const intel = f.intel;
  if (!intel || f.vendorId !== '8086') return null;
  if (f.driver === 'xe') {
    if (total > 0) return null;
    return v('sriov', 'after', 'xe offers no VFs yet (its max_vfs is 0)', { changes: [change('kernel-param', 'xe.max_vfs=N (or xe\'s configfs max_vfs)', 'gpuvirt setup --param xe.max_vfs=N')], source: r?.source ?? null });
  }
  if (f.driver !== 'i915' && f.driver !== null) return null;
  const mod = intel.modules.find((m) => m.name === 'i915')!;
  const changes: Change[] = [];
  if (mod.origin !== 'dkms') {
    const unbuilt = intel.dkms.find((p) => !p.builtForKernel);
    if (unbuilt) changes.push(change('module', `${unbuilt.name} ${unbuilt.version} is registered with DKMS but not built for the running kernel (a kernel update broke or skipped the build)`, 'dkms autoinstall'));
    else changes.push(change('module', 'the i915-sriov-dkms module: upstream i915 cannot create VFs'));
    if (mod.loaded && mod.params && !mod.params.includes('max_vfs') && f.host.cmdline.includes('i915.max_vfs')) {
      changes.push(change('module', 'the running i915 is the stock module, which ignores i915.max_vfs ("unknown parameter \'max_vfs\'" in the kernel log)'));
    }
  } else if (!mod.loaded && intel.secureBoot === true && mod.signed !== true) {
    changes.push(change('module', `Secure Boot refuses the ${mod.signed === false ? 'unsigned' : 'DKMS-built'} module ${mod.file}: sign it with a key enrolled in MOK, or turn Secure Boot off`, 'mokutil --import /var/lib/dkms/mok.pub'));
  }
  const missing = (r?.params ?? ['i915.enable_guc=3', 'i915.max_vfs=7']).filter((p) => !f.host.cmdline.includes(p.split('=')[0]!));
  if (missing.length && (mod.origin !== 'dkms' || total === 0)) {
    changes.push(change('kernel-param', missing.join(' '), `gpuvirt setup ${missing.map((p) => `--param ${p}`).join(' ')}`));
  }
  if (!changes.length) return null;
  return v('sriov', 'after', `SR-IOV on this ${r?.label ?? 'Intel GPU'} needs the i915 SR-IOV module`, { changes, source: r?.source ?? null });
}

function sriovNow(f: GpuSharingFacts, r: FamilyRow | null, total: number): StrategyVerdict {
  const s = f.sriov!;
  // sriov-manage enables every VF of an NVIDIA GPU at once.
  const legal = r?.legalVfs ?? (f.vendorId === '10de' ? [total] : undefined);
  const counts = legal ? legal.join(' or ') : `1 to ${total}`;
  const enabled = s.numVfs ? `${s.numVfs} of ${total} VFs enabled` : `up to ${total} VFs, none enabled`;
  // NVIDIA VFs stay on nvidia by design (it serves their vGPU); anywhere else a bound VF is the host's.
  const offHost = s.vfDrivers.filter((d) => d !== null && d !== 'vfio-pci' && d !== 'pci-stub' && !(f.vendorId === '10de' && d === 'nvidia')).length;
  const note = offHost ? `; ${offHost} VF(s) are on a host driver` : s.numVfs && s.driversAutoprobe === false ? '; VFs kept off host drivers (autoprobe off)' : '';
  const mod = f.vendorId === '8086' ? f.intel?.modules.find((m) => m.name === f.driver) : undefined;
  const origin = mod?.loaded ? `; ${mod.name} ${mod.origin === 'dkms' ? 'from DKMS' : mod.origin}${mod.version ? ` ${mod.version}` : ''}${f.intel?.secureBoot ? `, Secure Boot on${mod.signed === true ? ', module signed' : ''}` : ''}` : '';
  const profiles = f.xeProfiles ? `; sriov_admin: ${f.xeProfiles.filter((p) => p.fn !== 'pf').length} VF profiles` : '';
  return v('sriov', 'now', `${enabled} (legal counts: ${counts})${note}${origin}${profiles}`, {
    command: s.numVfs ? null : `gpuvirt sriov enable ${f.address} --vfs ${legal ? legal[0] : total}`, source: r?.source ?? null,
  });
}

function sriov(f: GpuSharingFacts): StrategyVerdict | null {
  if (f.physfn) return null;
  const r = row(f, 'sriov');
  if (r && !r.supported && !f.sriov?.totalVfs) return v('sriov', 'impossible', `${r.label}: no SR-IOV`, { source: r.source });
  if (!f.sriov) {
    const intel = r ? intelSriov(f, r, 0) : null;
    if (intel) return { ...intel, summary: `${intel.summary} (no SR-IOV capability shows yet)` };
    if (r) return v('sriov', 'after', 'the SR-IOV capability is hidden', { changes: [change('firmware', 'enable SR-IOV in the firmware setup')], source: r.source });
    return v('sriov', 'impossible', 'the device has no SR-IOV capability');
  }
  const total = f.sriov.totalVfs;
  const intel = intelSriov(f, r, total);
  if (intel) return { ...intel, changes: [...iommuChanges(f), ...intel.changes] };
  const changes = iommuChanges(f);
  if (f.vendorId === '10de' && (f.driver !== 'nvidia' || !f.host.sriovManage)) {
    changes.push(change('driver', `${r?.driverBranch ?? 'NVIDIA vGPU host driver'} (it provides /usr/lib/nvidia/sriov-manage)`));
  } else if (f.vendorId === '1002' && r?.driver === 'gim' && f.driver !== 'gim') {
    changes.push(change('driver', `${r.driverBranch}: gim creates the VFs when it loads (vf_num=${(r.legalVfs ?? [1]).join('|')})`));
  } else if (!f.driver) {
    changes.push(change('driver', 'a PF driver that configures SR-IOV'));
  }
  if (changes.length) return v('sriov', 'after', `up to ${total} VFs once the host is ready`, { changes, source: r?.source ?? null });
  if (total === 0) return v('sriov', 'after', 'the PF driver offers no VFs', { changes: [change('driver', 'a PF driver configuration that offers VFs')], source: r?.source ?? null });
  return sriovNow(f, r, total);
}

/** Types offered on the free VFs, each with how many free VFs still offer it. */
export function vendorVfioOffers(vfs: readonly NvidiaVf[]): TypeOffer[] {
  const offers = new Map<string, TypeOffer>();
  for (const vf of vfs) {
    if (vf.current) continue;
    for (const t of vf.creatable) {
      const o = offers.get(t.id) ?? { id: t.id, name: t.name, available: 0, migBacked: t.migBacked };
      o.available = (o.available ?? 0) + 1;
      offers.set(t.id, o);
    }
  }
  return [...offers.values()];
}

function vendorVfio(f: GpuSharingFacts): StrategyVerdict | null {
  if (f.vendorId !== '10de' || f.physfn) return null;
  const r = row(f, 'vendor-vfio');
  if (f.vendorVfio) {
    const used = f.vendorVfio.filter((x) => x.current).length;
    const offers = vendorVfioOffers(f.vendorVfio);
    return v('vendor-vfio', 'now', `vGPU types creatable: ${offers.length}; free VFs: ${f.vendorVfio.length - used}; VFs holding a vGPU: ${used}`, { command: `gpuvirt vgpu types ${f.address}`, source: r?.source ?? null });
  }
  if (!r) return v('vendor-vfio', 'unknown', 'not in gpuvirt\'s table of NVIDIA vGPU boards');
  if (!r.supported) return v('vendor-vfio', 'impossible', `${r.label}: no SR-IOV VFs to place a vGPU on`, { source: r.source });
  const k = f.host.kernel;
  if (k !== null && r.kernelMin && k < r.kernelMin) {
    return v('vendor-vfio', 'after', `vendor-specific VFIO needs kernel ${kernelName(r.kernelMin)}+ (this is ${kernelName(k)}; use mdev here)`, { changes: [change('kernel', `kernel ${kernelName(r.kernelMin)} or later with ${r.driverBranch}`)], source: r.source });
  }
  const changes = iommuChanges(f);
  if (f.driver !== 'nvidia' || !f.host.sriovManage) changes.push(change('driver', r.driverBranch ?? 'NVIDIA vGPU host driver'));
  if (!f.sriov?.numVfs) changes.push(change('command', `enable the VFs (sriov-manage -e ${f.address})`, `gpuvirt sriov enable ${f.address} --vfs ${f.sriov?.totalVfs ?? 'N'}`));
  else changes.push(change('driver', `${r.driverBranch ?? 'a vGPU 17+ host driver'}: the VFs have no nvidia/creatable_vgpu_types`));
  return v('vendor-vfio', 'after', 'vGPU types on SR-IOV VFs (nvidia/current_vgpu_type)', { changes, source: r.source });
}

function mdev(f: GpuSharingFacts): StrategyVerdict | null {
  if (f.physfn && !f.mdevTypes.length) return null;
  if (f.mdevTypes.length) {
    const free = f.mdevTypes.filter((t) => (t.available ?? 0) > 0).length;
    return v('mdev', 'now', `${f.mdevTypes.length} mdev types, ${free} with instances available`, { command: `gpuvirt vgpu types ${f.address}` });
  }
  if (f.vendorId === '8086') {
    const g = row(f, 'gvt-g');
    if (!g) return f.classId.startsWith('03') ? v('mdev', 'unknown', 'GVT-g support of this Intel GPU is not in gpuvirt\'s table') : null;
    if (!g.supported) return v('mdev', 'impossible', `${g.label}: no GVT-g`, { source: g.source });
    return v('mdev', 'after', 'Intel GVT-g mediated devices', { changes: [change('kernel-param', 'i915.enable_gvt=1', 'gpuvirt setup --param i915.enable_gvt=1'), change('module', 'kvmgt loaded at boot')], source: g.source });
  }
  if (f.vendorId !== '10de') return null;
  const r = row(f, 'mdev');
  if (!r) return v('mdev', 'unknown', 'not in gpuvirt\'s table of NVIDIA vGPU boards');
  const k = f.host.kernel;
  if (r.kernelBelow && k !== null && k >= r.kernelBelow) {
    return v('mdev', 'after', `NVIDIA uses vendor-specific VFIO instead of mdev from kernel ${kernelName(r.kernelBelow)} on this board`, { changes: [change('kernel', `a kernel older than ${kernelName(r.kernelBelow)} with ${r.driverBranch}`)], source: r.source });
  }
  const changes = iommuChanges(f);
  changes.push(change('driver', r.driverBranch ?? 'NVIDIA vGPU host driver'));
  if (f.sriov && !f.sriov.numVfs) changes.push(change('command', 'enable the VFs; each VF is an mdev parent', `gpuvirt sriov enable ${f.address} --vfs ${f.sriov.totalVfs}`));
  return v('mdev', 'after', 'NVIDIA vGPU mediated devices', { changes, source: r.source });
}

function mig(f: GpuSharingFacts): StrategyVerdict | null {
  if (f.vendorId !== '10de' || f.physfn) return null;
  const r = row(f, 'mig');
  const enabled = f.mig?.known === true && f.mig.current === 'Enabled';
  if (r && !r.supported && !enabled) return v('mig', 'impossible', `${r.label}: no MIG`, { source: r.source });
  if (!f.mig) return r ? v('mig', 'unknown', `MIG state needs the nvidia driver (now ${f.driver ?? 'none'}) and nvidia-smi`, { source: r.source }) : null;
  if (!f.mig.known) return v('mig', 'unknown', f.mig.reason, { source: r?.source ?? null });
  const m = f.mig;
  if (m.current === 'N/A') return v('mig', 'impossible', 'the driver reports MIG as not supported on this GPU (N/A)');
  const idle = change('command', 'MIG mode on, with the GPU idle, then a GPU reset', `nvidia-smi -i ${f.address} -mig 1`);
  if (m.current === 'Enabled') {
    const gis = new Set(m.devices.map((d) => d.gpuInstanceId)).size;
    const pending = m.pending === 'Disabled' ? '; MIG mode is set to turn off at the next GPU reset' : '';
    return v('mig', 'now', `MIG on: ${gis} GPU instances, ${m.devices.length} compute instances${pending}`, { command: `gpuvirt vgpu status ${f.address}`, source: r?.source ?? null });
  }
  if (m.pending === 'Enabled') return v('mig', 'after', 'MIG mode is pending: it turns on at the next GPU reset', { changes: [change('command', 'reset the GPU (or reboot) with no process using it', `nvidia-smi -i ${f.address} -r`)], source: r?.source ?? null });
  return v('mig', 'after', 'MIG mode is off', { changes: [idle], source: r?.source ?? null });
}

/** Drivers that render for the host (what virglrenderer/venus need on the host side). */
const RENDER_DRIVERS = new Set(['i915', 'xe', 'amdgpu', 'radeon', 'nouveau', 'nvidia']);

function virtioGpu(f: GpuSharingFacts): StrategyVerdict | null {
  if (f.physfn) return null;
  if (f.classId.startsWith('12')) return v('virtio-gpu', 'impossible', 'a compute accelerator has no graphics engine to render for virtio-gpu guests');
  if (f.driver && RENDER_DRIVERS.has(f.driver)) {
    if (f.driver === 'nvidia' && (f.vendorVfio || f.mdevTypes.length || f.host.sriovManage)) {
      return v('virtio-gpu', 'unknown', 'the NVIDIA vGPU host driver is not meant to render for the host; virgl/venus need a regular driver');
    }
    return v('virtio-gpu', 'now', `the host renders for virtio-gpu guests (QEMU virtio-gpu-gl with virgl, or venus) on ${f.driver}`);
  }
  if (f.driver === 'vfio-pci' || f.driver === 'pci-stub') return v('virtio-gpu', 'after', 'the GPU is reserved for passthrough', { changes: [change('command', 'give the GPU back to its host driver', `gpuvirt release ${f.address}`)] });
  if (!f.driver) return v('virtio-gpu', 'after', 'no host driver renders on this GPU', { changes: [change('driver', 'a host graphics driver (i915, xe, amdgpu, nouveau or nvidia)')] });
  return v('virtio-gpu', 'impossible', `${f.driver} is a display-only driver; 2D virtio-gpu needs no host GPU at all`);
}

export function judgeSharing(f: GpuSharingFacts): StrategyVerdict[] {
  return [passthrough(f), sriov(f), vendorVfio(f), mdev(f), mig(f), virtioGpu(f)].filter((x): x is StrategyVerdict => x !== null);
}
