// End-to-end tests on a real Linux kernel: Debian's kernel boots under QEMU on three machines
// (Intel VT-d, AMD-Vi, no IOMMU), runs the real bin/gpuvirt inside, and checks what the kernel
// did (guest/scenarios/). Each machine boots once; each of its checks becomes one test here.
//
//   npm run test:kernel              build dist/, then only this suite
//   GPUVIRT_E2E_MACHINES=intel,none  only these machines
//   GPUVIRT_E2E_JOBS=1               machines booted at once (default: cores, at most 2)
//   GPUVIRT_E2E_VERBOSE=1            stream the guest console to stderr
//   GPUVIRT_E2E_CACHE=DIR            image cache and logs (default .tmp/e2e-kernel)
//   GPUVIRT_E2E_KVER=6.1.0-56-amd64  boot this kernel from /boot (default: the newest)
//   GPUVIRT_E2E_ONLY="x-vga,edu"     only the scenarios whose id contains one of these (the rest skipped)
//
// Without QEMU or a kernel the suite is skipped, saying what to install; with CI set it fails
// instead, since CI installs them (.ci/run).
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkNames } from './guest/framework.js';
import { resultKey, type CheckResult } from './guest/protocol.js';
import { scenarioIndexes, scenariosFor } from './guest/scenarios/index.js';
import { buildImages, cacheDir, type Images } from './harness/images.js';
import { findTools, PACKAGES, type Tools } from './harness/prerequisites.js';
import { bootMachine, type BootResult } from './harness/qemu.js';
import { MACHINES, MACHINE_SPECS, type MachineName } from './topology.js';

/** One machine's whole run: intel, the longest (kill sweeps, the ground-truth table, the nested VMs
 *  with one L2 boot), takes 6-9 min with two guests on a 2-core machine, more when it is busy. */
const BOOT_TIMEOUT_MS = 1_200_000;
/** A machine may wait for another to finish before it boots. */
const HOOK_TIMEOUT_MS = 2_400_000;

const selected = (process.env.GPUVIRT_E2E_MACHINES?.split(',').map((s) => s.trim()) ?? MACHINES).filter((m): m is MachineName =>
  (MACHINES as readonly string[]).includes(m));
/** TCG runs one vCPU per QEMU on one host core: boot as many machines at once as there are cores, at most 2. */
/** GPUVIRT_E2E_ONLY's scenarios (indexes in SCENARIOS), or null: all of them. */
const only = process.env.GPUVIRT_E2E_ONLY ? scenarioIndexes(process.env.GPUVIRT_E2E_ONLY.split(',')) : null;
if (only?.length === 0) throw new Error(`GPUVIRT_E2E_ONLY=${process.env.GPUVIRT_E2E_ONLY} names no scenario`);
const jobs = Math.max(1, Math.min(2, Number(process.env.GPUVIRT_E2E_JOBS) || os.cpus().length));

function consoleTail(b: BootResult, lines = 40): string {
  return `console (${b.consoleLog}), last lines:\n${b.console.trimEnd().split('\n').slice(-lines).join('\n')}`;
}

/** Runs at most `n` of the given tasks at once, in the order they were asked for. */
function limiter(n: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    while (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** Builds the images once, then boots every selected machine once, `jobs` at a time. */
function scheduler(tools: Tools) {
  let boots: Map<MachineName, Promise<BootResult>> | null = null;
  let images: Images | null = null;
  const start = () => {
    const built = buildImages(tools, selected).then((i) => (images = i));
    const limit = limiter(jobs);
    const logDir = path.join(cacheDir(), 'logs');
    return new Map(selected.map((m) => [m, built.then((i) => limit(() => bootMachine(m, i, tools, { timeoutMs: BOOT_TIMEOUT_MS, logDir, cmdline: only ? [`gpuvirt_e2e.only=${only.join(',')}`] : [] })))]));
  };
  return {
    boot(m: MachineName): Promise<BootResult> {
      boots ??= start();
      return boots.get(m)!;
    },
    images: () => images,
  };
}

const found = findTools();

if ('missing' in found) {
  const why = `missing ${found.missing}; install them with: apt-get install --no-install-recommends ${PACKAGES}`;
  if (process.env.CI) {
    describe('kernel e2e', () => {
      it('has QEMU and a Debian kernel (CI installs them and must never skip)', () => {
        throw new Error(why);
      });
    });
  } else {
    process.stderr.write(`gpuvirt kernel e2e skipped: ${why}\n`);
    describe.skip(`kernel e2e (skipped: ${why})`, () => {
      it('boots the machines', () => {});
    });
  }
} else {
  const tools = found.tools;
  const run = scheduler(tools);
  const summary: string[] = [];

  afterAll(() => {
    const i = run.images();
    if (i) summary.unshift(`images: ${i.kernel}, ${[...new Set(Object.values(i.initrds))].join(', ')} (${i.buildSeconds.toFixed(1)} s to build or find)`);
    if (summary.length) process.stderr.write(`gpuvirt kernel e2e (${tools.kver}, ${tools.kvm ? 'KVM' : 'TCG'}, ${jobs} at a time):\n  ${summary.join('\n  ')}\n`);
  });

  for (const machine of selected) {
    describe(`${machine}: ${MACHINE_SPECS[machine].summary}`, () => {
      let boot: BootResult;
      const results = new Map<string, CheckResult>();

      beforeAll(async () => {
        boot = await run.boot(machine);
        for (const r of boot.results) results.set(resultKey(r.scenario, r.check), r);
        const failed = boot.results.filter((r) => r.status === 'fail');
        const known = failed.filter((r) => scenariosFor(machine, only).some((s) => s.id === r.scenario && s.knownBugs?.[r.check])).length;
        summary.push(`${machine}: ${boot.seconds.toFixed(1)} s, ${boot.results.length} checks, ${failed.length - known} failed${known ? `, ${known} known bugs` : ''}`);
      }, HOOK_TIMEOUT_MS);

      it('boots, runs the guest program to its end and powers off', () => {
        const what = `exit ${boot.exitCode}${boot.timedOut ? `, killed after ${BOOT_TIMEOUT_MS / 1000} s` : ''}`;
        expect(boot.begun, `the guest program never started (${what})\n${consoleTail(boot)}`).toBe(true);
        expect(boot.ended, `the guest program did not finish (${what})\n${consoleTail(boot)}`).toBe(true);
        expect(boot.timedOut, consoleTail(boot)).toBe(false);
      });

      for (const scenario of scenariosFor(machine)) {
        (scenariosFor(machine, only).includes(scenario) ? describe : describe.skip)(scenario.id, () => {
          for (const check of checkNames(scenario)) {
            const bug = scenario.knownBugs?.[check];
            (bug ? it.fails : it)(bug ? `${check} [fails: known bug: ${bug}]` : check, () => {
              const r = results.get(resultKey(scenario.id, check));
              if (!r) throw new Error(`the guest did not report this check\n${consoleTail(boot)}`);
              if (r.status !== 'pass') throw new Error(r.detail);
            });
          }
        });
      }

      it('reports only checks the catalog declares', () => {
        const known = new Set(scenariosFor(machine).flatMap((s) => checkNames(s).map((c) => resultKey(s.id, c))));
        expect([...results.keys()].filter((k) => !known.has(k))).toEqual([]);
      });
    });
  }
}
