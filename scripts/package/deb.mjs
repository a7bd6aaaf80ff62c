// npm run deb: the Debian package, build/gpuvirt_<version>_<arch>.deb, with dpkg-deb.
//
//   node scripts/package/deb.mjs [--arch x64|arm64]
//
// It holds the single executable (npm run sea) as /usr/bin/gpuvirt, the man page and the bash,
// zsh and fish completions (scripts/package/docs.ts, from the command definitions), the example
// profiles and the licenses. No systemd unit: the only one gpuvirt uses
// (gpuvirt-nvidia-sriov.service) names this host's devices, so `sriov enable --persist`
// writes it on the host. Every file's time is the last commit's (SOURCE_DATE_EPOCH when set),
// so the same sources give the same package, byte for byte.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_VERSION, baseNode, buildSea } from './sea.mjs';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BUILD = path.join(REPO, 'build');
const DEB_ARCH = { x64: 'amd64', arm64: 'arm64' };

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error || r.status !== 0) throw new Error(`${[cmd, ...args].join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  return r;
}

function sourceDateEpoch() {
  if (/^\d+$/.test(process.env.SOURCE_DATE_EPOCH ?? '')) return Number(process.env.SOURCE_DATE_EPOCH);
  const r = spawnSync('git', ['log', '-1', '--format=%ct'], { cwd: REPO, encoding: 'utf8' });
  return r.status === 0 && /^\d+$/.test(r.stdout.trim()) ? Number(r.stdout.trim()) : 0;
}

/** Writes a file of the package: `content` is its text or bytes, or `{ from }` a file to copy. */
function put(root, rel, content, mode = 0o644) {
  const to = path.join(root, rel);
  mkdirSync(path.dirname(to), { recursive: true });
  if (content.from) copyFileSync(content.from, to);
  else writeFileSync(to, content);
  chmodSync(to, mode);
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [path.join(dir, e.name), ...walk(path.join(dir, e.name))] : [path.join(dir, e.name)]));
}

/** The bundled npm packages and their licenses, from the lockfile (those the program imports at run time). */
function bundledLicenses() {
  const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8'));
  return Object.entries(lock.packages)
    .filter(([p, info]) => p.startsWith('node_modules/') && !info.dev && !info.optional)
    .map(([p, info]) => `${p.replace(/^(node_modules\/)+|node_modules\//g, '')} ${info.version}: ${info.license ?? 'see the package'}`)
    .sort();
}

function copyright(pkg, nodeLicense) {
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: gpuvirt

Files: *
License: ${pkg.license}

Comment: /usr/bin/gpuvirt is Node.js ${NODE_VERSION} (its license follows) with gpuvirt and these npm packages inside:
${bundledLicenses().map((l) => ` ${l}`).join('\n')}
 .
${nodeLicense.trimEnd().split('\n').map((l) => (l.trim() === '' ? ' .' : ` ${l}`)).join('\n')}
`;
}

export async function buildDeb({ arch = process.arch } = {}) {
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  const debArch = DEB_ARCH[arch];
  if (!debArch) throw new Error(`no Debian architecture for ${arch}`);
  const { out: exe, native } = await buildSea({ arch });
  const docs = path.join(BUILD, 'docs');
  rmSync(docs, { recursive: true, force: true });
  run(path.join(REPO, 'node_modules', '.bin', 'tsx'), [path.join(REPO, 'scripts', 'package', 'docs.ts'), docs], { stdio: ['ignore', 'inherit', 'inherit'] });

  const root = path.join(BUILD, 'deb', 'root');
  rmSync(path.join(BUILD, 'deb'), { recursive: true, force: true });
  put(root, 'usr/bin/gpuvirt', { from: exe }, 0o755);
  put(root, 'usr/share/man/man1/gpuvirt.1.gz', run('gzip', ['-9n', '-c', path.join(docs, 'gpuvirt.1')], { encoding: 'buffer' }).stdout);
  put(root, 'usr/share/bash-completion/completions/gpuvirt', { from: path.join(docs, 'gpuvirt.bash') });
  put(root, 'usr/share/zsh/vendor-completions/_gpuvirt', { from: path.join(docs, '_gpuvirt') });
  put(root, 'usr/share/fish/vendor_completions.d/gpuvirt.fish', { from: path.join(docs, 'gpuvirt.fish') });
  const nodeLicense = readFileSync(path.join(path.dirname(path.dirname(baseNode(arch))), 'LICENSE'), 'utf8');
  put(root, 'usr/share/doc/gpuvirt/copyright', copyright(pkg, nodeLicense));
  for (const f of readdirSync(path.join(REPO, 'profiles')).filter((f) => f.endsWith('.yaml')).sort()) {
    put(root, `usr/share/doc/gpuvirt/examples/${f}`, { from: path.join(REPO, 'profiles', f) });
  }

  const files = walk(root).sort();
  const md5sums = files.filter((f) => statSync(f).isFile())
    .map((f) => `${createHash('md5').update(readFileSync(f)).digest('hex')}  ${path.relative(root, f)}\n`).join('');
  const installedKiB = files.reduce((n, f) => n + Math.ceil(statSync(f).size / 1024), 0);
  put(root, 'DEBIAN/md5sums', md5sums);
  put(root, 'DEBIAN/control', `Package: gpuvirt
Version: ${pkg.version}
Architecture: ${debArch}
Maintainer: gpuvirt developers <gpuvirt@users.noreply.github.com>
Installed-Size: ${installedKiB}
Depends: libc6 (>= 2.28), libgcc-s1 | libgcc1, libstdc++6 (>= 5.2)
Recommends: pci.ids
Section: admin
Priority: optional
Description: ${pkg.description.replace(/, safely,.*$/, '')}
 gpuvirt checks whether a Linux host is ready for GPU passthrough and SR-IOV
 (doctor), binds devices to vfio-pci with rollback, manages virtual functions
 and writes QEMU, libvirt and Proxmox VE configuration from VM profiles.
 .
 A single executable: Node.js ${NODE_VERSION} is inside, none is needed on the host.
`);
  const epoch = sourceDateEpoch();
  for (const f of [root, ...walk(root)]) {
    if (statSync(f).isDirectory()) chmodSync(f, 0o755);
    utimesSync(f, epoch, epoch);
  }
  const deb = path.join(BUILD, `gpuvirt_${pkg.version}_${debArch}.deb`);
  run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, deb], { env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) } });
  return { deb, native };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const arch = args[0] === '--arch' ? args[1] : undefined;
  if (args.length !== (arch ? 2 : 0)) {
    console.error('usage: node scripts/package/deb.mjs [--arch x64|arm64]');
    process.exit(2);
  }
  try {
    const { deb } = await buildDeb({ arch });
    console.log(path.relative(REPO, deb));
  } catch (err) {
    console.error(`deb: ${err.message}`);
    process.exitCode = 1;
  }
}
