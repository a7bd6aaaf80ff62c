// `gpuvirt singlegpu <vm> <gpu>`: installs the hand-over hook (script.ts) for one libvirt VM
// after a preflight that says what the hook will meet on this host, and `--undo` removes it.
// The hook file is the whole change: the engine backs it up, journals it and restores it.
import type { Host } from '../host/host.js';
import { linkName, readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { ExitCode, GpuvirtError } from '../errors.js';
import { isGpuClass, listAddresses, readClass, readDetails, readFunction, slotOf } from '../detect/pci.js';
import { deviceFiles, findHolders } from '../detect/usage.js';
import { readVendorReset } from '../doctor/facts.js';
import { judgeReset } from '../reset/judge.js';
import type { ChangePlan, Refusal } from '../change/types.js';
import type { Step } from '../mutate/steps.js';
import { HOOK_DIR, hookPath, hookScript, VM_NAME, type HookSpec } from './script.js';

export interface SingleGpuView {
  action: 'install' | 'undo';
  vm: string;
  hook: string;
  /** The script exactly as written (null for --undo). */
  script: string | null;
  preflight: string[];
}

const SYS = paths.pciDevices.slice(0, paths.pciDevices.indexOf('/bus/'));
const DM_LINK = '/etc/systemd/system/display-manager.service';
const FRAMEBUFFERS = ['efi-framebuffer', 'vesa-framebuffer', 'simple-framebuffer'];

function displayManager(host: Host): string | null {
  return linkName(host, DM_LINK);
}

function moduleOf(host: Host, driver: string): string {
  return linkName(host, `${paths.pciDriver(driver)}/module`) ?? driver.replace(/-/g, '_');
}

/** What the hook will meet: the display manager, the consoles and framebuffers it unbinds, who holds the GPU. */
function preflight(host: Host, functions: string[], dm: string | null): string[] {
  const notes = [dm ? `display manager: ${dm} (stopped at hand-over, started at give-back)` : 'no display manager unit found (display-manager.service): nothing to stop'];
  const consoles = (host.list(`${SYS}/class/vtconsole`) ?? []).filter((v) => readAttr(host, `${SYS}/class/vtconsole/${v}/bind`) === '1')
    .map((v) => `${v} (${readAttr(host, `${SYS}/class/vtconsole/${v}/name`) ?? '?'})`);
  notes.push(consoles.length ? `consoles bound now: ${consoles.join(', ')}; frame buffer consoles are unbound` : 'no console is bound');
  const fbs = FRAMEBUFFERS.flatMap((d) => (host.list(`${SYS}/bus/platform/drivers/${d}`) ?? []).filter((n) => /\.\d+$/.test(n)).map((n) => `${n} on ${d}`));
  notes.push(fbs.length ? `firmware framebuffers: ${fbs.join(', ')} (unbound, bound again at give-back)` : 'no firmware framebuffer is bound');
  const holders = findHolders(host, functions.flatMap((a) => deviceFiles(host, a)));
  if (holders.length) notes.push(`open now: ${holders.map((h) => `${h.comm} (pid ${h.pid}) ${h.file}`).join(', ')}; the display manager's stop must end them, or the unbind waits`);
  return notes;
}

/**
 * What the hand-over needs from this host for the GPU at `gpu` (function 0): every function
 * of its slot, the host modules to load again, the display manager; and why the give-back may
 * fail (the GPU has no host driver now, or no reset that works).
 */
export function handoverFacts(host: Host, vm: string, gpu: string): { spec: HookSpec; refusals: Refusal[] } {
  if (!host.exists(paths.pciDevice(gpu))) throw new GpuvirtError('E_NOT_FOUND', `no PCI device ${gpu}`, { exitCode: ExitCode.notFound });
  const fn = readFunction(host, gpu);
  if (!isGpuClass(fn.classId) || fn.physfn !== null) throw new GpuvirtError('E_NOT_A_GPU', `${gpu} is not a GPU's physical function`, { exitCode: ExitCode.unsupported });
  const functions = listAddresses(host).filter((a) => slotOf(a) === slotOf(gpu) && readFunction(host, a).physfn === null);
  const drivers = functions.map((a) => readFunction(host, a).driver);
  const refusals: Refusal[] = [];
  if (fn.driver === null || fn.driver === 'vfio-pci' || fn.driver === 'pci-stub') {
    refusals.push({ code: 'no-host-driver', address: gpu, message: `${gpu} is on ${fn.driver ?? 'no driver'}: the give-back needs the host driver the GPU runs the desktop with`, force: null });
  }
  const reset = judgeReset({ ...fn, ...readDetails(host, gpu) }, readVendorReset(host, readAttr(host, paths.osrelease)));
  if (reset.verdict !== 'ok' && reset.verdict !== 'vendor-reset') {
    refusals.push({
      code: 'no-reset', address: gpu, message: `the give-back may leave a black screen: ${reset.summary}${reset.command ? `; run \`${reset.command}\` first` : ''}`,
      force: 'install the hook anyway',
    });
  }
  const modules = [...new Set(drivers.flatMap((d) => (d && d !== 'vfio-pci' && d !== 'pci-stub' ? [moduleOf(host, d)] : [])))];
  return { spec: { vm, functions, modules, displayManager: displayManager(host) }, refusals };
}

export function planSingleGpu(host: Host, vm: string, gpu: string): ChangePlan<SingleGpuView> {
  if (!VM_NAME.test(vm)) throw new GpuvirtError('E_USAGE', `VM name ${JSON.stringify(vm)}: gpuvirt writes names of letters, digits and . _ + - only`, { exitCode: ExitCode.usage });
  const { spec, refusals } = handoverFacts(host, vm, gpu);
  if (!host.exists('/etc/libvirt')) refusals.unshift({ code: 'no-libvirt', message: 'libvirt is not installed (/etc/libvirt is missing)', force: null });
  const script = hookScript(spec);
  const path = hookPath(vm);
  const steps: Step[] = host.readText(path) === script ? [] : [{ kind: 'file', path, content: script, mode: 0o755, title: `install the single-GPU hook for ${vm} in ${HOOK_DIR}` }];
  return {
    view: { action: 'install', vm, hook: path, script, preflight: preflight(host, spec.functions, spec.displayManager) },
    steps, refusals,
    question: `Install the hook that hands ${gpu} to ${vm} and gives it back?`,
  };
}

export function planSingleGpuUndo(host: Host, vm: string): ChangePlan<SingleGpuView> {
  if (!VM_NAME.test(vm)) throw new GpuvirtError('E_USAGE', `VM name ${JSON.stringify(vm)}: not one gpuvirt writes`, { exitCode: ExitCode.usage });
  const path = hookPath(vm);
  const text = host.readText(path);
  if (text !== null && !text.startsWith('#!/bin/sh\n# Written by gpuvirt')) {
    throw new GpuvirtError('E_NOT_OURS', `${path} was not written by gpuvirt: left as it is`, { exitCode: ExitCode.refused });
  }
  return {
    view: { action: 'undo', vm, hook: path, script: null, preflight: [] },
    steps: text === null ? [] : [{ kind: 'remove-file', path, title: `remove the single-GPU hook for ${vm}` }],
    question: `Remove the single-GPU hook for ${vm}?`,
  };
}
