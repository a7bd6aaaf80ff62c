// The kernel-writes table (test/ground-truth/kernel-writes.ts) on the real kernel: each row is
// one check, run with the same runner the simulator's test uses, so a row that passes here and
// fails there (or the reverse) is drift between the simulator and Linux.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KERNEL_WRITES, type Machine } from '../../../../ground-truth/kernel-writes.js';
import { runRow, type KernelSide } from '../../../../ground-truth/runner.js';
import { DEV } from '../../topology.js';
import type { Scenario } from '../framework.js';
import { driverLoaded, forceState, sh, snapshot, waitFor } from '../sysfs.js';

const MODULES = ['vfio-pci', 'pci-stub', 'pci-pf-stub'];

const real: KernelSide = {
  write(file, value) {
    try {
      fs.writeFileSync(file, value);
      return 'ok';
    } catch (err) {
      return (err as NodeJS.ErrnoException).code ?? String(err);
    }
  },
  read(file) {
    try {
      return { text: fs.readFileSync(file, 'utf8') };
    } catch (err) {
      return { errno: (err as NodeJS.ErrnoException).code ?? String(err) };
    }
  },
  exec: (argv) => sh(argv),
  exists: (file) => fs.existsSync(file),
  writeFile(file, content) {
    if (content === null) fs.rmSync(file, { force: true });
    else {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
    }
  },
  linkName(file) {
    try {
      return path.basename(fs.readlinkSync(file));
    } catch {
      return null;
    }
  },
};

function groundTruth(machine: Machine): Scenario {
  const rows = KERNEL_WRITES.filter((r) => r.machines.includes(machine));
  return {
    id: 'ground truth: the kernel-writes table',
    machines: [machine],
    checks: rows.map((r) => r.id),
    async run(t) {
      // Rows load and unload these; the scenarios after this one find them as they were.
      const loaded = Object.fromEntries(MODULES.map((m) => [m, driverLoaded(m)]));
      t.cleanup(() => {
        for (const m of MODULES) if (driverLoaded(m) !== loaded[m]) sh(loaded[m] ? ['modprobe', m] : ['modprobe', '-r', m]);
      });
      for (const row of rows) {
        const before = snapshot();
        const r = await runRow(row, real, DEV);
        t.check(row.id, () => {
          if (!r.pass) throw new Error(r.detail);
          return r.detail;
        });
        // nvme probes asynchronously after a rebind: let it settle before the next row.
        const same = () => JSON.stringify(snapshot()) === JSON.stringify(before);
        if (!(await waitFor(same, 10_000))) {
          forceState(before);
          await waitFor(same, 10_000);
        }
      }
    },
  };
}

export const groundTruthIntel = groundTruth('intel');
export const groundTruthNone = groundTruth('none');
