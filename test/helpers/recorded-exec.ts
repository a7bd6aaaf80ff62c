// An exec seam that answers from recorded program output (test/fixtures/exec/<machine>/),
// strict like a stub: an argv without a recording throws, and `unused()` names recordings a
// test expected to be asked for but were not.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Exec, ExecResult } from '../../src/host/exec.js';
import { MIG_MODE_ARGV, MIG_XML_ARGV, parseMigXml, parseModeCsv } from '../../src/sharing/mig.js';
import { rowsFor } from '../../src/sharing/families.js';
import type { SimKernel } from '../../src/sim/kernel.js';
import { seedMig } from '../../src/sim/nvidia-smi.js';

export const EXEC_FIXTURES = new URL('../fixtures/exec/', import.meta.url).pathname;

interface Recording {
  stdout: string;
  exitCode?: number;
}

export class RecordedExec implements Exec {
  readonly calls: string[] = [];
  private readonly index: Record<string, Recording>;

  constructor(private readonly machine: string) {
    this.index = JSON.parse(readFileSync(join(EXEC_FIXTURES, machine, 'index.json'), 'utf8')) as Record<string, Recording>;
  }

  async run(argv: readonly string[]): Promise<ExecResult> {
    const key = argv.join(' ');
    this.calls.push(key);
    const rec = this.index[key];
    if (!rec) throw new Error(`recorded-exec(${this.machine}): no recording for \`${key}\``);
    return { exitCode: rec.exitCode ?? 0, stdout: readFileSync(join(EXEC_FIXTURES, this.machine, rec.stdout), 'utf8'), stderr: '' };
  }

  unused(): string[] {
    return Object.keys(this.index).filter((k) => !this.calls.includes(k));
  }
}

/**
 * Starts the simulated nvidia-smi of a machine from its recordings: the MIG mode from the CSV
 * query, the GPU and compute instances from the XML, their profiles from layout.json.
 */
export function seedRecordedMig(kernel: SimKernel, machine: string): void {
  const dir = join(EXEC_FIXTURES, machine);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Record<string, Recording>;
  const file = (argv: readonly string[]) => readFileSync(join(dir, index[argv.join(' ')]!.stdout), 'utf8');
  const layout = JSON.parse(readFileSync(join(dir, 'layout.json'), 'utf8')) as { gpus: Record<string, { gpuInstances: Record<string, string> }> };
  const devices = parseMigXml(file(MIG_XML_ARGV));
  for (const g of parseModeCsv(file(MIG_MODE_ARGV))) {
    const names = layout.gpus[g.address]?.gpuInstances ?? {};
    const row = rowsFor('10de', (kernel.readText(`/sys/bus/pci/devices/${g.address}/device`) ?? '').trim().replace(/^0x/, '')).find((r) => r.mechanism === 'mig');
    const gis = new Map<number, number[]>();
    for (const d of devices.get(g.address) ?? []) gis.set(d.gpuInstanceId, [...(gis.get(d.gpuInstanceId) ?? []), d.computeInstanceId]);
    seedMig(kernel, g.address, {
      current: g.current === 'Enabled' ? 'Enabled' : 'Disabled', pending: g.pending === 'Enabled' ? 'Enabled' : 'Disabled',
      gpuInstances: [...gis.entries()].map(([id, cis]) => {
        const profile = names[String(id)];
        const p = row?.migProfiles?.find((x) => x.name === profile);
        if (!p) throw new Error(`${machine}: layout.json names no known profile for GPU instance ${id}`);
        return { id, profile: p.name, profileId: p.id, computeInstances: cis };
      }),
    });
  }
}
