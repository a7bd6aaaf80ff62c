// Readiness for a boot-time apply: at boot the PCI devices are enumerated early, but the PF
// drivers come with module loading and udev's coldplug, and sriov_numvfs works only once the
// PF's driver is bound. A config is ready when every selector names a device and every PF that
// should have VFs is on a driver. A VF named by its address is not waited for when it is one of
// the VFs a selected PF will make (it appears with them). The wait is bounded twice: by the
// time given and by a number of polls, so a stopped clock cannot make it endless.
import type { Host } from '../host/host.js';
import type { PciNames } from '../pci/names.js';
import type { HostConfig } from './schema.js';
import { futureVfs, selectDevices, selectorText } from './state.js';

/** What the host is still waiting for, one line each; empty when the config can be applied. */
export function notReady(host: Host, names: PciNames, config: HostConfig): string[] {
  const { devices, problems } = selectDevices(host, names, config);
  const out: string[] = [];
  const future = futureVfs(host, devices);
  for (const d of devices) {
    if (!d.want.sriov) continue;
    if (!d.now.sriov) out.push(`${d.now.address}: no SR-IOV attributes yet (sriov_totalvfs)`);
    else if (d.now.driver === null) out.push(`${d.now.address}: waiting for its PF driver to bind`);
  }
  config.devices.forEach((d, i) => {
    const nothing = problems.some((p) => p.startsWith(`devices[${i}]: no device on this host matches`));
    if (nothing && !(d.select.address && future.has(d.select.address))) out.push(`devices[${i}]: no device matches ${selectorText(d.select)} yet`);
  });
  return out;
}

export interface WaitResult {
  ready: boolean;
  /** How many times the host was looked at. */
  polls: number;
  waitedMs: number;
  /** What was still missing at the last look (empty when ready). */
  missing: string[];
}

export const POLL_MS = 1000;

export interface WaitSeams {
  sleep: (ms: number) => Promise<void>;
  now: () => number;
}

/** Looks until the config is ready, at most `seconds` and at most one look per POLL_MS of them (plus the first). */
export async function waitReady(check: () => string[], seconds: number, seams: WaitSeams): Promise<WaitResult> {
  const limitMs = seconds * 1000;
  const maxPolls = Math.ceil(limitMs / POLL_MS) + 1;
  const start = seams.now();
  let waitedMs = 0;
  for (let polls = 1; ; polls++) {
    const missing = check();
    if (!missing.length) return { ready: true, polls, waitedMs, missing };
    const elapsed = Math.max(waitedMs, seams.now() - start);
    if (polls >= maxPolls || elapsed >= limitMs) return { ready: false, polls, waitedMs: elapsed, missing };
    const pause = Math.min(POLL_MS, limitMs - elapsed);
    await seams.sleep(pause);
    waitedMs += pause;
  }
}
