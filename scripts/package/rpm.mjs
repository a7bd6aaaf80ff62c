// npm run rpm: the RPM package for Fedora, RHEL and the like,
// build/gpuvirt-<version>-1.<arch>.rpm, with rpmbuild (Debian's `rpm` package has it).
//
//   node scripts/package/rpm.mjs [--arch x64|arm64]
//
// The same files as the .deb (payload.mjs), in Fedora's places: zsh's site-functions, the
// licenses under /usr/share/licenses. rpmbuild only packs them: nothing is compiled, and its
// post-install steps (strip, which would cut the program out of the executable, man page
// compression, build-id links) are off. Its dependencies are those rpm reads from the
// executable (glibc, libstdc++ and libgcc by symbol version). The package owns the directories
// it adds, the completion directories included (shared with the shells' packages, as rpm
// allows), so removing it leaves none behind. Reproducible as the .deb is: SOURCE_DATE_EPOCH
// is the last commit's time, and the build host and build time are fixed.
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD, REPO, description, run, settle, sourceDateEpoch, stagePayload, walk } from './payload.mjs';

const RPM_ARCH = { x64: 'x86_64', arm64: 'aarch64' };

/** Directories every system has (the filesystem package's): not the package's to own. */
const SYSTEM_DIRS = new Set(['usr', 'usr/bin', 'usr/share', 'usr/share/man', 'usr/share/man/man1', 'usr/share/doc', 'usr/share/licenses']);

/** A path in a spec's %files: quoted, so no character in it is a macro or a glob. */
const quoted = (rel) => {
  if (!/^[A-Za-z0-9._/+-]+$/.test(rel)) throw new Error(`${rel}: a name rpm would read as more than a path`);
  return `"/${rel}"`;
};

/** A path as one word of the spec's shell script: single-quoted, and `%` doubled so rpm expands no macro in it. */
const shellWord = (p) => `'${p.replace(/'/g, "'\\''").replace(/%/g, '%%')}'`;

function spec({ pkg, root }) {
  const about = description(pkg);
  const files = walk(root).sort().map((f) => {
    const rel = path.relative(root, f);
    if (statSync(f).isDirectory()) return SYSTEM_DIRS.has(rel) ? null : `%dir ${quoted(rel)}`;
    return rel.startsWith('usr/share/licenses/') ? `%license ${quoted(rel)}` : quoted(rel);
  }).filter(Boolean);
  return `%global __os_install_post %{nil}
%global debug_package %{nil}
%global _build_id_links none
%global _binary_payload w6.xzdio
%global _buildhost gpuvirt
%global source_date_epoch_from_changelog 0
%global use_source_date_epoch_as_buildtime 1
%global clamp_mtime_to_source_date_epoch 1

Name: gpuvirt
Version: ${pkg.version}
Release: 1
Summary: ${about.summary}
License: ${pkg.license}
Recommends: hwdata

%description
${about.paragraphs.map((lines) => lines.join('\n')).join('\n\n')}

%install
cp -a ${shellWord(root)}/. %{buildroot}/

%files
%defattr(-,root,root,-)
${files.join('\n')}
`;
}

export async function buildRpm({ arch = process.arch } = {}) {
  const rpmArch = RPM_ARCH[arch];
  if (!rpmArch) throw new Error(`no RPM architecture for ${arch}`);
  const work = path.join(BUILD, 'rpm');
  rmSync(work, { recursive: true, force: true });
  const root = path.join(work, 'root');
  const { pkg, native } = await stagePayload(root, { arch, layout: 'rpm' });
  const epoch = sourceDateEpoch();
  settle(root, epoch);
  const top = path.join(work, 'top');
  mkdirSync(path.join(top, 'SPECS'), { recursive: true });
  const specFile = path.join(top, 'SPECS', 'gpuvirt.spec');
  writeFileSync(specFile, spec({ pkg, root }));
  run('rpmbuild', ['-bb', '--quiet', '--target', `${rpmArch}-linux`, '--define', `_topdir ${top}`, '--define', `_rpmdir ${BUILD}`,
    '--define', '_build_name_fmt %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm', specFile], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch), LC_ALL: 'C', TZ: 'UTC' },
  });
  return { rpm: path.join(BUILD, `gpuvirt-${pkg.version}-1.${rpmArch}.rpm`), native };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const arch = args[0] === '--arch' ? args[1] : undefined;
  if (args.length !== (arch ? 2 : 0)) {
    console.error('usage: node scripts/package/rpm.mjs [--arch x64|arm64]');
    process.exit(2);
  }
  try {
    const { rpm } = await buildRpm({ arch });
    console.log(path.relative(REPO, rpm));
  } catch (err) {
    console.error(`rpm: ${err.message}`);
    process.exitCode = 1;
  }
}
