// The initramfs generators and systemctl, simulated by their effect on the files under the root.
// An initramfs image here is a text file that records what the generator baked in: every input
// file's content at build time (modprobe.d, the generator's own configuration, and for
// initramfs-tools the hooks it ran, which must be executable to run). It depends on nothing
// else, so a rebuild from the same files gives the same bytes (an undo that restores the files
// and rebuilds restores the image), and a test can tell which configuration an image was made
// from.
import type { ExecResult } from '../host/exec.js';
import { paths } from '../host/paths.js';
import { failed, kernelVersions, ok } from './boot-tools.js';
import { MODPROBE_DIRS } from './modprobe-conf.js';
import type { SimTree } from './tree.js';

const names = (t: SimTree, dir: string) => t.host.list(dir) ?? [];
const confs = (t: SimTree, dir: string, ext = '.conf') => names(t, dir).filter((n) => n.endsWith(ext)).map((n) => `${dir}/${n}`);

function build(t: SimTree, image: string, generator: string, version: string, inputs: string[], skipped: string[] = []): void {
  const parts = [`# simulated initramfs: ${generator} for ${version}`];
  for (const file of inputs) {
    const content = t.host.readText(file);
    if (content !== null) parts.push(`== ${file} ==`, content.replace(/\n$/, ''));
  }
  for (const file of skipped) parts.push(`== ${file} (not executable: not run) ==`);
  t.put(image, `${parts.join('\n')}\n`, 0o600);
}

const modprobeInputs = (t: SimTree) => MODPROBE_DIRS.flatMap((d) => confs(t, d));

/** The kernels update-initramfs -u may update: those with an image (or initramfs-tools' record of one). */
function existingInitrds(t: SimTree): string[] {
  const found = new Set(names(t, '/var/lib/initramfs-tools'));
  for (const n of names(t, '/boot')) if (n.startsWith('initrd.img-')) found.add(n.slice('initrd.img-'.length));
  return [...found].sort();
}

/** `update-initramfs -u -k all|VERSION`: -u updates existing images only; none is "nothing to do". */
export function updateInitramfs(t: SimTree, which: string): ExecResult {
  const versions = which === 'all' ? existingInitrds(t) : [which];
  if (which !== 'all' && !existingInitrds(t).includes(which)) {
    return failed(`/boot/initrd.img-${which} does not exist. Cannot update.\n`);
  }
  const hooksDir = `${paths.initramfsTools}/hooks`;
  const hooks = names(t, hooksDir).map((n) => `${hooksDir}/${n}`);
  const runs = (f: string) => ((t.stat(f)?.mode ?? 0) & 0o111) !== 0;
  const inputs = [paths.initramfsToolsModules, ...confs(t, `${paths.initramfsTools}/conf.d`, ''), ...hooks.filter(runs), ...modprobeInputs(t)];
  let out = '';
  for (const v of versions) {
    build(t, `/boot/initrd.img-${v}`, 'update-initramfs', v, inputs, hooks.filter((h) => !runs(h)));
    out += `update-initramfs: Generating /boot/initrd.img-${v}\n`;
  }
  return ok(out);
}

/** `dracut -f` (the running kernel) or `dracut --regenerate-all -f` (every installed one). */
export function dracut(t: SimTree, all: boolean): ExecResult {
  const running = t.host.readText(paths.osrelease)?.trim();
  const versions = all ? kernelVersions(t) : running ? [running] : [];
  const inputs = ['/etc/dracut.conf', ...confs(t, '/etc/dracut.conf.d'), ...modprobeInputs(t)];
  for (const v of versions) build(t, `/boot/initramfs-${v}.img`, 'dracut', v, inputs);
  return ok();
}

/** `mkinitcpio -P`: every preset in /etc/mkinitcpio.d, its default and fallback image. */
export function mkinitcpio(t: SimTree): ExecResult {
  const presets = names(t, '/etc/mkinitcpio.d').filter((n) => n.endsWith('.preset')).map((n) => n.slice(0, -'.preset'.length));
  if (presets.length === 0) return failed('==> ERROR: No presets found in /etc/mkinitcpio.d\n');
  const inputs = [paths.mkinitcpioConf, ...confs(t, '/etc/mkinitcpio.conf.d'), ...modprobeInputs(t)];
  let out = '';
  for (const p of presets) {
    for (const image of [`/boot/initramfs-${p}.img`, `/boot/initramfs-${p}-fallback.img`]) {
      build(t, image, 'mkinitcpio', p, inputs);
      out += `==> Image generation successful: ${image}\n`;
    }
  }
  return ok(out);
}

const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];
const ETC_UNITS = '/etc/systemd/system';

function unitFile(t: SimTree, unit: string): string | null {
  return UNIT_DIRS.map((d) => `${d}/${unit}`).find((f) => t.host.exists(f)) ?? null;
}

/** The [Install] section's WantedBy= and RequiredBy= targets, as `<target>.wants` / `.requires`. */
function installDirs(text: string): string[] {
  const out: string[] = [];
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const head = /^\[(.+)\]$/.exec(line);
    if (head) section = head[1]!;
    const m = /^(WantedBy|RequiredBy)=(.*)$/.exec(line);
    if (section === 'Install' && m) {
      for (const target of m[2]!.split(/\s+/).filter(Boolean)) out.push(`${target}.${m[1] === 'WantedBy' ? 'wants' : 'requires'}`);
    }
  }
  return out;
}

/** `systemctl enable|disable UNIT`, as the symlinks under /etc/systemd/system; `daemon-reload`. */
export function systemctl(t: SimTree, verb: 'enable' | 'disable' | 'daemon-reload', unit?: string): ExecResult {
  if (verb === 'daemon-reload') return ok();
  const file = unitFile(t, unit!);
  if (verb === 'enable') {
    if (file === null) return failed(`Failed to enable unit: Unit file ${unit} does not exist.\n`);
    const dirs = installDirs(t.host.readText(file) ?? '');
    if (dirs.length === 0) {
      return ok('', 'The unit files have no installation config (WantedBy=, RequiredBy=, Also=,\nAlias= settings in the [Install] section, and DefaultInstance= for template\nunits). This means they are not meant to be enabled using systemctl.\n');
    }
    let err = '';
    for (const d of dirs) {
      const link = `${ETC_UNITS}/${d}/${unit}`;
      if (t.host.readLink(link) !== null) continue;
      t.link(link, file); // relative here, where systemd writes it absolute: it must resolve inside the root
      err += `Created symlink ${link} → ${file}.\n`;
    }
    return ok('', err);
  }
  const links = names(t, ETC_UNITS).filter((d) => /\.(wants|requires)$/.test(d)).map((d) => `${ETC_UNITS}/${d}/${unit}`)
    .filter((l) => t.host.readLink(l) !== null);
  if (file === null && links.length === 0) return failed(`Failed to disable unit: Unit file ${unit} does not exist.\n`);
  let err = '';
  for (const l of links) {
    t.remove(l); // systemd leaves the emptied .wants directory behind, and so does this
    err += `Removed "${l}".\n`;
  }
  return ok('', err);
}
