// What the host is doing with a PCI device right now: filesystems and swap on its disks,
// network interfaces with routes or addresses, processes holding its device files open.
// Passthrough refuses to take a device the host depends on. Best effort, all from sysfs/procfs.
import { type Host, linkName, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';

export interface Mount {
  source: string;
  mountpoint: string;
}

export interface NetUse {
  name: string;
  defaultRoute: boolean;
  addressed: boolean;
}

export interface Holder {
  pid: number;
  comm: string;
  file: string;
}

export interface DeviceUsage {
  address: string;
  blockDevices: string[];
  mounts: Mount[];
  swaps: string[];
  net: NetUse[];
  holders: Holder[];
}

const ADDRESS_IN_PATH = /[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]/g;

/** Block device names (disks, partitions, and dm/md devices stacked on them) that sit on `addr`. */
function blockDevicesOf(host: Host, addr: string): string[] {
  const found = new Set<string>();
  const visit = (name: string, dir: string) => {
    if (found.has(name)) return;
    found.add(name);
    for (const holder of host.list(`${dir}/holders`) ?? []) visit(holder, `${paths.sysBlock}/${holder}`);
  };
  for (const disk of host.list(paths.sysBlock) ?? []) {
    const target = host.readLink(`${paths.sysBlock}/${disk}`) ?? '';
    if (!(target.match(ADDRESS_IN_PATH) ?? ([] as string[])).includes(addr)) continue;
    visit(disk, `${paths.sysBlock}/${disk}`);
    for (const part of host.list(`${paths.sysBlock}/${disk}`) ?? []) {
      if (part.startsWith(disk) && part !== disk) visit(part, `${paths.sysBlock}/${disk}/${part}`);
    }
  }
  return [...found];
}

/** The /dev names a block device is mounted or swapped by: /dev/nvme0n1p2, /dev/dm-0, /dev/mapper/<name>. */
function devNodes(host: Host, name: string): string[] {
  const nodes = [`/dev/${name}`];
  const dmName = readAttr(host, `${paths.sysBlock}/${name}/dm/name`);
  if (dmName) nodes.push(`/dev/mapper/${dmName}`);
  return nodes;
}

function readMounts(host: Host): Mount[] {
  return (readAttr(host, paths.procMounts) ?? '')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length >= 2)
    .map((f) => ({ source: f[0]!, mountpoint: (f[1] ?? '').replace(/\\040/g, ' ') }));
}

function netUse(host: Host, addr: string): NetUse[] {
  const route = readAttr(host, paths.procNetRoute) ?? '';
  const route6 = readAttr(host, paths.procNetIpv6Route) ?? '';
  const inet6 = readAttr(host, paths.procNetIfInet6) ?? '';
  const uses: NetUse[] = [];
  for (const iface of host.list(paths.sysClassNet) ?? []) {
    if (linkName(host, `${paths.sysClassNet}/${iface}/device`) !== addr) continue;
    const v4 = route.split('\n').slice(1).map((l) => l.trim().split(/\s+/)).filter((f) => f[0] === iface);
    const v6 = route6.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[9] === iface);
    const defaultRoute = v4.some((f) => f[1] === '00000000' && f[7] === '00000000') || v6.some((f) => /^0{32}$/.test(f[0] ?? '') && f[1] === '00');
    // A connected route means an IPv4 address; if_inet6 scope 20 is link-local only.
    const addressed = v4.length > 0 || inet6.split('\n').some((l) => {
      const f = l.trim().split(/\s+/);
      return f[5] === iface && f[3] !== '20';
    });
    uses.push({ name: iface, defaultRoute, addressed });
  }
  return uses;
}

/** Device files through which processes use `addr`: DRM nodes, /dev/nvidiaN, its VFIO group. */
export function deviceFiles(host: Host, addr: string): string[] {
  const files = (host.list(paths.pciAttr(addr, 'drm')) ?? []).filter((n) => /^(card|renderD)\d+$/.test(n)).map((n) => `/dev/dri/${n}`);
  const minor = /Device Minor:\s*(\d+)/.exec(readAttr(host, paths.nvidiaGpuInfo(addr)) ?? '')?.[1];
  if (minor !== undefined) files.push(`/dev/nvidia${minor}`);
  const group = linkName(host, paths.pciAttr(addr, 'iommu_group'));
  if (group !== null && linkName(host, paths.pciAttr(addr, 'driver')) === 'vfio-pci') files.push(paths.devVfioGroup(Number(group)));
  return files;
}

/** Processes with any of `files` open, from /proc/<pid>/fd (complete only when run as root). */
export function findHolders(host: Host, files: readonly string[]): Holder[] {
  if (!files.length) return [];
  const wanted = new Set(files);
  return findHoldersWhere(host, (target) => wanted.has(target));
}

/** Processes with an open file whose path `wanted` accepts (NVIDIA's /dev/nvidia* nodes). */
export function findHoldersWhere(host: Host, wanted: (target: string) => boolean): Holder[] {
  const holders: Holder[] = [];
  for (const pid of host.list(paths.procDir) ?? []) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[] | null = null;
    try {
      fds = host.list(`${paths.procPid(pid)}/fd`);
    } catch {
      continue; // another user's process: unreadable without root
    }
    for (const fd of fds ?? []) {
      let target: string | null = null;
      try {
        target = host.readLink(`${paths.procPid(pid)}/fd/${fd}`);
      } catch {
        continue;
      }
      if (target !== null && wanted(target)) {
        holders.push({ pid: Number(pid), comm: readAttr(host, `${paths.procPid(pid)}/comm`) ?? '?', file: target });
      }
    }
  }
  return holders;
}

/** Whether the host shows its processes (/proc/<pid>): an unpacked snapshot shows none. */
export function processesVisible(host: Host): boolean {
  return (host.list(paths.procDir) ?? []).some((n) => /^\d+$/.test(n));
}

/**
 * What this host does not show of the facts the usage refusals need, and so which refusals
 * could not be checked: a warning, or null when everything is there. An unpacked snapshot
 * holds no processes, mounts or network state, so a dry run on it checks none of them.
 */
export function usageGaps(host: Host, only: 'all' | 'processes' = 'all'): string | null {
  const gaps: [boolean, string, string][] = [
    [!processesVisible(host), 'no processes (/proc/<pid>)', 'device files held open (DRM clients, nvidia-persistenced, a VM holding its VFIO group)'],
  ];
  if (only === 'all') {
    gaps.push(
      [readAttr(host, paths.procMounts) === null, 'no /proc/mounts', 'mounted filesystems on the devices (the root filesystem included)'],
      [readAttr(host, paths.procSwaps) === null, 'no /proc/swaps', 'swap on the devices'],
      [readAttr(host, paths.procNetRoute) === null, 'no /proc/net/route', 'network interfaces with the default route or an address'],
    );
  }
  const missing = gaps.filter(([gone]) => gone);
  if (!missing.length) return null;
  return `this host shows ${missing.map(([, what]) => what).join(', ')} (an unpacked snapshot?): not checked: ${missing.map(([, , refusal]) => refusal).join('; ')}`;
}

export function readUsage(host: Host, addresses: readonly string[]): DeviceUsage[] {
  const mounts = readMounts(host);
  const swaps = (readAttr(host, paths.procSwaps) ?? '').split('\n').slice(1).map((l) => l.split(/\s+/)[0] ?? '').filter(Boolean);
  return addresses.map((address) => {
    const blockDevices = blockDevicesOf(host, address);
    const nodes = new Set(blockDevices.flatMap((b) => devNodes(host, b)));
    return {
      address,
      blockDevices,
      mounts: mounts.filter((m) => nodes.has(m.source)),
      swaps: swaps.filter((s) => nodes.has(s)),
      net: netUse(host, address),
      holders: findHolders(host, deviceFiles(host, address)),
    };
  });
}
