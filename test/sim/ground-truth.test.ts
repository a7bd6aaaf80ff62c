// The kernel-writes table (test/ground-truth) against the simulated kernel, each row on a fresh
// copy of the kernel-made fixture of its machine. The QEMU suite runs the same rows on Linux.
import { describe, expect, it } from 'vitest';
import { makeSimHost } from '../../src/sim/host.js';
import { KERNEL_WRITES } from '../ground-truth/kernel-writes.js';
import { runRow } from '../ground-truth/runner.js';
import { DEV } from '../e2e/kernel/topology.js';
import { FIXTURES } from '../helpers/sim.js';
import { simSide } from '../helpers/sim-side.js';

describe('ground truth: the simulated kernel answers every write as Linux does', () => {
  for (const row of KERNEL_WRITES) {
    for (const machine of row.machines) {
      it(`${machine}: ${row.id}`, async () => {
        const sim = makeSimHost(`${FIXTURES}qemu-${machine}`);
        try {
          const r = await runRow(row, simSide(sim), DEV);
          expect(r.pass, r.detail).toBe(true);
        } finally {
          sim.cleanup();
        }
      });
    }
  }

  it('has unique row ids', () => {
    const ids = KERNEL_WRITES.map((r) => r.id);
    expect(ids.length).toBe(new Set(ids).size);
  });
});
