// `gpuvirt setup --reset`: vendor-reset resets a reset-bug GPU only when `device_specific` is its
// first reset method, which nothing selects by default since Linux 5.15. The change loads
// vendor-reset if it is installed but not loaded, writes `device_specific` to each such GPU's
// reset_method now (the kernel probes the method at that write: EINVAL without vendor-reset),
// and installs a udev rule that does both whenever the GPU appears (every boot).
import type { Host } from '../host/host.js';
import { paths } from '../host/paths.js';
import type { GpuFacts, HostFacts } from '../doctor/facts.js';
import type { Step } from '../mutate/steps.js';
import type { Refusal } from '../change/types.js';
import type { FileChange } from '../setup/grub.js';
import { resetFamily } from './families.js';
import { needsDeviceSpecific } from './judge.js';

export const RESET_RULE = '/etc/udev/rules.d/61-gpuvirt-reset.rules';

const ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$/;
const ID = /^[0-9a-f]{4}$/;

export interface ResetGpu {
  address: string;
  vendorId: string;
  deviceId: string;
  family: string;
  before: string[];
}

export interface ResetPlan {
  gpus: ResetGpu[];
  rule: FileChange | null;
  /** modprobe, then the reset_method writes: applied after the rule file is in place. */
  steps: Step[];
  refusals: Refusal[];
  notes: string[];
  expect: { path: string; value: string }[];
}

/**
 * One line per GPU, matched by address and ids (a GPU moved to another slot or swapped is not
 * touched). udev substitutes %k (the kernel name, the address) before /bin/sh sees the
 * command; every value here is checked to be hex digits, ':' and '.', which neither udev's
 * quoting nor the shell's single quotes give a meaning to.
 */
export function resetRule(gpus: readonly ResetGpu[]): string {
  const lines = gpus.map((g) => {
    if (!ADDRESS.test(g.address) || !ID.test(g.vendorId) || !ID.test(g.deviceId)) throw new Error(`not a PCI address or id: ${g.address} ${g.vendorId}:${g.deviceId}`);
    const cmd = `/sbin/modprobe vendor-reset; echo device_specific > ${paths.pciDevices}/%k/reset_method`;
    return `ACTION=="add", SUBSYSTEM=="pci", KERNEL=="${g.address}", ATTR{vendor}=="0x${g.vendorId}", ATTR{device}=="0x${g.deviceId}", RUN+="/bin/sh -c '${cmd}'"`;
  });
  return [
    '# Written by gpuvirt (`gpuvirt setup --reset`; `gpuvirt setup --undo` removes it).',
    '# vendor-reset resets these GPUs only when device_specific is their reset method (Linux 5.15+).',
    ...gpus.map((g) => `# ${g.address} ${g.vendorId}:${g.deviceId} AMD ${g.family}`),
    ...lines,
    '',
  ].join('\n');
}

function resetGpus(gpus: readonly GpuFacts[]): ResetGpu[] {
  return gpus.filter(needsDeviceSpecific).map((g) => ({
    address: g.address, vendorId: g.vendorId, deviceId: g.deviceId, family: resetFamily(g.vendorId, g.deviceId)!.family, before: g.resetMethods,
  }));
}

/** The GPU addresses a reset rule file selects device_specific for (its KERNEL matches). */
export function ruleAddresses(text: string | null): string[] {
  return [...(text ?? '').matchAll(/^ACTION=="add".*?KERNEL=="([0-9a-f:.]+)"/gm)].map((m) => m[1]!);
}

/**
 * What `setup --reset` changes; `asked`: the user named --reset (otherwise only what doctor
 * found missing, when it can be done); `only`: these GPUs, not every one that needs it (a host
 * config's choice: the rule then lists exactly them).
 */
export function planReset(host: Host, facts: HostFacts, asked: boolean, only?: readonly string[]): ResetPlan {
  const gpus = resetGpus(facts.gpus).filter((g) => !only || only.includes(g.address));
  const empty: ResetPlan = { gpus, rule: null, steps: [], refusals: [], notes: [], expect: [] };
  if (!gpus.length) return { ...empty, notes: asked ? ['no GPU of a family vendor-reset knows (AMD Polaris, Vega, Navi 10/12/14): nothing to select'] : [] };
  if (facts.vendorReset === 'absent' || facts.vendorReset === 'unknown') {
    if (!asked) return { ...empty, notes: [`${gpus.map((g) => g.address).join(', ')} need vendor-reset, which is not installed: install it, then \`gpuvirt setup --reset\``] };
    const message = facts.vendorReset === 'absent'
      ? `vendor-reset is not installed for kernel ${facts.kernel ?? '?'}: the kernel would refuse device_specific for ${gpus.map((g) => g.address).join(', ')}`
      : `cannot tell whether vendor-reset is installed (no modules.dep for kernel ${facts.kernel ?? '?'})`;
    return { ...empty, refusals: [{ code: 'no-vendor-reset', message: `${message}; install it first (github.com/gnif/vendor-reset, \`dkms install .\`)`, force: null }] };
  }
  const after = resetRule(gpus);
  const before = host.readText(RESET_RULE);
  const steps: Step[] = [];
  if (facts.vendorReset === 'installed') {
    const unless = [{ fact: { kind: 'module' as const, name: 'vendor_reset' }, value: null }];
    steps.push({ kind: 'exec', argv: ['modprobe', 'vendor-reset'], title: 'load vendor-reset', undo: [{ kind: 'run', argv: ['modprobe', '-r', 'vendor-reset'], title: 'unload vendor-reset', unless, late: true }] });
  }
  const pending = gpus.filter((g) => g.before[0] !== 'device_specific');
  for (const g of pending) {
    const path = paths.pciAttr(g.address, 'reset_method');
    // An empty reset_method is cleared by "\n": a zero-length write does nothing.
    const undo = [{ kind: 'restore-attr' as const, path, value: g.before.length ? g.before.join(' ') : '\n' }];
    steps.push(
      { kind: 'write', path, value: 'device_specific', title: `let vendor-reset reset ${g.address} (AMD ${g.family})`, undo },
      { kind: 'verify-text', path, contains: ['device_specific'], absent: [], title: `${g.address} resets through vendor-reset`, undo },
    );
  }
  return {
    gpus, rule: before === after ? null : { path: RESET_RULE, before, after }, steps, refusals: [], notes: [],
    expect: gpus.map((g) => ({ path: paths.pciAttr(g.address, 'reset_method'), value: 'device_specific' })),
  };
}
