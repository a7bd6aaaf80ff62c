// A private libvirt daemon for tests: session mode, as an unprivileged user (nobody when the
// tests run as root, since session mode is per user), with its own runtime, config and cache
// directories, so nothing of the machine's libvirt is touched; stopped by its pid.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

export interface PrivateLibvirtd {
  /** libvirtd (or virtqemud), virsh and QEMU are installed. */
  ready: boolean;
  /** Its own directory: files virsh reads must be here (readable by the daemon's user). */
  dir: string;
  virsh(args: readonly string[]): { code: number; out: string; err: string };
  /** Makes `extra` directories (owned by the daemon's user), starts the daemon, waits until virsh answers. */
  start(extra?: readonly string[]): Promise<void>;
  stop(): void;
  /** What the daemon said on stderr, and its exit. */
  log(): string;
}

export function privateLibvirtd(prefix: string): PrivateLibvirtd {
  const libvirtd = ['/usr/sbin/libvirtd', '/usr/sbin/virtqemud'].find((p) => existsSync(p)) ?? null;
  const ready = libvirtd !== null && has('virsh') && has('qemu-system-x86_64');
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const env = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: join(dir, 'home'),
    XDG_CONFIG_HOME: join(dir, 'config'), XDG_RUNTIME_DIR: join(dir, 'run'), XDG_CACHE_HOME: join(dir, 'cache'),
    // virsh would otherwise spawn a daemon of its own when ours is not listening yet.
    LIBVIRT_AUTOSTART: '0',
  };
  const asUser = (argv: string[]) => (root ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', ...argv] : argv);
  let daemon: ChildProcess | null = null;
  let log = '';
  const virsh = (args: readonly string[]) => {
    const [cmd, ...rest] = asUser(['virsh', '-c', 'qemu:///session', ...args]);
    const r = spawnSync(cmd!, rest, { env, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  };
  return {
    ready, dir, virsh,
    async start(extra = []) {
      if (!ready) return;
      const dirs = [...Object.values(env).slice(1, 5), ...extra];
      for (const d of dirs) mkdirSync(d, { recursive: true, mode: 0o700 });
      if (root) for (const d of [dir, ...dirs]) chownSync(d, 65534, 65534);
      const [cmd, ...rest] = asUser([libvirtd!, '--timeout', '0']);
      daemon = spawn(cmd!, rest, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      daemon.stderr!.on('data', (b) => (log += String(b)));
      daemon.on('exit', (code) => {
        log += `\n(libvirtd exited: ${code})`;
        daemon = null;
      });
      for (let i = 0; i < 300 && daemon && virsh(['version']).code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    },
    stop() {
      if (daemon?.pid) process.kill(daemon.pid, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => log,
  };
}
