// nvidia-smi's machine-readable MIG outputs, as recorded on the nvidia-h100-mig machine, and
// what gpuvirt reports when nvidia-smi cannot be asked.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RealExec, RefusingExec } from '../../src/host/exec.js';
import { MIG_MODE_ARGV, normalizeBusId, parseMigXml, parseModeCsv, readMig } from '../../src/sharing/mig.js';
import { parseCreatable } from '../../src/sharing/nvidia.js';
import { EXEC_FIXTURES, RecordedExec } from '../helpers/recorded-exec.js';

const recorded = (f: string) => readFileSync(`${EXEC_FIXTURES}nvidia-h100-mig/${f}`, 'utf8');

describe('MIG through nvidia-smi', () => {
  it('bus ids: nvidia-smi\'s 8-digit domain becomes the sysfs address', () => {
    expect(normalizeBusId('00000000:41:00.0')).toBe('0000:41:00.0');
    expect(normalizeBusId('00000001:C1:00.0')).toBe('0001:c1:00.0');
  });

  it('the mode query (CSV, no header)', () => {
    expect(parseModeCsv(recorded('mig-mode.csv'))).toEqual([{ address: '0000:41:00.0', current: 'Enabled', pending: 'Enabled', devices: [] }]);
    expect(parseModeCsv('00000000:01:00.0, [N/A], [N/A]\n00000000:02:00.0, Disabled, Enabled\n').map((g) => [g.current, g.pending])).toEqual([['N/A', 'N/A'], ['Disabled', 'Enabled']]);
  });

  it('the MIG devices of `nvidia-smi -q -x`: GPU instance, compute instance, SMs, memory', () => {
    expect(parseMigXml(recorded('query.xml')).get('0000:41:00.0')).toEqual([
      { gpuInstanceId: 1, computeInstanceId: 0, multiprocessors: 42, memoryMiB: 40192 },
      { gpuInstanceId: 5, computeInstanceId: 0, multiprocessors: 28, memoryMiB: 19968 },
      { gpuInstanceId: 13, computeInstanceId: 0, multiprocessors: 14, memoryMiB: 9856 },
    ]);
    expect(parseMigXml('<nvidia_smi_log><gpu id="00000000:15:00.0"><mig_devices>\n\t\tNone\n\t</mig_devices></gpu></nvidia_smi_log>').get('0000:15:00.0')).toEqual([]);
  });

  it('readMig asks for the XML only when a GPU is in MIG mode, through the exec seam', async () => {
    const exec = new RecordedExec('nvidia-h100-mig');
    const r = await readMig(exec);
    expect(r).toMatchObject({ known: true, gpus: [{ address: '0000:41:00.0', current: 'Enabled' }] });
    expect(exec.calls).toEqual([MIG_MODE_ARGV.join(' '), 'nvidia-smi -q -x']);
    const off = { calls: [] as string[], async run(argv: readonly string[]) { this.calls.push(argv.join(' ')); return { exitCode: 0, stdout: '00000000:41:00.0, Disabled, Disabled\n', stderr: '' }; } };
    expect(await readMig(off)).toMatchObject({ known: true, gpus: [{ current: 'Disabled', devices: [] }] });
    expect(off.calls).toHaveLength(1);
  });

  it('under --root the seam refuses, and MIG is unknown with the reason; a failing nvidia-smi is reported too', async () => {
    expect(await readMig(new RefusingExec('/snap'))).toEqual({ known: false, reason: 'gpuvirt runs no programs under --root, and MIG state is only known to nvidia-smi' });
    const failing = { async run() { return { exitCode: 9, stdout: '', stderr: 'NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver' }; } };
    expect(await readMig(failing)).toEqual({ known: false, reason: 'nvidia-smi exited with 9: NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver' });
  });

  it('a host without nvidia-smi: the real seam\'s error says so, as "not installed"', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/gpuvirt-no-such-dir';
    try {
      expect(await readMig(new RealExec())).toEqual({ known: false, reason: 'nvidia-smi is not installed' });
    } finally {
      process.env.PATH = path;
    }
  });

  it('creatable_vgpu_types as the driver prints it; MIG-backed names are recognised', () => {
    const types = parseCreatable('ID    : vGPU Name\n1145  : NVIDIA L40S-1B\n2164  : NVIDIA L40S-3B\n1060  : NVIDIA H100-1-10C\n1070  : NVIDIA A100-1-5CME\n');
    expect(types.map((t) => [t.id, t.name, t.migBacked])).toEqual([
      ['1145', 'NVIDIA L40S-1B', false], ['2164', 'NVIDIA L40S-3B', false], ['1060', 'NVIDIA H100-1-10C', true], ['1070', 'NVIDIA A100-1-5CME', true],
    ]);
  });
});
