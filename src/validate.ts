// Checks at the edges. Values from the host (sysfs link names, state and manifest files) and
// from profiles end up in udev rules, modprobe.d, systemd units, initramfs hooks, shell
// scripts and XML; each format can carry only some strings safely. A value that does not fit
// is refused with the field and the file named, never quoted into a file that means something
// else. Pure: no host access.
import { ExitCode, GpuvirtError } from './errors.js';

/** A full PCI address as sysfs spells it. */
export const PCI_ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
/** Driver and module names: what the kernel's own names use (`vfio-pci`, `nvidia_vgpu_vfio`). */
export const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
/** A setup run's id: a directory name under the backups, nothing that climbs. */
export const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/;

/** A value shown in a message: quoted, control characters escaped, and cut to 80 characters. */
export function showValue(value: unknown): string {
  const s = typeof value === 'string' ? value : String(JSON.stringify(value));
  const cut = s.length > 80 ? `${s.slice(0, 80)}…` : s;
  return JSON.stringify(cut);
}

export function unsafeValue(field: string, value: unknown, what: string, file?: string): GpuvirtError {
  return new GpuvirtError('E_UNSAFE_VALUE', `${file ? `refusing to write ${file}: ` : ''}${field} ${showValue(value)} is not ${what}`, {
    exitCode: ExitCode.refused,
    hint: 'the value came from this host or a file gpuvirt read; it cannot be written into that file safely',
  });
}

export function checkAddress(value: unknown, field: string, file?: string): string {
  if (typeof value !== 'string' || !PCI_ADDRESS.test(value)) throw unsafeValue(field, value, 'a PCI address (0000:01:00.0)', file);
  return value;
}

export function checkName(value: unknown, field: string, file?: string): string {
  if (typeof value !== 'string' || !NAME.test(value)) throw unsafeValue(field, value, 'a driver or module name ([A-Za-z0-9_.-])', file);
  return value;
}

export function checkInt(value: unknown, field: string, min: number, max: number, file?: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw unsafeValue(field, value, `a whole number from ${min} to ${max}`, file);
  }
  return value;
}

export function checkOneOf<T extends string | null>(value: unknown, field: string, allowed: readonly T[], file?: string): T {
  if (!allowed.includes(value as T)) throw unsafeValue(field, value, `one of ${allowed.map((a) => String(a)).join(', ')}`, file);
  return value as T;
}

/** An absolute, normalised path: no `..`, `.`, empty components, control characters or quotes. */
export function checkPath(value: unknown, field: string, file?: string): string {
  const ok = typeof value === 'string' && value.startsWith('/') && value.length < 4096 &&
    value.split('/').slice(1).every((c) => c !== '' && c !== '.' && c !== '..') && /^[\x21-\x7e]+$/.test(value) && !/["'`$\\]/.test(value);
  if (!ok) throw unsafeValue(field, value, 'an absolute, normalised path', file);
  return value as string;
}

/**
 * A string for a line-based config file (udev, modprobe.d, systemd, a `#` comment): one line,
 * no control characters. The caller still quotes it for the format.
 */
export function checkLine(value: unknown, field: string, file?: string): string {
  // eslint-disable-next-line no-control-regex
  if (typeof value !== 'string' || /[\x00-\x1f\x7f]/.test(value)) throw unsafeValue(field, value, 'a single line of printable text', file);
  return value;
}

/** Text for a terminal: C0/C1 control characters and DEL shown as \xNN, so a hostile name cannot move the cursor. */
export function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The same for one field that must stay on its line: newlines and tabs escaped too. */
export function escapeField(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * A command's data for the text renderers, every string with its terminal control characters
 * escaped: names from pci.ids and strings from sysfs are the host's, and a snapshot's may
 * carry escape sequences. JSON output escapes them itself.
 */
export function escapeData<T>(value: T): T {
  if (typeof value === 'string') return (CONTROL.test(value) ? escapeControls(value) : value) as T;
  if (Array.isArray(value)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const v = escapeData(value[i]);
      if (v !== value[i]) (out ??= value.slice())[i] = v;
    }
    return (out ?? value) as T;
  }
  if (value !== null && typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return value;
    // Copied only when something changes; descriptors, not entries, since some data carries
    // non-enumerable fields for the renderer only.
    const descriptors = Object.getOwnPropertyDescriptors(value);
    let out: Record<string, unknown> | null = null;
    for (const [k, d] of Object.entries(descriptors)) {
      if (!('value' in d)) continue;
      const v = escapeData(d.value);
      if (v === d.value) continue;
      out ??= Object.defineProperties(Object.create(proto), descriptors) as Record<string, unknown>;
      Object.defineProperty(out, k, { ...d, value: v });
    }
    return (out ?? value) as T;
  }
  return value;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;
