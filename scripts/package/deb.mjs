// npm run deb: the Debian package, build/gpuvirt_<version>_<arch>.deb, with dpkg-deb.
//
//   node scripts/package/deb.mjs [--arch x64|arm64]
//
// Its files are those payload.mjs stages (the executable, the man page, the completions, the
// example profiles, the licenses), in Debian's places; DEBIAN/ adds the control file and the
// md5sums.
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD, REPO, description, put, run, settle, sourceDateEpoch, stagePayload, walk } from './payload.mjs';

const DEB_ARCH = { x64: 'amd64', arm64: 'arm64' };

export async function buildDeb({ arch = process.arch } = {}) {
  const debArch = DEB_ARCH[arch];
  if (!debArch) throw new Error(`no Debian architecture for ${arch}`);
  rmSync(path.join(BUILD, 'deb'), { recursive: true, force: true });
  const root = path.join(BUILD, 'deb', 'root');
  const { pkg, native } = await stagePayload(root, { arch, layout: 'debian' });
  const about = description(pkg);

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
Description: ${about.summary}
${about.paragraphs.map((lines) => lines.map((l) => ` ${l}\n`).join('')).join(' .\n')}`);
  const epoch = sourceDateEpoch();
  settle(root, epoch);
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
