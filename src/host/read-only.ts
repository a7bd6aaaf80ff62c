// A root other than `/` is someone else's machine (an unpacked snapshot, a test tree): gpuvirt
// reads it, and changes it only under the simulated kernel (GPUVIRT_SIMULATE=1), never as
// files of this machine. Every write to it through this wrapper is refused before it happens.
import { ExitCode, GpuvirtError } from '../errors.js';
import type { Host, HostStat, WriteOptions } from './host.js';

export function readOnlyRootError(root: string, path: string): GpuvirtError {
  return new GpuvirtError('E_READ_ONLY_ROOT', `--root ${root} is read-only: not writing ${JSON.stringify(path).slice(1, -1)}`, {
    exitCode: ExitCode.usage,
    hint: 'a tree other than / is only read; `--dry-run` shows the plan, and GPUVIRT_SIMULATE=1 runs it against the simulated kernel',
  });
}

export class ReadOnlyHost implements Host {
  readonly root: string;
  readonly readChunk?: Host['readChunk'];
  readonly stat?: (path: string, head?: number) => HostStat | null;

  constructor(private readonly inner: Host, private readonly shownRoot: string = inner.root) {
    this.root = inner.root;
    if (inner.readChunk) this.readChunk = inner.readChunk.bind(inner);
    if (inner.stat) this.stat = inner.stat.bind(inner);
  }

  readText(path: string): string | null {
    return this.inner.readText(path);
  }
  readLink(path: string): string | null {
    return this.inner.readLink(path);
  }
  list(path: string): string[] | null {
    return this.inner.list(path);
  }
  exists(path: string): boolean {
    return this.inner.exists(path);
  }
  isDirectory(path: string): boolean {
    return this.inner.isDirectory(path);
  }
  isPrivileged(): boolean {
    return this.inner.isPrivileged();
  }

  private refuse(path: string): never {
    throw readOnlyRootError(this.shownRoot, path);
  }
  writeAttr(path: string, _value: string): void {
    this.refuse(path);
  }
  writeFile(path: string, _content: string, _mode?: number, _opts?: WriteOptions): void {
    this.refuse(path);
  }
  createExclusive(path: string, _content: string): boolean {
    return this.refuse(path);
  }
  removeFile(path: string): void {
    this.refuse(path);
  }
  mkdirp(path: string, _mode?: number): void {
    this.refuse(path);
  }
  removeEmptyDir(path: string): boolean {
    return this.refuse(path);
  }
}
