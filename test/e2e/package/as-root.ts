// The package tests need root (debootstrap, chroot, dpkg): as root they run commands directly,
// otherwise through sudo without a password, as CI's .ci/run does its installs.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';

export function sh(cmd: string, args: string[], opts: SpawnSyncOptions = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  return { code: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** Whether a tool is installed, in sbin too (a user's PATH often lacks it; root's and sudo's have it). */
export const has = (tool: string) => sh('sh', ['-c', `PATH="$PATH:/usr/sbin:/sbin" command -v ${tool}`]).code === 0;

/** What runs a command as root here, or undefined when nothing can. */
const prefix: string[] | undefined = process.getuid?.() === 0 ? [] : has('sudo') && sh('sudo', ['-n', 'true']).code === 0 ? ['sudo', '-n'] : undefined;

export const canBeRoot = prefix !== undefined;

export function asRoot(cmd: string, args: string[], opts: SpawnSyncOptions = {}) {
  if (!prefix) throw new Error('neither root nor sudo without a password');
  const [c, ...a] = [...prefix, cmd, ...args];
  return sh(c!, a, opts);
}

/**
 * Deletes a scratch tree that root made. The mounts the tests make live in namespaces that are
 * gone by now; were one still there (the host's /dev!), deleting would go through it, so a
 * mount under it is an error and rm stays on one file system anyway.
 */
export function removeTree(dir: string, mountinfo: string): void {
  const mounted = mountinfo.split('\n').filter((l) => l.split(' ')[4]?.startsWith(dir));
  if (mounted.length) throw new Error(`not deleting ${dir}: still mounted there:\n${mounted.join('\n')}`);
  const r = asRoot('rm', ['-rf', '--one-file-system', dir]);
  if (r.code !== 0) throw new Error(`rm -rf ${dir}: ${r.stderr}`);
}
