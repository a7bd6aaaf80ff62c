// Files the user asked gpuvirt to write in their own directories (--out): not host state, so
// plain node:fs, but every failure is a one-line error naming the file, never a crash.
import { writeFileSync } from 'node:fs';
import { ExitCode, GpuvirtError, errnoOf, usageError } from './errors.js';

export function writeOutFile(out: string, data: string | Buffer, opts: { mode?: number; force?: boolean } = {}): void {
  try {
    writeFileSync(out, data, { flag: opts.force === false ? 'wx' : 'w', mode: opts.mode ?? 0o644 });
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === 'EEXIST') throw usageError(`--out ${out}: file exists (add --force to replace it)`);
    if (errno === 'ENOENT' || errno === 'ENOTDIR' || errno === 'EISDIR') throw usageError(`--out ${out}: cannot write there (${errno})`);
    throw new GpuvirtError('E_OUTPUT', `cannot write ${out}: ${errno ?? String(err)}`, { exitCode: ExitCode.failed, cause: err });
  }
}
