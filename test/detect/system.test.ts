import { describe, expect, it } from 'vitest';
import { readCpu } from '../../src/detect/system.js';
import { FsHost } from '../../src/host/fs-host.js';
import type { Host } from '../../src/host/host.js';
import { makeTree } from '../helpers/tree.js';

/** One processor's block of /proc/cpuinfo; `flags` long enough to reach past a read's end when asked. */
function block(n: number, flags: string, vendor = 'GenuineIntel'): string {
  return [`processor\t: ${n}`, `vendor_id\t: ${vendor}`, 'model name\t: Some CPU @ 3.00GHz', `flags\t\t: ${flags}`, ''].join('\n');
}

/** readCpu through a host with readChunk (FsHost), and through one with readText only: the whole file. */
function both(cpuinfo: string): { chunked: ReturnType<typeof readCpu>; whole: ReturnType<typeof readCpu>; reads: number[] } {
  const fs = new FsHost(makeTree({ 'proc/cpuinfo': cpuinfo }));
  const reads: number[] = [];
  const counting = { readText: (p: string) => fs.readText(p), readChunk: (p: string, at: number, n: number) => (reads.push(n), fs.readChunk(p, at, n)) } as Partial<Host> as Host;
  const textOnly = { readText: (p: string) => fs.readText(p) } as Partial<Host> as Host;
  return { chunked: readCpu(counting), whole: readCpu(textOnly), reads };
}

describe('readCpu', () => {
  it('reads the first processor of a large cpuinfo from its start, as a search of the whole file finds it', () => {
    const text = Array.from({ length: 1024 }, (_, i) => block(i, `fpu vme vmx hypervisor${i === 0 ? '' : ' svm'}`)).join('\n');
    expect(text.length).toBeGreaterThan(64 * 1024);
    const { chunked, whole, reads } = both(text);
    expect(chunked).toEqual({ vendor: 'intel', model: 'Some CPU @ 3.00GHz', vmx: true, svm: false, hypervisor: true });
    expect(chunked).toEqual(whole);
    expect(reads).toEqual([16 * 1024]);
  });

  it('reads the whole file when the start lacks a field or cuts its line', () => {
    // The first block has no flags line; the second's flags run across the end of the first read.
    const long = `${'x'.repeat(16 * 1024)} vmx`;
    const text = `${['processor\t: 0', 'vendor_id\t: AuthenticAMD', 'model name\t: Other', ''].join('\n')}\n${block(1, long)}`;
    const { chunked, whole } = both(text);
    expect(chunked.vmx).toBe(true);
    expect(chunked).toEqual(whole);
    // A field that only a later block has (the start has none at all).
    const late = `${'# filler\n'.repeat(3000)}${block(0, 'svm', 'AuthenticAMD')}`;
    expect(both(late).chunked).toEqual({ vendor: 'amd', model: 'Some CPU @ 3.00GHz', vmx: false, svm: true, hypervisor: false });
  });

  it('a short or missing cpuinfo gives what reading it whole gives', () => {
    const { chunked, whole } = both(`\n  ${block(0, 'vmx')}\n\n`);
    expect(chunked).toEqual(whole);
    expect(chunked.vendor).toBe('intel');
    const none = new FsHost(makeTree({ 'etc/hostname': 'x' }));
    expect(readCpu(none)).toEqual({ vendor: 'unknown', model: null, vmx: false, svm: false, hypervisor: false });
  });
});
