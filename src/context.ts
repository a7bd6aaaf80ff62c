// What a command's run() gets: the host, the exec seam, output streams and name lookup.
// Tests build one from fakes; cli.ts builds the real one.
import type { Exec } from './host/exec.js';
import type { Host } from './host/host.js';
import type { PciNames } from './pci/names.js';
import type { Style } from './output.js';

export interface IO {
  out(text: string): void;
  err(text: string): void;
  /** stdout is a terminal: colour (unless NO_COLOR), wrapping and prompts are allowed. */
  isTTY: boolean;
  /** stdin is a terminal too (false: a question could never be answered). Unknown: as isTTY. */
  stdinTTY?: boolean;
  color: boolean;
  columns: number;
}

export interface Prompter {
  /** `def`: the answer Enter gives (No when absent). */
  confirm(message: string, def?: boolean): Promise<boolean>;
  /** `def`: the choice highlighted first (the first when absent). */
  select<T extends string>(message: string, choices: { value: T; name: string }[], def?: T): Promise<T>;
}

export interface Ctx {
  host: Host;
  exec: Exec;
  io: IO;
  names: PciNames;
  env: Readonly<Record<string, string | undefined>>;
  prompt: Prompter;
  /** --json: stdout carries one JSON document and nothing else. */
  json: boolean;
  /** This process's id (the journal and the lock name their owner). */
  pid?: number;
  clock?: () => Date;
  /** Waits; the real timer unless a test replaces it. */
  sleep?: (ms: number) => Promise<void>;
  /** Calls the handler on SIGINT, SIGTERM or SIGHUP until the returned function is called. */
  signals?: (handler: (signal: string) => void) => () => void;
  /** The text style of this run (colour unless --no-color, NO_COLOR or a pipe). */
  style(): Promise<Style>;
  /** The terminal stream a task list may draw on (stderr), when there is one. */
  terminal?: () => NodeJS.WriteStream | undefined;
}
