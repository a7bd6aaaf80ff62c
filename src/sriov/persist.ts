// VF counts that survive a reboot. Generic and Intel PFs: a udev rule that, when the PF's
// driver binds (the only moment sriov_numvfs can work), turns autoprobe off if the VFs go to
// vfio-pci and writes the count; each VF then gets driver_override as it appears. AMD GIM: its
// vf_num module option. NVIDIA: a boot unit that runs sriov-manage.
import { paths } from '../host/paths.js';
import type { Host } from '../host/host.js';
import type { Step } from '../mutate/steps.js';
import type { SriovRecord } from '../state.js';
import { checkAddress, checkInt, checkOneOf } from '../validate.js';

const HEADER = '# Written by gpuvirt (gpuvirt sriov enable --persist); `gpuvirt sriov disable --persist` removes it.\n';

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

function nvidiaUnit(pfs: readonly PersistedPf[]): string {
  for (const p of pfs) checkPf(p, paths.sriovPersist.nvidiaUnit);
  return [
    HEADER.trimEnd(),
    '[Unit]',
    'Description=Enable SR-IOV virtual functions on NVIDIA GPUs (gpuvirt)',
    'After=nvidia-vgpud.service nvidia-vgpu-mgr.service',
    '',
    '[Service]',
    'Type=oneshot',
    ...pfs.map((p) => `ExecStart=${paths.nvidiaSriovManage} -e ${p.pf}`),
    'RemainAfterExit=yes',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** Steps that make gpuvirt's SR-IOV boot files match `pfs` (files no longer needed are removed). */
export function planSriovPersist(host: Host, pfs: readonly PersistedPf[]): Step[] {
  const sorted = [...pfs].sort((a, b) => (a.pf < b.pf ? -1 : 1));
  const sysfsPfs = sorted.filter((p) => p.adapter === 'generic' || p.adapter === 'intel');
  const gim = sorted.filter((p) => p.adapter === 'amd-gim');
  const nvidia = sorted.filter((p) => p.adapter === 'nvidia');
  const wanted: [string, string | null][] = [
    [paths.sriovPersist.udevRule, sysfsPfs.length ? `${HEADER}${sysfsPfs.flatMap(pfRules).join('\n')}\n` : null],
    // GIM takes one vf_num per GPU, in the order it enumerates them (by address).
    [paths.sriovPersist.gimOptions, gim.length ? `${HEADER}options gim vf_num=${gim.map((p) => (checkPf(p, paths.sriovPersist.gimOptions), p.numVfs)).join(',')}\n` : null],
    [paths.sriovPersist.nvidiaUnit, nvidia.length ? nvidiaUnit(nvidia) : null],
  ];
  const steps: Step[] = [];
  const unit = paths.sriovPersist.nvidiaUnit;
  const unitName = 'gpuvirt-nvidia-sriov.service';
  for (const [path, content] of wanted) {
    const now = host.readText(path);
    if (content === null && now !== null) {
      if (path === unit) steps.push({ kind: 'exec', argv: ['systemctl', 'disable', unitName], title: 'stop running sriov-manage at boot' });
      steps.push({ kind: 'remove-file', path, title: `remove ${path}` });
    }
    if (content !== null && now !== content) steps.push({ kind: 'file', path, content, title: `write ${path}` });
  }
  if (steps.some((s) => 'path' in s && s.path === unit)) {
    steps.push({ kind: 'exec', argv: ['systemctl', 'daemon-reload'], title: 'reload systemd units' });
    if (nvidia.length) steps.push({ kind: 'exec', argv: ['systemctl', 'enable', unitName], title: 'run sriov-manage at every boot' });
  }
  return steps;
}
