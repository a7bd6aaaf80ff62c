// What a profile's values come to: sizes in MiB, the vCPU count, the OS-dependent settings.
// Free of zod, so the renderers and the rules load without the schema (src/profiles/shape.ts).
import type { Profile } from './schema.js';

/** Memory in MiB. */
export function memoryMiB(p: Pick<Profile, 'memory'>): number {
  if (typeof p.memory === 'number') return p.memory;
  const n = Number.parseInt(p.memory, 10);
  return p.memory.endsWith('GiB') ? n * 1024 : n;
}

/** A size string in MiB. */
export function sizeMiB(s: string): number {
  const n = Number.parseInt(s, 10);
  return s.endsWith('TiB') ? n * 1024 * 1024 : s.endsWith('GiB') ? n * 1024 : n;
}

/** What the optional OS-dependent settings come to. */
export function vmFeatures(p: Profile): { windows: boolean; tpm: boolean; secureBoot: boolean; hyperv: boolean } {
  const windows = p.os === 'windows11' || p.os === 'windows10';
  return { windows, tpm: p.tpm ?? p.os === 'windows11', secureBoot: p.firmware === 'uefi' && (p.secureBoot ?? (p.os === 'windows11' && p.machine === 'q35')), hyperv: p.hyperv ?? windows };
}

export function vcpuCount(p: Pick<Profile, 'cpu'>): number {
  return p.cpu.sockets * p.cpu.cores * p.cpu.threads;
}
