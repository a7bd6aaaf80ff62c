// Typed errors with stable codes. Library code throws these; only cli.ts turns them into an
// exit status, so every failure a user can cause ends as one line, never a stack trace.

export const ExitCode = {
  ok: 0,
  /** doctor found a failing check, or an operation failed (and was rolled back). */
  failed: 1,
  /** bad flags or arguments, a malformed address, a --root that is not there. */
  usage: 2,
  /** a bug in gpuvirt: please report it. */
  internal: 3,
  needsRoot: 4,
  /** not possible on this host or device (not Linux, no SR-IOV, ...). */
  unsupported: 5,
  /** the named device or file does not exist on this host. */
  notFound: 6,
  /** preflight refused: doing it would hurt the host. */
  refused: 7,
  /** another gpuvirt run holds the lock, or the device is busy. */
  busy: 8,
  /** `host apply --wait-ready`: the devices or PF drivers the config needs did not appear in time. */
  notReady: 9,
  /** `host apply --boot`: applied, but the kernel command line needs a reboot (gpuvirt never reboots). */
  rebootRequired: 10,
  cancelled: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class GpuvirtError extends Error {
  readonly code: string;
  readonly exitCode: ExitCodeValue;
  readonly hint: string | undefined;
  constructor(code: string, message: string, opts: { exitCode?: ExitCodeValue; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GpuvirtError';
    this.code = code;
    this.exitCode = opts.exitCode ?? ExitCode.failed;
    this.hint = opts.hint;
  }
}

export function usageError(message: string, hint?: string): GpuvirtError {
  return new GpuvirtError('E_USAGE', message, { exitCode: ExitCode.usage, hint });
}

/** The errno name (EBUSY, ENOENT, ...) of a Node system error, if it is one. */
export function errnoOf(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return undefined;
}

/**
 * Thrown by a command running from its own bundle (src/bundle.d.ts) that finds this host needs
 * code only the whole program has (status on a host with a boot record, a profile that fails the shape check); main() then returns
 * ELSEWHERE and the whole program runs the same argv. Thrown before anything is written.
 */
export class Elsewhere extends Error {}
