// The early files of VF counts kept at boot, generated from the boot record (host.yaml,
// src/hostconfig/record.ts). Generic and Intel PFs: a udev rule that, when the PF's driver
// binds (the only moment sriov_numvfs can work), turns autoprobe off if the VFs go to vfio-pci
// and writes the count; each VF then gets driver_override as it appears. AMD GIM: its vf_num
// module option, read when the module loads. NVIDIA PFs have no early file: sriov-manage needs
// the vGPU manager's services, so gpuvirt-host.service runs it (its own unit of earlier
// versions, gpuvirt-nvidia-sriov.service, is removed when found).
import { paths } from '../host/paths.js';
import { HOST_STATE } from '../hostconfig/boot.js';
import type { Host } from '../host/host.js';
import type { Step } from '../mutate/steps.js';
import type { SriovRecord } from '../state.js';
import { checkAddress, checkInt, checkOneOf } from '../validate.js';

const HEADER = `# Written by gpuvirt from its boot record ${HOST_STATE} (sriov enable --persist, host apply --persist); \`gpuvirt host unpersist\` removes it.\n`;

export interface PersistedPf extends Pick<SriovRecord, 'pf' | 'numVfs' | 'bind' | 'adapter'> {
  /** Addresses the VFs will have (from First VF Offset and VF Stride). */
  vfs: string[];
}

/** Every value of a record checked for the boot file it goes into (udev, modprobe.d, a unit). */
function checkPf(p: PersistedPf, file: string): void {
  checkAddress(p.pf, 'the PF address', file);
  checkInt(p.numVfs, `the VF count of ${p.pf}`, 0, 65535, file);
  checkOneOf(p.bind, `the VF driver of ${p.pf}`, ['vfio-pci', null] as const, file);
  p.vfs.forEach((vf) => checkAddress(vf, `a VF address of ${p.pf}`, file));
}

function pfRules(p: PersistedPf): string[] {
  checkPf(p, paths.sriovPersist.udevRule);
  const attrs = [p.bind ? 'ATTR{sriov_drivers_autoprobe}="0"' : null, `ATTR{sriov_numvfs}="${p.numVfs}"`].filter(Boolean).join(', ');
  const lines = [`# ${p.pf}: ${p.numVfs} VFs${p.bind ? ` on ${p.bind}` : ''}`, `ACTION=="bind", SUBSYSTEM=="pci", KERNEL=="${p.pf}", ${attrs}`];
  if (p.bind) {
    const probe = `modprobe ${p.bind}; echo %k > ${paths.pciDriversProbe}`;
    for (const vf of p.vfs) lines.push(`ACTION=="add", SUBSYSTEM=="pci", KERNEL=="${vf}", ATTR{driver_override}="${p.bind}", RUN+="/bin/sh -c '${probe}'"`);
  }
  return lines;
}

/** Steps that make gpuvirt's SR-IOV early files match `pfs` (files no longer needed are removed, the old sriov-manage unit too). */
export function planSriovPersist(host: Host, pfs: readonly PersistedPf[]): Step[] {
  const sorted = [...pfs].sort((a, b) => (a.pf < b.pf ? -1 : 1));
  const sysfsPfs = sorted.filter((p) => p.adapter === 'generic' || p.adapter === 'intel');
  const gim = sorted.filter((p) => p.adapter === 'amd-gim');
  const wanted: [string, string | null][] = [
    [paths.sriovPersist.udevRule, sysfsPfs.length ? `${HEADER}${sysfsPfs.flatMap(pfRules).join('\n')}\n` : null],
    // GIM takes one vf_num per GPU, in the order it enumerates them (by address).
    [paths.sriovPersist.gimOptions, gim.length ? `${HEADER}options gim vf_num=${gim.map((p) => (checkPf(p, paths.sriovPersist.gimOptions), p.numVfs)).join(',')}\n` : null],
  ];
  const steps: Step[] = [];
  for (const [path, content] of wanted) {
    const now = host.readText(path);
    if (content === null && now !== null) steps.push({ kind: 'remove-file', path, title: `remove ${path}` });
    if (content !== null && now !== content) steps.push({ kind: 'file', path, content, title: `write ${path}` });
  }
  steps.push(...removeLegacyUnit(host, paths.sriovPersist.nvidiaUnit, 'stop running sriov-manage from its own unit (gpuvirt-host.service does it)'));
  return steps;
}

/** An old per-command unit (sriov-manage, vGPU types): disabled, removed, systemd reloaded. */
export function removeLegacyUnit(host: Host, unit: string, title: string): Step[] {
  if (host.readText(unit) === null) return [];
  const name = unit.slice(unit.lastIndexOf('/') + 1);
  const wants = `/etc/systemd/system/multi-user.target.wants/${name}`;
  const steps: Step[] = [];
  if (host.readLink(wants) !== null) steps.push({ kind: 'exec', argv: ['systemctl', 'disable', name], title, undo: [{ kind: 'run', argv: ['systemctl', 'enable', name], title: `enable ${name} again` }] });
  steps.push(
    { kind: 'remove-file', path: unit, title: `remove ${unit}` },
    { kind: 'exec', argv: ['systemctl', 'daemon-reload'], title: 'reload systemd units', undo: [{ kind: 'run', argv: ['systemctl', 'daemon-reload'], title: 'reload systemd units', late: true }] },
  );
  return steps;
}
