// `gpuvirt vgpu create [device] --type T` and `gpuvirt vgpu remove <vf|uuid>`: one command for
// both vGPU mechanisms (NVIDIA vendor-specific VFIO on a VF, mdev on a parent), chosen per GPU;
// plan, verification and undo through the change engine (src/vgpu/change.ts).
import { randomUUID } from 'node:crypto';
import { readAttr } from '../../host/host.js';
import { paths } from '../../host/paths.js';
import type { CommandDef } from '../command.js';
import { usageError } from '../../errors.js';
import type { Style } from '../../output.js';
import { runChange } from '../../change/engine.js';
import { renderChangeText } from '../../change/render.js';
import type { ChangeResult } from '../../change/types.js';
import { planVgpuCreate, planVgpuRemove, type VgpuView } from '../../vgpu/change.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type VgpuChangeData = ChangeResult<VgpuView>;

const typeText = (id: string | null, name: string | null) => (name ? `${name} (${id})` : `type ${id ?? '?'}`);

export function renderVgpuChange(d: VgpuChangeData, s: Style): string {
  let head: string;
  if (d.mechanism === 'mdev') {
    head = d.action === 'create'
      ? `vGPU ${typeText(d.type, d.typeName)} as mediated device ${d.uuid} on ${d.parent}`
      : `Remove mediated device ${d.uuid}${d.type ? ` (${typeText(d.type, d.typeName)} on ${d.parent})` : ''}`;
  } else if (d.action === 'create') {
    const replaces = d.previous && d.previous !== d.type ? `, replacing ${typeText(d.previous, d.previousName)}` : '';
    const mig = d.migProfile ? ` on ${d.gpuInstance !== null && d.gpuInstance !== undefined ? `GPU instance ${d.gpuInstance}` : 'a free GPU instance'} of profile ${d.migProfile}` : '';
    head = `vGPU ${typeText(d.type, d.typeName)} on VF ${d.vf} of ${d.gpu}${d.chosen ? ' (a free VF that offers it)' : ''}${mig}${replaces}`;
  } else {
    head = d.previous ? `Remove vGPU ${typeText(d.previous, d.previousName)} from VF ${d.vf} of ${d.gpu}` : `VF ${d.vf} of ${d.gpu}`;
  }
  const nothing = d.action === 'create' ? `Nothing to do: it already holds ${typeText(d.type, d.typeName)}.` : 'Nothing to do: it holds no vGPU.';
  let text = renderChangeText(d, s, [s.bold(head)], nothing);
  if (d.applied?.ok && d.action === 'create') {
    text += d.mechanism === 'mdev'
      ? `Pass it to a VM as /sys/bus/mdev/devices/${d.uuid}\n`
      : `Pass VF ${d.vf} to a VM as a PCI device, left on its nvidia driver (QEMU -device vfio-pci,host=${d.vf}; libvirt <hostdev managed='no'>)\n`;
  }
  return text;
}

interface CreateOptions {
  device: string | undefined;
  gpuInstance: number | null;
  persist: boolean;
  type: string;
  uuid: string;
  dryRun: boolean;
  yes: boolean;
}

export const vgpuCreate: CommandDef<CreateOptions, VgpuChangeData> = {
  name: 'vgpu create',
  summary: 'create a vGPU of a type: on a VF (NVIDIA, kernel >= 6.8) or as a mediated device',
  help: 'With a GPU named (or none, on a host with one vGPU GPU), NVIDIA vendor-specific VFIO picks the first free VF that offers the type.\n'
    + 'On a VF that holds another type, that type is removed first; a VF a VM has open is never touched.',
  linuxOnly: true,
  args: [
    { name: '[device]', help: 'the GPU, one of its VFs, or an mdev parent (default: the only vGPU GPU)' },
  ],
  options: [
    { flags: '--type <type>', help: 'type id or name, e.g. 1152, "NVIDIA L40S-8Q", nvidia-222, "GRID T4-1Q"', required: true },
    { flags: '--uuid <uuid>', help: 'mdev: the new device\'s UUID (default: a random one)' },
    { flags: '--gpu-instance <id>', help: 'MIG-backed type: require this GPU instance (the driver picks one of the type\'s profile; checked after)' },
    { flags: '--persist', help: 'set it up again at every boot: NVIDIA VF: the GPU\'s vGPUs of the type kept in the boot record /etc/gpuvirt/host.yaml; mdev: defined with mdevctl' },
    { flags: '--dry-run', help: 'print the plan and change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
  ],
  parse(args, opts) {
    const uuid = opts.uuid === undefined ? randomUUID() : String(opts.uuid).toLowerCase();
    if (!UUID.test(uuid)) throw usageError(`--uuid ${String(opts.uuid)}: not a UUID`);
    const type = String(opts.type ?? '').trim();
    if (!type || type.length > 100 || /[\0\n/]/.test(type)) throw usageError(`--type ${JSON.stringify(opts.type)}: not a vGPU type`);
    if (opts.gpuInstance !== undefined && !/^\d{1,4}$/.test(String(opts.gpuInstance))) throw usageError(`--gpu-instance ${String(opts.gpuInstance)}: a GPU instance id such as 13`);
    return { device: args[0], type, uuid, gpuInstance: opts.gpuInstance === undefined ? null : Number(opts.gpuInstance), persist: Boolean(opts.persist), dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes) };
  },
  async run(opts, ctx) {
    const outcome = await runChange(ctx, 'vgpu create', { ...opts, force: false }, async () => planVgpuCreate(ctx, opts.device, opts.type, opts.uuid, opts.persist, opts.gpuInstance),
      async (d) => renderVgpuChange(d, await ctx.style()));
    const d = outcome.data;
    // The driver chooses the GPU instance of a MIG-backed vGPU; it says which in gpu_instance_id.
    if (d.applied?.ok && d.migProfile && d.vf) {
      const gi = readAttr(ctx.host, paths.pciAttr(d.vf, 'nvidia/gpu_instance_id'));
      d.gpuInstance = gi !== null && /^\d+$/.test(gi) ? Number(gi) : null;
    }
    return outcome;
  },
  render: (d, s) => renderVgpuChange(d, s),
};

export const vgpuRemove: CommandDef<{ target: string; persist: boolean; dryRun: boolean; yes: boolean }, VgpuChangeData> = {
  name: 'vgpu remove',
  summary: 'remove a vGPU: the type on a VF (writes 0, retried while busy) or a mediated device',
  linuxOnly: true,
  args: [
    { name: '<vf|uuid>', help: 'the VF holding the vGPU, or the mediated device\'s UUID' },
  ],
  options: [
    { flags: '--persist', help: 'NVIDIA VF: also keep one vGPU fewer of its type at boot (the boot record; an mdev\'s mdevctl definition always goes)' },
    { flags: '--dry-run', help: 'print the plan and change nothing' },
    { flags: '-y, --yes', help: 'apply without asking' },
  ],
  parse: (args, opts) => ({ target: String(args[0]), persist: Boolean(opts.persist), dryRun: Boolean(opts.dryRun), yes: Boolean(opts.yes) }),
  run: (opts, ctx) => runChange(ctx, 'vgpu remove', { ...opts, force: false }, async () => planVgpuRemove(ctx, opts.target, opts.persist),
    async (d) => renderVgpuChange(d, await ctx.style())),
  render: (d, s) => renderVgpuChange(d, s),
};
