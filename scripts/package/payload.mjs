// What the .deb (deb.mjs) and the .rpm (rpm.mjs) hold, staged as a file tree by one function:
// the single executable (npm run sea) as /usr/bin/gpuvirt, the man page and the bash, zsh and
// fish completions (scripts/package/docs.ts, from the command definitions), the example
// profiles and the licenses. The two differ only where their distributions put a file.
//
// No systemd unit: the only one gpuvirt uses (gpuvirt-nvidia-sriov.service) names this host's
// devices, so `sriov enable --persist` writes it on the host. Every file's time is the last
// commit's (SOURCE_DATE_EPOCH when set), so the same sources give the same package, byte for byte.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_VERSION, baseNode, buildSea } from './sea.mjs';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BUILD = path.join(REPO, 'build');

/** Where each distribution family puts what is not in the same place everywhere. */
export const LAYOUTS = {
  debian: { zsh: 'usr/share/zsh/vendor-completions', license: 'usr/share/doc/gpuvirt' },
  // Fedora and RHEL: zsh's site-functions, and licenses under /usr/share/licenses (%license).
  rpm: { zsh: 'usr/share/zsh/site-functions', license: 'usr/share/licenses/gpuvirt' },
};

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error || r.status !== 0) throw new Error(`${[cmd, ...args].join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  return r;
}

export function sourceDateEpoch() {
  if (/^\d+$/.test(process.env.SOURCE_DATE_EPOCH ?? '')) return Number(process.env.SOURCE_DATE_EPOCH);
  const r = spawnSync('git', ['log', '-1', '--format=%ct'], { cwd: REPO, encoding: 'utf8' });
  return r.status === 0 && /^\d+$/.test(r.stdout.trim()) ? Number(r.stdout.trim()) : 0;
}

export function packageJson() {
  return JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
}

/** The package's one-line summary and its description's paragraphs (each a list of lines). */
export function description(pkg) {
  return {
    summary: pkg.description.replace(/, safely,.*$/, ''),
    paragraphs: [
      [
        'gpuvirt checks whether a Linux host is ready for GPU passthrough and SR-IOV',
        '(doctor), binds devices to vfio-pci with rollback, manages virtual functions',
        'and writes QEMU, libvirt and Proxmox VE configuration from VM profiles.',
      ],
      [`A single executable: Node.js ${NODE_VERSION} is inside, none is needed on the host.`],
    ],
  };
}

/** Writes a file of the package: `content` is its text or bytes, or `{ from }` a file to copy. */
export function put(root, rel, content, mode = 0o644) {
  const to = path.join(root, rel);
  mkdirSync(path.dirname(to), { recursive: true });
  if (content.from) copyFileSync(content.from, to);
  else writeFileSync(to, content);
  chmodSync(to, mode);
}

/** Every path under `dir`, directories before what they hold. */
export function walk(dir) {
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

/** The package's files under `root` (emptied first), laid out for `layout` (LAYOUTS); the executable is built for `arch`. */
export async function stagePayload(root, { arch = process.arch, layout }) {
  const where = LAYOUTS[layout];
  if (!where) throw new Error(`no package layout ${layout}`);
  const pkg = packageJson();
  const { out: exe, native } = await buildSea({ arch });
  const docs = path.join(BUILD, 'docs');
  rmSync(docs, { recursive: true, force: true });
  run(path.join(REPO, 'node_modules', '.bin', 'tsx'), [path.join(REPO, 'scripts', 'package', 'docs.ts'), docs], { stdio: ['ignore', 'inherit', 'inherit'] });

  rmSync(root, { recursive: true, force: true });
  put(root, 'usr/bin/gpuvirt', { from: exe }, 0o755);
  put(root, 'usr/share/man/man1/gpuvirt.1.gz', run('gzip', ['-9n', '-c', path.join(docs, 'gpuvirt.1')], { encoding: 'buffer' }).stdout);
  put(root, 'usr/share/bash-completion/completions/gpuvirt', { from: path.join(docs, 'gpuvirt.bash') });
  put(root, `${where.zsh}/_gpuvirt`, { from: path.join(docs, '_gpuvirt') });
  put(root, 'usr/share/fish/vendor_completions.d/gpuvirt.fish', { from: path.join(docs, 'gpuvirt.fish') });
  const nodeLicense = readFileSync(path.join(path.dirname(path.dirname(baseNode(arch))), 'LICENSE'), 'utf8');
  put(root, `${where.license}/copyright`, copyright(pkg, nodeLicense));
  for (const f of readdirSync(path.join(REPO, 'profiles')).filter((f) => f.endsWith('.yaml')).sort()) {
    put(root, `usr/share/doc/gpuvirt/examples/${f}`, { from: path.join(REPO, 'profiles', f) });
  }
  return { pkg, native };
}

/** Gives every directory under `root` mode 0755 and every path the time `epoch`. */
export function settle(root, epoch) {
  for (const f of [root, ...walk(root)]) {
    if (statSync(f).isDirectory()) chmodSync(f, 0o755);
    utimesSync(f, epoch, epoch);
  }
}
