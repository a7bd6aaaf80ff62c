// Every read-only command's --json document, on every fixture machine, against the JSON
// Schema `gpuvirt schema <command>` publishes: the contract is checked on real output, and a
// field the schema does not describe fails (see helpers/json-schema.ts, `closed`).
import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { commands } from '../../src/commands/index.js';
import { dataSchemas } from '../../src/schemas/index.js';
import { captureIO } from '../helpers/io.js';
import { validate } from '../helpers/json-schema.js';
import { FIXTURES, machine } from '../helpers/sim.js';

const MACHINES = readdirSync(FIXTURES).sort();
const PROFILES = new URL('../../profiles/', import.meta.url).pathname;
const EXAMPLES = readdirSync(PROFILES).filter((f) => f.endsWith('.yaml')).sort().map((f) => PROFILES + f);
const out = mkdtempSync(join(tmpdir(), 'gpuvirt-schemas-'));

async function gpuvirt(argv: string[]): Promise<{ code: number; stdout: string }> {
  const io = captureIO();
  const code = await main(argv, { io, env: {}, platform: 'linux' });
  return { code, stdout: io.stdout };
}

const schemaCache = new Map<string, Record<string, unknown>>();
async function published(command: string): Promise<Record<string, unknown>> {
  if (!schemaCache.has(command)) {
    const r = await gpuvirt(['schema', ...command.split(' ')]);
    expect(r.code, `gpuvirt schema ${command}`).toBe(0);
    schemaCache.set(command, JSON.parse(r.stdout));
  }
  return schemaCache.get(command)!;
}

/** Runs argv with --json and checks its one document against its command's published schema. */
async function expectValid(argv: string[]): Promise<any> {
  const r = await gpuvirt([...argv, '--json']);
  const doc = JSON.parse(r.stdout);
  const errors = validate(await published(doc.command), doc, { closed: true });
  expect(errors, `${argv.join(' ')} (exit ${r.code})`).toEqual([]);
  expect(doc.ok, argv.join(' ')).toBe(doc.error === undefined);
  return doc;
}

/** The read-only commands on one host, each way it can be asked. */
function readOnlyRuns(root: string, name: string): string[][] {
  const at = ['--root', root];
  const runs = [['doctor'], ['list'], ['list', '--gpus'], ['status'], ['sriov', 'status'], ['cmdline'], ['mdev', 'types'], ['vgpu', 'types'], ['vgpu', 'status'],
    ['init', '--yes'], ['snapshot', '--out', join(out, `${name}.tar.gz`), '--force']];
  for (const p of EXAMPLES) {
    runs.push(['profile', 'validate', p, '--host'], ['profile', 'check', p]);
    for (const target of ['qemu', 'libvirt', 'proxmox']) runs.push(['generate', p, '--target', target]);
    runs.push(['generate', p, '--target', 'libvirt', '--hostdev-only']);
  }
  return runs.map((r) => [...r, ...at]);
}

describe('every document matches its published schema', () => {
  it.each(MACHINES)('%s', { timeout: 60_000 }, async (name) => {
    const seen = new Set<string>();
    for (const argv of readOnlyRuns(FIXTURES + name, name)) seen.add((await expectValid(argv)).command);
    expect([...seen].sort()).toEqual(['cmdline', 'doctor', 'generate', 'init', 'list', 'mdev types', 'profile check', 'profile validate', 'snapshot', 'sriov status', 'status', 'vgpu status', 'vgpu types']);
  });

  it('documents without a host: offline generate, profile schema, schema, version, errors', async () => {
    for (const p of EXAMPLES) await expectValid(['generate', p, '--target', 'qemu', '--offline']);
    await expectValid(['profile', 'schema']);
    await expectValid(['schema', 'doctor']);
    expect((await expectValid(['--version'])).data.version).toMatch(/^\d+\.\d+\.\d+/);
    const typo = JSON.parse((await gpuvirt(['docter', '--json'])).stdout);
    expect(validate(await published('schema'), typo, { closed: true })).not.toEqual([]);
    expect(validate((JSON.parse((await gpuvirt(['schema'])).stdout)), typo, { closed: true })).toEqual([]);
    expect((await expectValid(['sriov', 'status', '0000:99:00.0', '--root', FIXTURES + 'qemu-intel'])).error.code).toBe('E_NOT_FOUND');
  });

  it('status with devices gpuvirt manages, and sriov status with a VF a VM holds open', async () => {
    const m = machine('intel-desktop-nvidia');
    expect((await m.run(['passthrough', '01:00.0', '--yes'])).code).toBe(0);
    const status = await m.run(['status', '--json']);
    expect(status.doc.data.devices.length).toBeGreaterThan(0);
    expect(validate(await published('status'), status.doc, { closed: true })).toEqual([]);

    // A QEMU process holding VF 0's VFIO group (group 24) open.
    const s = machine('server-mxgpu-sriov');
    mkdirSync(join(s.root, 'proc/4242/fd'), { recursive: true });
    writeFileSync(join(s.root, 'proc/4242/comm'), 'qemu-system-x86\n');
    symlinkSync('/dev/vfio/24', join(s.root, 'proc/4242/fd/17'));
    const sriov = await s.run(['sriov', 'status', '41:00.0', '--json']);
    expect(validate(await published('sriov status'), sriov.doc, { closed: true })).toEqual([]);
    expect(sriov.doc.data.pfs[0]).toMatchObject({ vendorId: '1002', deviceId: '74a1' });
    expect(sriov.doc.data.pfs[0].vfs.map((v: { inUse: boolean | null }) => v.inUse)).toEqual([true, false, false, false]);
    expect(sriov.doc.data.pfs[0].vfs[0]).toMatchObject({ vendorId: '1002', deviceId: '74b5' });
    // An unpacked snapshot shows no processes: whether a VF is in use is unknown, not "no".
    const snap = await gpuvirt(['sriov', 'status', '41:00.0', '--json', '--root', FIXTURES + 'server-mxgpu-sriov']);
    expect(JSON.parse(snap.stdout).data.pfs[0].vfs.map((v: { inUse: boolean | null }) => v.inUse)).toEqual([null, null, null, null]);
  });

  it('the schema of any document tells commands apart by "command", and covers every registered read-only command', async () => {
    const any = JSON.parse((await gpuvirt(['schema'])).stdout);
    expect(any.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    const doctorDoc = await expectValid(['doctor', '--root', FIXTURES + 'qemu-amd']);
    expect(validate(any, doctorDoc, { closed: true })).toEqual([]);
    expect(validate(any, { ...doctorDoc, command: 'list' }, { closed: true })).not.toEqual([]);
    const readOnly = ['doctor', 'list', 'status', 'sriov status', 'cmdline', 'mdev types', 'vgpu types', 'vgpu status', 'profile validate', 'profile check', 'generate', 'snapshot', 'init', 'profile schema', 'schema'];
    for (const c of readOnly) expect(commands.map((e) => e.name)).toContain(c);
    expect(Object.keys(dataSchemas)).toEqual(expect.arrayContaining(readOnly));
  });
});

describe('the validator the tests rely on', () => {
  it('rejects a missing field, a wrong type, an undocumented field and an unknown keyword', async () => {
    const schema = await published('list');
    const doc = await expectValid(['list', '--root', FIXTURES + 'qemu-intel']);
    const { reason: _r, ...noReason } = doc.data;
    expect(validate(schema, { ...doc, data: noReason }, { closed: true }).join()).toContain('missing reason');
    expect(validate(schema, { ...doc, data: { ...doc.data, iommu: 'yes' } }, { closed: true }).join()).toContain('expected boolean');
    expect(validate(schema, { ...doc, data: { ...doc.data, extra: 1 } }, { closed: true }).join()).toContain('extra is not in the schema');
    expect(validate(schema, { ...doc, data: { ...doc.data, extra: 1 } }, { closed: false })).toEqual([]);
    expect(() => validate({ type: 'object', if: {} }, {}, { closed: true })).toThrow(/keyword if/);
  });
});
