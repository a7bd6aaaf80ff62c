// A profile's addresses and ids in the kernel's form (0000:01:00.0, lowercase hex), as
// everything after loading compares them.
import type { Device, Profile } from './schema.js';

const lowerAddr = (a: string) => (a.length === 7 ? `0000:${a}` : a).toLowerCase();

/** Addresses and ids in the kernel's form (0000:01:00.0, lowercase hex). */
export function normalizeDevice(d: Device): Device {
  const sel = <T extends { address?: string; id?: string; subsystem?: string }>(s: T): T => ({
    ...s,
    ...(s.address ? { address: lowerAddr(s.address) } : {}),
    ...(s.id ? { id: s.id.toLowerCase() } : {}),
    ...(s.subsystem ? { subsystem: s.subsystem.toLowerCase() } : {}),
  });
  if (d.type === 'gpu') return { ...d, select: sel(d.select) };
  if (d.type === 'vf') return { ...d, pf: sel(d.pf), ...(d.address ? { address: lowerAddr(d.address) } : {}) };
  return { ...d, parent: sel(d.parent), ...(d.uuid ? { uuid: d.uuid.toLowerCase() } : {}) };
}

export function normalize(p: Profile): Profile {
  return { ...p, devices: p.devices.map(normalizeDevice) };
}
