import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FsHost } from '../../src/host/fs-host.js';
import type { Host } from '../../src/host/host.js';
import { captureSnapshot, type SnapshotEntry } from '../../src/snapshot/capture.js';
import { CONFIG, GPU, miniHost, PF, VF, WRITE_ONLY } from './mini-host.js';

const meta = { gpuvirtVersion: '0.0.0-test', createdAt: new Date('2025-01-02T03:04:05Z') };

/** An FsHost that records every path whose contents are read, and can fail chosen reads. */
function spyHost(root: string, opts: { fail?: RegExp; noStat?: boolean } = {}) {
  const inner = new FsHost(root);
  const reads: string[] = [];
  const host: Host = Object.create(inner) as Host;
  host.readText = (p: string) => {
    reads.push(p);
    if (opts.fail?.test(p)) throw Object.assign(new Error(`EIO: ${p}`), { code: 'EIO' });
    return inner.readText(p);
  };
  if (opts.noStat) Object.assign(host, { stat: undefined });
  else {
    host.stat = (p: string, head?: number) => {
      if (head !== undefined) reads.push(`${p}#head${head}`);
      return inner.stat(p, head);
    };
  }
  return { host, reads };
}

const byPath = (entries: SnapshotEntry[]) => new Map(entries.map((e) => [e.path, e]));
const text = (e: SnapshotEntry | undefined) => (e?.kind === 'file' ? Buffer.from(e.data).toString() : undefined);

describe('captureSnapshot', () => {
  it('keeps every symlink with its exact target, dangling ones included', () => {
    const root = miniHost();
    const { entries } = captureSnapshot(new FsHost(root), meta);
    const links = entries.filter((e) => e.kind === 'link');
    expect(links.length).toBeGreaterThan(30);
    for (const l of links) expect(l.target).toBe(readlinkSync(root + l.path));
    const paths = byPath(entries);
    expect(paths.get(`/sys/bus/pci/devices/${PF.addr}`)).toMatchObject({ kind: 'link', target: expect.stringMatching(/^\.\.\/\.\.\/\.\.\/devices\//) });
    expect(paths.get(`/${GPU.dir}/firmware_node`)).toMatchObject({ kind: 'link' });
    expect(paths.get('/sys/bus/pci/drivers/nvidia/module')).toMatchObject({ kind: 'link', target: '../../../../module/nvidia' });
    expect(paths.get(`/${PF.dir}/virtfn0`)).toMatchObject({ target: '../0000:06:10.0' });
    expect(paths.get(`/${VF.dir}/physfn`)).toMatchObject({ target: '../0000:06:00.0' });
    expect(paths.get('/etc/os-release')).toMatchObject({ kind: 'link', target: '../usr/lib/os-release' });
    expect(text(paths.get('/usr/lib/os-release'))).toContain('ID=debian');
    // Programs reached through /bin -> usr/bin are stored at their real path, behind the link.
    expect(paths.get('/bin')).toMatchObject({ kind: 'link', target: 'usr/bin' });
    expect(paths.get('/usr/bin/update-initramfs')).toMatchObject({ kind: 'file', mode: 0o755, data: new Uint8Array(0) });
  });

  it('stores write-only attributes as empty 0200 files without reading them', () => {
    const { host, reads } = spyHost(miniHost());
    const { entries } = captureSnapshot(host, meta);
    const wo = entries.filter((e) => e.path.startsWith('/sys/') && WRITE_ONLY.includes(e.path.split('/').pop()!));
    expect(wo.length).toBeGreaterThan(20);
    for (const e of wo) expect(e).toMatchObject({ kind: 'file', mode: 0o200, data: new Uint8Array(0) });
    expect(reads.filter((p) => WRITE_ONLY.includes(p.split('/').pop()!))).toEqual([]);
  });

  it('never reads device memory, ROMs or VPD, lists them as skipped, and keeps only the config header', () => {
    const { host, reads } = spyHost(miniHost());
    const { entries, manifest } = captureSnapshot(host, meta);
    const gpu = `/${GPU.dir}`;
    expect(manifest.skipped).toEqual(['resource0', 'resource1_wc', 'rom', 'vpd'].map((n) => `${gpu}/${n}`));
    expect(reads.filter((p) => /\/(resource\d+(_wc)?|rom|vpd)$/.test(p))).toEqual([]);
    const paths = byPath(entries);
    expect(paths.get(`${gpu}/rom`)).toMatchObject({ kind: 'file', mode: 0o600, data: new Uint8Array(0) });
    const config = paths.get(`${gpu}/config`);
    expect(config?.kind === 'file' && Buffer.from(config.data)).toEqual(CONFIG.subarray(0, 64));
    expect(reads).toContain(`${gpu}/config#head64`);
    expect(reads).not.toContain(`${gpu}/config`);
  });

  it('leaves out processes, mounts, network, hostnames, EDIDs and other subsystems', () => {
    const { entries } = captureSnapshot(new FsHost(miniHost()), meta);
    const all = entries.map((e) => e.path);
    for (const bad of [/^\/proc\/1\b/, /^\/proc\/mounts/, /^\/proc\/net/, /^\/etc\/hostname/, /^\/sys\/class\/net/, /\/net\/eth0/, /edid/, /hwmon/, /pci_bus/, /ext4/, /NVreg/]) {
      expect(all.filter((p) => bad.test(p))).toEqual([]);
    }
    expect(all).toContain(`/${GPU.dir}/drm/card0`);
    expect(Buffer.concat(entries.map((e) => (e.kind === 'file' ? Buffer.from(e.data) : Buffer.alloc(0)))).toString()).not.toMatch(/SERIAL|secret/);
  });

  it('keeps ACPI table names as empty placeholders and filters big files to what gpuvirt reads', () => {
    const root = miniHost();
    const paths = byPath(captureSnapshot(new FsHost(root), meta).entries);
    expect(paths.get('/sys/firmware/acpi/tables/DMAR')).toMatchObject({ kind: 'file', mode: 0o400, data: new Uint8Array(0) });
    expect(paths.get('/sys/firmware/acpi/tables/dynamic/SSDT1')).toMatchObject({ kind: 'file', data: new Uint8Array(0) });
    expect(paths.get('/dev/kvm')).toMatchObject({ kind: 'file', mode: 0o660, data: new Uint8Array(0) });
    expect(text(paths.get('/boot/config-6.1.0-18-amd64'))).toBe(
      '# Linux/x86 6.1.0 Kernel Configuration\nCONFIG_INTEL_IOMMU=y\n# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\nCONFIG_VFIO_PCI=m\n',
    );
    expect(text(paths.get('/lib/modules/6.1.0-18-amd64/modules.dep'))).toBe(
      'kernel/drivers/vfio/vfio.ko:\nkernel/drivers/vfio/pci/vfio-pci.ko: kernel/drivers/vfio/vfio.ko\nkernel/drivers/vfio/vfio_iommu_type1.ko:\nupdates/dkms/nvidia.ko:\n',
    );
    expect(text(paths.get('/lib/modules/6.1.0-18-amd64/modules.builtin'))).toBe('');
    const ids = text(paths.get('/usr/share/misc/pci.ids'));
    expect(ids).toContain('\t2204  GA102 [GeForce RTX 3090]');
    expect(ids).not.toMatch(/2206|Red Hat|Serial bus|\t\t/);
    // The hwdb too: names a host's old pci.ids lacks must survive the snapshot.
    const withHwdb = miniHost();
    mkdirSync(`${withHwdb}/usr/lib/udev/hwdb.d`, { recursive: true });
    writeFileSync(`${withHwdb}/usr/lib/udev/hwdb.d/20-pci-vendor-model.hwdb`,
      '# systemd\n\npci:v000010DE*\n ID_VENDOR_FROM_DATABASE=NVIDIA Corporation\n\npci:v000010DEd00002204*\n ID_MODEL_FROM_DATABASE=GA102 [GeForce RTX 3090]\n\n'
      + 'pci:v000010DEd00002204sv00001043sd000087B3*\n ID_MODEL_FROM_DATABASE=sub\n\npci:v000010DEd00002206*\n ID_MODEL_FROM_DATABASE=GA102 [GeForce RTX 3080]\n\npci:v00001AF4*\n ID_VENDOR_FROM_DATABASE=Red Hat, Inc.\n');
    const hwdb = text(byPath(captureSnapshot(new FsHost(withHwdb), meta).entries).get('/usr/lib/udev/hwdb.d/20-pci-vendor-model.hwdb'));
    expect(hwdb).toContain('pci:v000010DEd00002204*\n ID_MODEL_FROM_DATABASE=GA102 [GeForce RTX 3090]');
    expect(hwdb).toContain('pci:v000010DE*\n');
    expect(hwdb).not.toMatch(/2206|Red Hat|sv00001043/);
    expect(text(paths.get('/proc/cpuinfo'))).toBe(readFileSync(`${root}/proc/cpuinfo`, 'utf8'));
    expect(paths.get('/proc/cmdline')).toMatchObject({ mode: 0o444 });
    expect(paths.has('/etc/default/grub.d/50-gpu.cfg')).toBe(true);
    expect(paths.has('/etc/default/grub.d/README')).toBe(false);
    expect(paths.get('/etc/initramfs-tools')).toMatchObject({ kind: 'dir' });
    expect(paths.has('/etc/initramfs-tools/modules')).toBe(false);
  });

  it('records a failed read with its errno and still completes', () => {
    const { host } = spyHost(miniHost(), { fail: /autosuspend_delay_ms$/ });
    const { entries, manifest } = captureSnapshot(host, meta);
    expect(manifest.unreadable.length).toBe(11);
    expect(manifest.unreadable[0]).toEqual({ path: '/sys/devices/pci0000:00/0000:00:00.0/power/autosuspend_delay_ms', errno: 'EIO' });
    expect(entries.some((e) => e.path.endsWith('autosuspend_delay_ms'))).toBe(false);
    expect(entries.some((e) => e.path.endsWith('power/runtime_status'))).toBe(true);
  });

  it('counts files, links and directories in the manifest', () => {
    const { entries, manifest } = captureSnapshot(new FsHost(miniHost()), meta);
    const count = (k: SnapshotEntry['kind']) => entries.filter((e) => e.kind === k).length;
    expect(manifest).toMatchObject({
      format: 1, gpuvirtVersion: '0.0.0-test', createdAt: '2025-01-02T03:04:05.000Z', kernel: '6.1.0-18-amd64',
      files: count('file'), links: count('link'), dirs: count('dir'), unreadable: [],
    });
    const sorted = entries.map((e) => e.path);
    expect(sorted).toEqual([...sorted].sort());
  });

  it('works on a host without stat: modes from the kernel conventions, config not captured', () => {
    const { host } = spyHost(miniHost(), { noStat: true });
    const { entries, manifest } = captureSnapshot(host, meta);
    const paths = byPath(entries);
    expect(paths.get('/sys/bus/pci/drivers/nvidia/bind')).toMatchObject({ mode: 0o200, data: new Uint8Array(0) });
    expect(paths.get(`/${GPU.dir}/vendor`)).toMatchObject({ kind: 'file', mode: 0o644 });
    expect(paths.get(`/${GPU.dir}/iommu_group`)).toMatchObject({ kind: 'link', target: '../../../../kernel/iommu_groups/2' });
    expect(manifest.skipped).toContain(`/${GPU.dir}/config`);
  });
});
