// vGPU types that survive a reboot (NVIDIA vendor-specific VFIO): the VFs exist only once
// sriov-manage has run, and current_vgpu_type forgets its type with them, so a boot unit sets
// each persisted type again after the VFs are there. Each line leaves a VF that already shows
// its type alone (the driver refuses a type on a VF that has one), and the unit tries again on
// failure, a bounded number of times, rather than sleeping: a boot race is retried, not waited
// out (as stackhpc does for sriov-manage with Restart=on-failure). Same shape as the
// sriov-manage unit of src/sriov/persist.ts: a file, daemon-reload, enable (or disable, remove).
import type { Host } from '../host/host.js';
import type { Step } from '../mutate/steps.js';
import type { VgpuRecord } from '../state.js';
import { paths } from '../host/paths.js';
import { vgpuTypePath } from './paths.js';

export const VGPU_UNIT_NAME = 'gpuvirt-nvidia-vgpu.service';
export const VGPU_UNIT = `/etc/systemd/system/${VGPU_UNIT_NAME}`;

const ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

function setLine(r: VgpuRecord): string {
  // Addresses and ids are checked before they reach a shell line.
  if (!ADDRESS.test(r.vf) || !/^[1-9]\d*$/.test(r.type)) throw new Error(`not a VF and a vGPU type id: ${r.vf} ${r.type}`);
  const f = vgpuTypePath(r.vf);
  return `ExecStart=/bin/sh -c 'f=${f}; [ "$(cat $f)" = ${r.type} ] || echo ${r.type} > $f'`;
}

export function vgpuUnit(records: readonly VgpuRecord[]): string {
  const sorted = [...records].sort((a, b) => (a.vf < b.vf ? -1 : 1));
  return [
    '# Written by gpuvirt (gpuvirt vgpu create --persist); `gpuvirt vgpu remove --persist` removes it.',
    '[Unit]',
    'Description=Set the vGPU type of NVIDIA VFs again (gpuvirt)',
    `After=nvidia-vgpud.service nvidia-vgpu-mgr.service ${paths.sriovPersist.nvidiaUnit.split('/').pop()}`,
    'StartLimitIntervalSec=120',
    'StartLimitBurst=10',
    '',
    '[Service]',
    'Type=oneshot',
    ...sorted.map((r) => `# ${r.vf} (VF of ${r.pf}): ${r.typeName ?? 'type'} ${r.type}`),
    ...sorted.map(setLine),
    'RemainAfterExit=yes',
    'Restart=on-failure',
    'RestartSec=3',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** Steps that make the boot unit match `records` (removed, and disabled, when none is left). */
export function planVgpuPersist(host: Host, records: readonly VgpuRecord[]): Step[] {
  const now = host.readText(VGPU_UNIT);
  const content = records.length ? vgpuUnit(records) : null;
  if (content === now) return [];
  const reload: Step = { kind: 'exec', argv: ['systemctl', 'daemon-reload'], title: 'reload systemd units', undo: [{ kind: 'run', argv: ['systemctl', 'daemon-reload'], title: 'reload systemd units', late: true }] };
  const enable = ['systemctl', 'enable', VGPU_UNIT_NAME];
  const disable = ['systemctl', 'disable', VGPU_UNIT_NAME];
  if (content === null) {
    return [
      { kind: 'exec', argv: disable, title: 'stop setting vGPU types at boot', undo: [{ kind: 'run', argv: enable, title: `enable ${VGPU_UNIT_NAME} again` }] },
      { kind: 'remove-file', path: VGPU_UNIT, title: `remove ${VGPU_UNIT}` },
      reload,
    ];
  }
  return [
    { kind: 'file', path: VGPU_UNIT, content, title: `write ${VGPU_UNIT}` },
    reload,
    ...(now === null ? [{ kind: 'exec' as const, argv: enable, title: 'set the vGPU types again at every boot', undo: [{ kind: 'run' as const, argv: disable, title: `disable ${VGPU_UNIT_NAME}` }] }] : []),
  ];
}
