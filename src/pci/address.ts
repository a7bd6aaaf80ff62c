// A parsed PCI address. Users type `0b:00.0` or `0000:0b:00.0`; everything inside gpuvirt
// uses the kernel's full form DDDD:BB:DD.F. Parsing is strict so no path characters can
// ever reach a path join.
import { usageError } from '../errors.js';

export interface PciAddress {
  readonly domain: number;
  readonly bus: number;
  readonly device: number;
  readonly fn: number;
  /** Full lowercase form, e.g. `0000:0b:00.0`: the name of the device's sysfs entry. */
  readonly full: string;
  /** Domain:bus:device, shared by every function of one slot, e.g. `0000:0b:00`. */
  readonly slot: string;
}

const FULL = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-1][0-9a-fA-F])\.([0-7])$/;
const SHORT = /^([0-9a-fA-F]{2}):([0-1][0-9a-fA-F])\.([0-7])$/;

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

export function makeAddress(domain: number, bus: number, device: number, fn: number): PciAddress {
  const slot = `${hex(domain, 4)}:${hex(bus, 2)}:${hex(device, 2)}`;
  return { domain, bus, device, fn, slot, full: `${slot}.${fn}` };
}

/** Parses an address or returns null; device numbers above 0x1f and functions above 7 are rejected. */
export function tryParseAddress(text: string): PciAddress | null {
  const full = FULL.exec(text);
  if (full) return makeAddress(parseInt(full[1]!, 16), parseInt(full[2]!, 16), parseInt(full[3]!, 16), Number(full[4]));
  const short = SHORT.exec(text);
  if (short) return makeAddress(0, parseInt(short[1]!, 16), parseInt(short[2]!, 16), Number(short[3]));
  return null;
}

/** `text` is already an address in full form, as sysfs names devices: tryParseAddress(text)?.full === text. */
export function isFullAddress(text: string): boolean {
  return FULL_LOWER.test(text);
}

const FULL_LOWER = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$/;

export function parseAddress(text: string): PciAddress {
  const addr = tryParseAddress(text);
  if (!addr) {
    throw usageError(
      `not a PCI address: ${JSON.stringify(text)}`,
      'write it as bus:device.function (0b:00.0) or domain:bus:device.function (0000:0b:00.0), as lspci shows it',
    );
  }
  return addr;
}

/** Orders addresses as lspci does: domain, bus, device, function. */
export function compareAddress(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
