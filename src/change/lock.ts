// One gpuvirt run at a time may change a host. The lock is a listening socket in Linux's
// abstract namespace, named after the host root: binding it is atomic, and the kernel releases
// it the moment its process ends, however it ends (kill -9 included), so there is never a stale
// lock to judge or take over. The file /run/gpuvirt.lock under the root only says who holds it.
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import type { Host } from '../host/host.js';
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { ExitCode, GpuvirtError } from '../errors.js';

export interface Lock {
  release(): void;
}

/** The socket name for a root: one lock per host tree. */
export function lockName(root: string): string {
  return `\0gpuvirt-lock-${createHash('sha256').update(root).digest('hex').slice(0, 24)}`;
}

function listen(name: string): Promise<net.Server | null> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(null) : reject(err)));
    server.listen({ path: name, exclusive: true }, () => {
      server.unref();
      resolve(server);
    });
  });
}

export async function acquireLock(host: Host, command: string, pid = process.pid): Promise<Lock> {
  let server: net.Server | null;
  try {
    server = await listen(lockName(host.root));
  } catch (err) {
    throw new GpuvirtError('E_LOCK', `cannot take gpuvirt's lock: ${(err as Error).message}`, { exitCode: ExitCode.failed, cause: err });
  }
  if (!server) {
    const [owner, ...what] = (readAttr(host, paths.lockFile) ?? '').split(' ');
    const who = owner && /^\d+$/.test(owner) ? `pid ${owner}, ${what.join(' ') || 'unknown'}` : 'another process';
    throw new GpuvirtError('E_LOCKED', `another gpuvirt run (${who}) is changing this host`, {
      exitCode: ExitCode.busy,
      hint: 'wait for it to finish, then run the command again',
    });
  }
  const info = `${pid} ${command}\n`;
  try {
    // /run is there on every running host; a tree without it gets no informative file.
    if (host.isDirectory(paths.lockFile.slice(0, paths.lockFile.lastIndexOf('/')))) host.writeFile(paths.lockFile, info, 0o644);
  } catch {
    // The file is only informative; the socket is the lock.
  }
  return {
    release() {
      try {
        if (host.readText(paths.lockFile) === info) host.removeFile(paths.lockFile);
      } catch {
        // informative only
      }
      server!.close();
    },
  };
}
