// `generate --target qemu --single-gpu`: the hand-over facts for the one GPU a profile passes,
// read from this host like `gpuvirt singlegpu` reads them. What would stop the hook's install
// stops the script; what the hook's --force overrides (no working reset) is a warning here.
import type { Host } from '../host/host.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import type { ResolvedDevice } from '../profiles/resolve.js';
import { handoverFacts } from './change.js';
import { VM_NAME, type HookSpec } from './script.js';

export function qemuHandoverSpec(host: Host, name: string, devices: readonly ResolvedDevice[]): { spec: HookSpec; warnings: string[] } {
  const gpus = devices.flatMap((d) => (d.kind === 'pci' && d.source === 'gpu' ? [d] : []));
  if (gpus.length !== 1) {
    throw new GpuvirtError('E_SINGLE_GPU', `--single-gpu hands one GPU to the VM: the profile passes ${gpus.length} GPUs`, { exitCode: ExitCode.unsupported });
  }
  if (!VM_NAME.test(name)) {
    throw new GpuvirtError('E_SINGLE_GPU', `--single-gpu: the profile name ${JSON.stringify(name)} names the script's state file and log: letters, digits and . _ + - only`, { exitCode: ExitCode.usage });
  }
  const { spec, refusals } = handoverFacts(host, name, `${gpus[0]!.slot}.0`);
  const blocking = refusals.filter((r) => r.force === null);
  if (blocking.length) throw new GpuvirtError('E_SINGLE_GPU', `--single-gpu: ${blocking.map((r) => r.message).join('; ')}`, { exitCode: ExitCode.refused });
  return { spec, warnings: refusals.map((r) => `single-gpu: ${r.message}`) };
}
