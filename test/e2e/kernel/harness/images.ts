// Builds what QEMU boots: the uncompressed kernel (vmlinux, booted through its PVH entry) and
// an initramfs made of three cpio parts, each cached under a key of its inputs:
//   base  busybox, dash, kmod, the kernel modules, /init, the VFIO helper   (kernel, tools)
//   node  this machine's node binary, stripped, with the libraries ldd lists (node)
//   app   the built gpuvirt (bin/, dist/, package.json) and the guest program (every change)
// so a change to gpuvirt rebuilds only the small app part. Machines that run the nested-VM
// scenarios (MACHINE_SPECS[m].nested) get a fourth part before app:
//   nested  qemu-system-x86_64 for a VM inside the guest, and what that VM (L2) boots  (QEMU, kernel)
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCpio, type Entry } from './cpio.js';
import { NESTED_QEMU_FILES, type Tools } from './prerequisites.js';
import { MACHINE_SPECS, type MachineName } from '../topology.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const E2E = path.dirname(HERE);
export const REPO = path.resolve(E2E, '../../..');

/** Modules the guest needs, with everything they depend on (modprobe --show-depends). */
const MODULES = ['vfio', 'vfio-pci', 'vfio_iommu_type1', 'pci-stub', 'pci-pf-stub', 'nvme', 'e1000e', 'e1000', 'snd-hda-intel', 'bochs'];
/** kmod provides these; busybox's versions ignore softdeps. */
const KMOD_TOOLS = ['modprobe', 'insmod', 'rmmod', 'lsmod', 'modinfo', 'depmod'];

export interface Images {
  kernel: string;
  /** The initramfs of each machine asked for. */
  initrds: Partial<Record<MachineName, string>>;
  /** Seconds spent building (0 when everything came from the cache). */
  buildSeconds: number;
}

const sha = (...parts: (string | Buffer)[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
};
const statKey = (file: string) => {
  const st = fs.statSync(file);
  return `${file}:${st.size}:${st.mtimeMs}`;
};
const fileHash = (file: string) => sha(fs.readFileSync(file));

export function cacheDir(): string {
  return process.env.GPUVIRT_E2E_CACHE ?? path.join(REPO, '.tmp', 'e2e-kernel');
}

/** Makes `file` with `make(tmp)` unless it exists; atomic, so an interrupted build leaves nothing. */
function cached(file: string, make: (tmp: string) => void): string {
  if (fs.existsSync(file)) return file;
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    make(tmp);
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true, recursive: true });
  }
  return file;
}

/** Collects entries by path, adding parent directories first. */
class Tree {
  private readonly entries = new Map<string, Entry>();
  dir(p: string): void {
    const parts = p.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!this.entries.has(d)) this.entries.set(d, { type: 'dir', path: d });
    }
  }
  add(e: Entry): void {
    const p = e.path.replace(/^\/+/, '');
    this.dir(path.posix.dirname(p) === '.' ? '' : path.posix.dirname(p));
    this.entries.set(p, { ...e, path: p });
  }
  /** A host file at its own path, e.g. a library. */
  hostFile(file: string, mode = 0o755): void {
    this.add({ type: 'file', path: file, source: fs.realpathSync(file), mode });
  }
  list(): Entry[] {
    return [...this.entries.values()];
  }
}

/** The shared libraries a dynamic executable loads, as ldd resolves them on this machine. */
function libraries(binary: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return []; // "not a dynamic executable"
  }
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}

function addBinaryLibs(tree: Tree, binary: string): void {
  for (const lib of libraries(binary)) tree.hostFile(lib);
}

/** Unpacks vmlinux (an ELF with a PVH entry) from a bzImage: the setup header (Documentation/x86/boot.rst)
 *  says where its XZ payload is. */
export function extractVmlinux(bzImage: string, out: string): void {
  const img = fs.readFileSync(bzImage);
  const setupSects = img.readUInt8(0x1f1) || 4;
  const payload = img.subarray((setupSects + 1) * 512 + img.readUInt32LE(0x248));
  const xzMagic = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  if (!payload.subarray(0, 6).equals(xzMagic)) throw new Error(`${bzImage}: payload is not XZ (Debian kernels are); boot the bzImage instead`);
  const elf = execFileSync('xz', ['-dc', '--single-stream'], { input: payload.subarray(0, img.readUInt32LE(0x24c)), maxBuffer: 1 << 30 });
  if (!elf.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1'))) throw new Error(`${bzImage}: the payload did not unpack to an ELF kernel`);
  fs.writeFileSync(out, elf);
}

function kernelImage(tools: Tools, dir: string): string {
  const out = path.join(dir, `vmlinux-${tools.kver}-${sha(statKey(tools.vmlinuz))}`);
  try {
    return cached(out, (tmp) => extractVmlinux(tools.vmlinuz, tmp));
  } catch (err) {
    // The bzImage boots too, only ~3 s slower under TCG (its decompressor runs emulated).
    process.stderr.write(`gpuvirt e2e: using ${tools.vmlinuz} as is: ${(err as Error).message}\n`);
    return tools.vmlinuz;
  }
}

function vfioHelper(dir: string): string {
  const src = path.join(HERE, 'vfio-check.c');
  return cached(path.join(dir, `vfio-check-${fileHash(src)}`), (tmp) => {
    execFileSync('gcc', ['-static', '-O2', '-Wall', '-o', tmp, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  });
}

/** Module files for MODULES and their dependencies, with depmod's indexes, staged under `stage`. */
function stageModules(tools: Tools, stage: string): void {
  const src = `/lib/modules/${tools.kver}`;
  const dst = path.join(stage, 'lib/modules', tools.kver);
  const files = new Set<string>();
  for (const m of MODULES) {
    const out = execFileSync(tools.modprobe, ['-S', tools.kver, '--show-depends', m], { encoding: 'utf8' });
    for (const line of out.split('\n')) {
      const file = /^insmod (\S+)/.exec(line)?.[1];
      if (file) files.add(file);
    }
  }
  for (const f of [...files, ...['modules.order', 'modules.builtin', 'modules.builtin.modinfo'].map((n) => `${src}/${n}`)]) {
    if (!fs.existsSync(f)) continue;
    const target = path.join(dst, path.relative(src, f));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(f, target);
  }
  execFileSync(tools.depmod, ['-b', stage, tools.kver]);
}

function walk(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const r = path.posix.join(rel, e.name);
    if (e.isDirectory()) out.push(...walk(root, r));
    else out.push(r);
  }
  return out;
}

function basePart(tools: Tools, dir: string, helper: string): string {
  const init = path.join(E2E, 'guest', 'init.sh');
  const hook = path.join(E2E, 'guest', 'uevent-hook.sh');
  const key = sha(tools.kver, statKey(`/lib/modules/${tools.kver}/modules.dep`), MODULES.join(','), statKey(tools.busybox), statKey(tools.dash),
    statKey(tools.kmod), fileHash(init), fileHash(hook), fileHash(helper), fileHash(fileURLToPath(import.meta.url)), fileHash(path.join(HERE, 'cpio.ts')));
  return cached(path.join(dir, `base-${key}.cpio`), (tmp) => {
    const t = new Tree();
    for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'var/lib', 'root', 'etc', 'sbin', 'usr/bin', 'usr/sbin']) t.dir(d);
    t.add({ type: 'char', path: 'dev/console', major: 5, minor: 1 });
    t.add({ type: 'file', path: 'init', source: init, mode: 0o755 });
    t.add({ type: 'file', path: 'etc/uevent-hook', source: hook, mode: 0o755 });
    t.add({ type: 'file', path: 'bin/busybox', source: tools.busybox, mode: 0o755 });
    const applets = execFileSync(tools.busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const a of applets) if (a !== 'sh' && a !== 'busybox' && !KMOD_TOOLS.includes(a)) t.add({ type: 'symlink', path: `bin/${a}`, target: 'busybox' });
    t.add({ type: 'file', path: 'bin/dash', source: tools.dash, mode: 0o755 });
    t.add({ type: 'symlink', path: 'bin/sh', target: 'dash' });
    t.add({ type: 'file', path: 'bin/kmod', source: tools.kmod, mode: 0o755 });
    for (const k of KMOD_TOOLS) t.add({ type: 'symlink', path: `sbin/${k}`, target: '../bin/kmod' });
    for (const b of [tools.busybox, tools.dash, tools.kmod]) addBinaryLibs(t, b);
    t.add({ type: 'file', path: 'opt/e2e/vfio-check', source: helper, mode: 0o755 });
    const stage = fs.mkdtempSync(path.join(dir, 'modules-'));
    try {
      stageModules(tools, stage);
      for (const f of walk(stage)) t.add({ type: 'file', path: f, source: path.join(stage, f) });
      writeCpio(tmp, t.list());
    } finally {
      fs.rmSync(stage, { recursive: true, force: true });
    }
  });
}

function nodePart(tools: Tools, dir: string): string {
  return cached(path.join(dir, `node-${sha(statKey(tools.node))}.cpio`), (tmp) => {
    const t = new Tree();
    const stripped = `${tmp}.node`;
    try {
      // ~13 MB less to unpack at every boot; an unstripped node works too.
      execFileSync('strip', ['--strip-unneeded', '-o', stripped, tools.node], { stdio: 'ignore' });
    } catch {
      fs.copyFileSync(tools.node, stripped);
    }
    try {
      t.add({ type: 'file', path: 'usr/bin/node', source: stripped, mode: 0o755 });
      addBinaryLibs(t, tools.node);
      writeCpio(tmp, t.list());
    } finally {
      fs.rmSync(stripped, { force: true });
    }
  });
}

/** L2's /init: finds the edu device passed to it, uses it (MMIO and DMA) and powers off. */
function eduProbe(dir: string): string {
  const src = path.join(HERE, 'edu-probe.c');
  return cached(path.join(dir, `edu-probe-${fileHash(src)}`), (tmp) => {
    execFileSync('gcc', ['-static', '-O2', '-Wall', '-o', tmp, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  });
}

/** The std VGA's VBE switch (16-bit port I/O, which node cannot do), for the x-vga scenario. */
function vgaVbe(dir: string): string {
  const src = path.join(HERE, 'vga-vbe.c');
  return cached(path.join(dir, `vga-vbe-${fileHash(src)}`), (tmp) => {
    execFileSync('gcc', ['-static', '-O2', '-Wall', '-o', tmp, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  });
}

/** Where the nested guest's kernel and initramfs are in the e2e guest. */
export const L2_KERNEL = 'opt/e2e/l2/vmlinux';
export const L2_INITRD = 'opt/e2e/l2/initrd.cpio';
export const VGA_VBE = 'opt/e2e/vga-vbe';

/** The nested QEMU (its binary at /usr/bin, so it finds its firmware in /usr/share), and L2's kernel (the same
 *  vmlinux) and initramfs (edu-probe as /init); the VBE switch for the x-vga scenario. */
function nestedPart(tools: Tools, dir: string, kernel: string, probe: string, vbe: string): string {
  const files = [tools.qemu, ...NESTED_QEMU_FILES];
  const key = sha(...files.map(statKey), statKey(kernel), fileHash(probe), fileHash(vbe), fileHash(fileURLToPath(import.meta.url)), fileHash(path.join(HERE, 'cpio.ts')));
  return cached(path.join(dir, `nested-${key}.cpio`), (tmp) => {
    const l2 = `${tmp}.l2`;
    try {
      writeCpio(l2, [
        { type: 'dir', path: 'dev' }, { type: 'dir', path: 'proc' }, { type: 'dir', path: 'sys' },
        { type: 'char', path: 'dev/console', major: 5, minor: 1 },
        { type: 'file', path: 'init', source: probe, mode: 0o755 },
      ]);
      const t = new Tree();
      t.add({ type: 'file', path: 'usr/bin/qemu-system-x86_64', source: fs.realpathSync(tools.qemu), mode: 0o755 });
      addBinaryLibs(t, tools.qemu);
      for (const f of NESTED_QEMU_FILES) t.hostFile(f, 0o644);
      t.add({ type: 'file', path: L2_KERNEL, source: kernel, mode: 0o644 });
      t.add({ type: 'file', path: L2_INITRD, source: l2, mode: 0o644 });
      t.add({ type: 'file', path: VGA_VBE, source: vbe, mode: 0o755 });
      writeCpio(tmp, t.list());
    } finally {
      fs.rmSync(l2, { force: true });
    }
  });
}

/** Packages dist/ loads at run time (anything esbuild left unbundled), with their own dependencies. */
export function runtimePackages(distDir: string): string[] {
  const builtins = new Set(builtinModules);
  const wanted = new Set<string>();
  for (const f of fs.readdirSync(distDir).filter((n) => /\.c?js$/.test(n))) {
    const text = fs.readFileSync(path.join(distDir, f), 'utf8');
    for (const m of text.matchAll(/(?:\bfrom|\bimport\s*\(|\brequire\s*\()\s*["']([\w@][\w@/.-]*)["']/g)) {
      const spec = m[1]!;
      if (spec.startsWith('node:') || builtins.has(spec) || builtins.has(spec.split('/')[0]!)) continue;
      wanted.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  const todo = [...wanted];
  const seen = new Set<string>();
  while (todo.length) {
    const name = todo.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    todo.push(...Object.keys(pkg.dependencies ?? {}));
  }
  return [...seen].sort();
}

async function guestProgram(): Promise<string> {
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [path.join(E2E, 'guest', 'main.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', write: false, logLevel: 'warning',
  });
  return out.outputFiles[0]!.text;
}

async function appPart(dir: string): Promise<string> {
  const t = new Tree();
  const hashes: string[] = [];
  const addRepoFile = (rel: string, mode = 0o644) => {
    const source = path.join(REPO, rel);
    t.add({ type: 'file', path: `opt/gpuvirt/${rel}`, source, mode });
    hashes.push(rel, fileHash(source));
  };
  addRepoFile('bin/gpuvirt', 0o755);
  addRepoFile('bin/commands.js', 0o644);
  addRepoFile('bin/package.json', 0o644);
  addRepoFile('package.json');
  const dist = path.join(REPO, 'dist');
  if (!fs.existsSync(path.join(dist, 'gpuvirt.cjs'))) throw new Error('dist/gpuvirt.cjs is missing: run `npm run build` first');
  for (const f of walk(dist)) addRepoFile(`dist/${f}`);
  for (const pkg of runtimePackages(dist)) for (const f of walk(path.join(REPO, 'node_modules', pkg))) addRepoFile(`node_modules/${pkg}/${f}`);
  const program = await guestProgram();
  t.add({ type: 'data', path: 'opt/e2e/run.mjs', data: program });
  hashes.push(program);
  return cached(path.join(dir, `app-${sha(...hashes)}.cpio`), (tmp) => writeCpio(tmp, t.list()));
}

/** Builds (or takes from the cache) the kernel and each machine's initramfs, and drops stale cache entries. */
export async function buildImages(tools: Tools, machines: readonly MachineName[]): Promise<Images> {
  const started = Date.now();
  const dir = cacheDir();
  fs.mkdirSync(dir, { recursive: true });
  const kernel = kernelImage(tools, dir);
  const helper = vfioHelper(dir);
  const [base, node, app] = [basePart(tools, dir, helper), nodePart(tools, dir), await appPart(dir)];
  const made = [kernel, helper, base, node, app];
  const join = (parts: string[]) => {
    const initrd = cached(path.join(dir, `initrd-${sha(...parts)}.img`), (tmp) => {
      fs.writeFileSync(tmp, '');
      for (const p of parts) fs.appendFileSync(tmp, fs.readFileSync(p));
    });
    made.push(...parts, initrd);
    return initrd;
  };
  const plain = machines.some((m) => !MACHINE_SPECS[m].nested) ? join([base, node, app]) : null;
  let nested: string | null = null;
  if (machines.some((m) => MACHINE_SPECS[m].nested)) {
    const probe = eduProbe(dir);
    const vbe = vgaVbe(dir);
    made.push(probe, vbe);
    nested = join([base, node, nestedPart(tools, dir, kernel, probe, vbe), app]);
  }
  const initrds = Object.fromEntries(machines.map((m) => [m, (MACHINE_SPECS[m].nested ? nested : plain)!]));
  const keep = new Set(made.map((f) => path.basename(f)));
  for (const f of fs.readdirSync(dir)) {
    if (!keep.has(f) && /^(vmlinux|vfio-check|edu-probe|vga-vbe|base|node|nested|app|initrd|modules)-/.test(f)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
  }
  return { kernel, initrds, buildSeconds: (Date.now() - started) / 1000 };
}
