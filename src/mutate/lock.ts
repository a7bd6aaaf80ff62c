// One gpuvirt run at a time may change a host: a lock file holding the owner's pid.
// A lock whose process is gone (crash, kill -9) is stale and taken over.
import type { Host } from '../host/host.js';
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';
import { ExitCode, GpuvirtError } from '../errors.js';

export function acquireLock(host: Host, command: string): () => void {
  const content = `${process.pid} ${command}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    if (host.createExclusive(paths.lockFile, content)) {
      return () => {
        if (host.readText(paths.lockFile) === content) host.removeFile(paths.lockFile);
      };
    }
    const [pid, owner] = (readAttr(host, paths.lockFile) ?? '').split(' ');
    if (pid && /^\d+$/.test(pid) && pid !== String(process.pid) && host.exists(paths.procPid(pid))) {
      throw new GpuvirtError('E_LOCKED', `another gpuvirt run (pid ${pid}, ${owner ?? 'unknown'}) is changing this host`, {
        exitCode: ExitCode.busy,
        hint: `wait for it to finish; if no gpuvirt is running, remove ${paths.lockFile}`,
      });
    }
    host.removeFile(paths.lockFile);
  }
  throw new GpuvirtError('E_LOCKED', `could not take the lock ${paths.lockFile}`, { exitCode: ExitCode.busy });
}
