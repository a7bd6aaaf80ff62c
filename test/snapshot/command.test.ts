import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';
import { defaultOut } from '../../src/commands/snapshot.js';
import { captureIO } from '../helpers/io.js';
import { fixtureTrees, GPU, miniHost, PF, readTarGz } from './mini-host.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gpuvirt-snap-'));
  dirs.push(d);
  return d;
}

async function run(argv: string[], opts: { tty?: boolean } = {}) {
  const io = captureIO({ tty: opts.tty });
  const code = await main(argv, { io, env: {}, platform: 'linux', clock: () => new Date(1_700_000_000_000) });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

/** Snapshots `root` and unpacks the archive with the system tar, as a user would. */
async function snapshotAndUnpack(root: string): Promise<{ archive: string; unpacked: string }> {
  const work = tempDir();
  const archive = join(work, 'snap.tar.gz');
  const r = await run(['snapshot', '--root', root, '--out', archive]);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  const unpacked = join(work, 'snap');
  mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', archive, '-C', unpacked]);
  return { archive, unpacked };
}

const REPLAYED = [['doctor', '--json'], ['doctor'], ['list', '--json'], ['list'], ['list', '--gpus']];

async function expectSameOutput(original: string, unpacked: string): Promise<void> {
  for (const argv of REPLAYED) {
    const a = await run([...argv, '--root', original]);
    const b = await run([...argv, '--root', unpacked]);
    expect({ argv, ...b }).toEqual({ argv, ...a });
  }
  const tty = await run(['doctor', '--root', original], { tty: true });
  expect((await run(['doctor', '--root', unpacked], { tty: true })).stdout).toBe(tty.stdout);
}

// Each test runs gpuvirt a dozen times and the system tar: generous limits for a busy CI machine.
describe('gpuvirt snapshot', { timeout: 30_000 }, () => {
  it('doctor and list on the unpacked snapshot print exactly what they print on the host', async () => {
    const root = miniHost();
    const { unpacked } = await snapshotAndUnpack(root);
    await expectSameOutput(root, unpacked);
    const doc = JSON.parse((await run(['doctor', '--json', '--root', unpacked])).stdout);
    expect(doc.data.gpus[0]).toMatchObject({ address: GPU.addr, name: 'NVIDIA Corporation GA102 [GeForce RTX 3090]', iommuGroup: 2 });
    expect(doc.data.iommu).toMatchObject({ firmware: 'DMAR', enabled: true });
    expect(readlinkSync(join(unpacked, 'sys/bus/pci/devices', PF.addr))).toBe(readlinkSync(join(root, 'sys/bus/pci/devices', PF.addr)));
  });

  for (const name of fixtureTrees('test/fixtures/sysfs')) {
    it(`reproduces doctor and list on the fixture ${name}`, async () => {
      const root = join('test/fixtures/sysfs', name);
      await expectSameOutput(root, (await snapshotAndUnpack(root)).unpacked);
    });
  }

  it('the archive holds a manifest whose counts match its members, long names and link targets intact', async () => {
    const { archive } = await snapshotAndUnpack(miniHost());
    const members = await readTarGz(readFileSync(archive));
    const manifest = JSON.parse(members.get('manifest.json')!.data.toString());
    const others = [...members.values()].filter((m) => m.header.name !== 'manifest.json');
    const count = (type: string) => others.filter((m) => m.header.type === type).length;
    expect(manifest).toMatchObject({ format: 1, kernel: '6.1.0-18-amd64', files: count('file'), links: count('symlink'), dirs: count('directory') });
    expect(Date.parse(manifest.createdAt)).not.toBeNaN();
    const deep = `${PF.dir}/power/runtime_status`;
    expect(deep.length).toBeGreaterThan(100);
    expect(members.get(deep)?.data.toString()).toBe('active\n');
    const link = members.get(`sys/bus/pci/devices/${PF.addr}`)!.header;
    expect(link.linkname!.length).toBeGreaterThan(100);
    expect(link).toMatchObject({ type: 'symlink', linkname: `../../../${PF.dir.slice(4)}` });
    expect(members.get('sys/bus/pci/drivers/igb/bind')).toMatchObject({ header: { type: 'file', mode: 0o200, size: 0 } });
    expect(members.get(`${GPU.dir}/rom`)).toMatchObject({ header: { mode: 0o600, size: 0 } });
    expect(others.every((m) => m.header.uid === 0 && m.header.gid === 0 && !m.header.uname)).toBe(true);
  });

  it('--json prints one document with what was written', async () => {
    const out = join(tempDir(), 'x.tar.gz');
    const r = await run(['snapshot', '--json', '--root', miniHost(), '--out', out]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ schemaVersion: 1, command: 'snapshot', ok: true, warnings: [] });
    expect(doc.data).toEqual({ out, files: expect.any(Number), links: expect.any(Number), bytes: readFileSync(out).length, skipped: 4, unreadable: [] });
  });

  it('the human summary names the file, and refuses to overwrite it without --force', async () => {
    const root = miniHost();
    const out = join(tempDir(), 'x.tar.gz');
    const first = await run(['snapshot', '--root', root, '--out', out]);
    expect(first.stdout).toMatch(new RegExp(`^wrote ${out} \\(\\d+ (KB|bytes)\\): \\d+ files, \\d+ links\\n`));
    const again = await run(['snapshot', '--root', root, '--out', out]);
    expect(again).toEqual({ code: 2, stdout: '', stderr: `gpuvirt: --out ${out}: file exists (add --force to replace it)\n` });
    writeFileSync(out, 'old');
    expect((await run(['snapshot', '--root', root, '--out', out, '--force'])).code).toBe(0);
    expect(readFileSync(out).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });

  it('an --out in a missing directory is a one-line usage error, and nothing is captured', async () => {
    const r = await run(['snapshot', '--root', miniHost(), '--out', '/nonexistent/dir/x.tar.gz']);
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'gpuvirt: --out /nonexistent/dir/x.tar.gz: no such directory /nonexistent/dir\n' });
    const json = await run(['snapshot', '--json', '--root', miniHost(), '--out', '/nonexistent/dir/x.tar.gz']);
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'E_USAGE', exitCode: 2 });
  });

  it('--out - writes the archive alone to stdout; with --json it is refused', async () => {
    const chunks: Buffer[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: Buffer, cb?: () => void) => {
      chunks.push(Buffer.from(chunk));
      cb?.();
      return true;
    }) as typeof process.stdout.write);
    let r: Awaited<ReturnType<typeof run>>;
    try {
      r = await run(['snapshot', '--root', miniHost(), '--out', '-']);
    } finally {
      spy.mockRestore();
    }
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    const members = await readTarGz(Buffer.concat(chunks));
    expect(members.has('manifest.json')).toBe(true);
    const both = await run(['snapshot', '--json', '--root', miniHost(), '--out', '-']);
    expect(both.code).toBe(2);
    expect(JSON.parse(both.stdout).error.message).toContain('--out - and --json');
    expect((await run(['snapshot', '--root', miniHost(), '--out', '-'], { tty: true })).code).toBe(2);
  });

  it('without --out it writes gpuvirt-snapshot-<kernel>-<date>.tar.gz in the current directory', async () => {
    expect(defaultOut('6.1.0-18-amd64', new Date('2025-01-02T03:04:05Z'))).toBe('gpuvirt-snapshot-6.1.0-18-amd64-20250102-030405.tar.gz');
    expect(defaultOut(null, new Date('2025-01-02T03:04:05Z'))).toBe('gpuvirt-snapshot-unknown-20250102-030405.tar.gz');
    const cwd = process.cwd();
    const here = tempDir();
    const root = miniHost();
    process.chdir(here);
    try {
      const r = await run(['snapshot', '--json', '--root', root]);
      const out = JSON.parse(r.stdout).data.out as string;
      expect(out).toMatch(/^gpuvirt-snapshot-6\.1\.0-18-amd64-\d{8}-\d{6}\.tar\.gz$/);
      expect(existsSync(join(here, out))).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });
});
