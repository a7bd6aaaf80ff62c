// Whether this host can give a VM what its profile asks besides devices: the host CPUs it is
// pinned to, and the hugepages its memory is backed by. Read once with the inventory
// (Documentation/ABI/stable/sysfs-devices-system-cpu "online"; admin-guide/mm/hugetlbpage.rst:
// /sys/kernel/mm/hugepages/hugepages-<size>kB/{nr_hugepages,free_hugepages}); judged purely.
import { type Host, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { problem, type Problem } from './problems.js';
import { memoryMiB } from './derived.js';
import type { Profile } from './schema.js';

export interface HostResources {
  /** The host's online CPUs; null when the host does not say. */
  cpus: number[] | null;
  /** Hugepage pools by page size in KiB; null when the host shows none (no hugetlbfs support, or a snapshot without them). */
  hugepages: Record<number, { total: number; free: number }> | null;
}

/** "0-3,8,10-11" (the kernel's cpulist format) as CPU numbers. */
export function parseCpuList(text: string): number[] {
  return text.trim().split(',').filter(Boolean).flatMap((part) => {
    const [a, b] = part.split('-').map(Number);
    return b === undefined ? [a!] : Array.from({ length: b - a! + 1 }, (_, i) => a! + i);
  });
}

export function readHostResources(host: Host): HostResources {
  // Only the kernel's own list: /proc/cpuinfo of a trimmed capture may show fewer CPUs than the host has.
  const online = readAttr(host, paths.cpuOnline);
  const cpus = online ? parseCpuList(online) : null;
  let hugepages: HostResources['hugepages'] = null;
  for (const dir of host.list(paths.hugepagesDir) ?? []) {
    const size = /^hugepages-(\d+)kB$/.exec(dir)?.[1];
    if (!size) continue;
    const n = (attr: string) => Number(readAttr(host, `${paths.hugepagesDir}/${dir}/${attr}`) ?? 0) || 0;
    (hugepages ??= {})[Number(size)] = { total: n('nr_hugepages'), free: n('free_hugepages') };
  }
  return { cpus, hugepages };
}

const ranges = (cpus: readonly number[]) => {
  const sorted = [...cpus].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    let j = i;
    while (sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j;
  }
  return out.join(',');
};

export function hostFit(profile: Profile, res: HostResources): Problem[] {
  const out: Problem[] = [];
  const pinning = profile.cpu?.pinning;
  if (pinning && res.cpus) {
    const missing = [...new Set(pinning.filter((c) => !res.cpus!.includes(c)))];
    if (missing.length) out.push(problem('error', ['cpu', 'pinning'], `host CPU ${ranges(missing)} ${missing.length > 1 ? 'are' : 'is'} not on this host (it has CPUs ${ranges(res.cpus)})`));
  }
  if (profile.hugepages && res.hugepages) {
    const sizeKiB = profile.hugepages === '1G' ? 1048576 : 2048;
    const label = profile.hugepages === '1G' ? '1 GiB' : '2 MiB';
    const pool = res.hugepages[sizeKiB];
    const need = Math.ceil((memoryMiB(profile) * 1024) / sizeKiB);
    const param = profile.hugepages === '1G' ? `default_hugepagesz=1G hugepagesz=1G hugepages=${need}` : `hugepages=${need}`;
    if (!pool) out.push(problem('error', ['hugepages'], `this host has no ${label} hugepages (no hugepages-${sizeKiB}kB pool${sizeKiB === 1048576 ? ': the CPU needs the pdpe1gb flag' : ''})`));
    else if (pool.total < need) out.push(problem('error', ['hugepages'], `the VM needs ${need} ${label} hugepages and this host has ${pool.total} (${pool.free} free): reserve them, e.g. \`${param}\` on the kernel command line`));
    else if (pool.free < need) out.push(problem('warning', ['hugepages'], `the VM needs ${need} ${label} hugepages; ${pool.free} of the host's ${pool.total} are free now`));
  }
  return out;
}
