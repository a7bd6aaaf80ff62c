import type { IO } from '../../src/context.js';

export interface CapturedIO extends IO {
  stdout: string;
  stderr: string;
}

/** An IO that records what a command printed, as a terminal (tty) or a pipe. */
export function captureIO(opts: { tty?: boolean; color?: boolean; columns?: number } = {}): CapturedIO {
  const io: CapturedIO = {
    stdout: '',
    stderr: '',
    out: (t) => void (io.stdout += t),
    err: (t) => void (io.stderr += t),
    isTTY: opts.tty ?? false,
    color: opts.color ?? false,
    columns: opts.columns ?? 80,
  };
  return io;
}
