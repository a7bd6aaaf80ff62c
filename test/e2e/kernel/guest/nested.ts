// A VM inside the e2e guest: gpuvirt's own generated QEMU script, run by the guest's nested
// qemu-system-x86_64 (the image carries it on machines with MACHINE_SPECS[m].nested). There is
// no KVM in the guest, so the script's `accel=kvm` and `-cpu host` are overridden by arguments
// appended after it (the script passes "$@" last, and QEMU takes the last value of a key).
// Facts: consumer-facts.md, "A VM that really uses a VFIO device, inside the real-kernel test guest".
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { createConnection } from 'node:net';
import { waitFor } from './sysfs.js';

export const QEMU = '/usr/bin/qemu-system-x86_64';
/** L2's kernel and initramfs (harness/images.ts: L2_KERNEL, L2_INITRD). */
export const L2_KERNEL = '/opt/e2e/l2/vmlinux';
export const L2_INITRD = '/opt/e2e/l2/initrd.cpio';
/** The std VGA's VBE switch (harness/vga-vbe.c; images.ts: VGA_VBE). */
export const VGA_VBE = '/opt/e2e/vga-vbe';
/** What makes a KVM script run under TCG. */
export const TCG = ['-machine', 'accel=tcg', '-cpu', 'max'];

/** A profile for the nested VM: small, SeaBIOS, no display, the given devices. */
export function nestedProfile(name: string, devices: Record<string, unknown>[]): string {
  // JSON is YAML: profiles are read as YAML.
  return `${JSON.stringify({ apiVersion: 'gpuvirt/v1', name, machine: 'q35', firmware: 'bios', memory: '128MiB', cpu: { cores: 1 }, devices }, null, 2)}\n`;
}

export interface NestedRun {
  proc: ChildProcess;
  /** What QEMU printed on stderr (and stdout, unless kept apart), so far. */
  output: () => string;
  stdout: () => string;
  exited: () => boolean;
  /** Exit status, or null while running or when killed by a signal. */
  code: () => number | null;
  /** Waits for the exit; false when it did not come within `ms`. */
  waitExit: (ms: number) => Promise<boolean>;
  kill: () => Promise<void>;
}

/** Runs `sh SCRIPT ARGS...`: the generated script execs QEMU, so the child is QEMU itself. */
export function runScript(script: string, args: readonly string[]): NestedRun {
  const proc = spawn('sh', [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stdout = '';
  let exited = false;
  let code: number | null = null;
  proc.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  proc.on('exit', (c) => {
    exited = true;
    code = c;
  });
  const waitExit = (ms: number) => waitFor(() => exited, ms);
  return {
    proc, output: () => out, stdout: () => stdout, exited: () => exited, code: () => code, waitExit,
    kill: async () => {
      if (!exited) proc.kill('SIGKILL');
      await waitExit(10_000);
    },
  };
}

/** One QMP session: the greeting, qmp_capabilities, then one command at a time (events skipped). */
export async function qmp(socket: string, commands: readonly Record<string, unknown>[], ms = 20_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const s = createConnection(socket);
    const replies: unknown[] = [];
    let buf = '';
    let greeted = false;
    let sent = 0;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`QMP on ${socket}: no answer within ${ms} ms (got ${JSON.stringify(replies)})`));
    }, ms);
    const next = () => {
      const cmd = sent === 0 ? { execute: 'qmp_capabilities' } : commands[sent - 1];
      if (!cmd) {
        clearTimeout(timer);
        s.end();
        resolve(replies);
        return;
      }
      sent++;
      s.write(`${JSON.stringify(cmd)}\n`);
    };
    s.on('data', (b) => {
      buf += b.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ('event' in msg) continue;
        if (!greeted) greeted = true;
        else if (sent > 1) replies.push(msg);
        next();
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** QMP's answer to a command: its `return`, or a throw with QEMU's error. */
export function qmpReturn(reply: unknown): unknown {
  const r = reply as { return?: unknown; error?: { desc: string } };
  if (r.error) throw new Error(`QMP error: ${r.error.desc}`);
  return r.return;
}

export interface Started {
  run: NestedRun;
  /** QMP's socket, once QEMU answers on it (machine and devices created); null when QEMU exited first. */
  socket: string | null;
  ms: number;
}

/**
 * Starts a generated script paused (-S) with a QMP socket, and waits until QEMU answers on it
 * (every -device realized) or exits (a device refused): QEMU creates its devices before its
 * main loop serves the monitor.
 */
export async function startPaused(script: string, socket: string, ms = 60_000, extra: readonly string[] = []): Promise<Started> {
  fs.rmSync(socket, { force: true });
  const started = Date.now();
  const run = runScript(script, [...TCG, '-S', '-qmp', `unix:${socket},server=on,wait=off`, ...extra]);
  let answered = false;
  const deadline = Date.now() + ms;
  while (!run.exited() && Date.now() < deadline) {
    if (fs.existsSync(socket)) {
      try {
        await qmp(socket, [], 10_000);
        answered = true;
        break;
      } catch {
        // not listening yet
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!answered && !run.exited()) await run.kill();
  if (!answered) await run.waitExit(5_000);
  return { run, socket: answered ? socket : null, ms: Date.now() - started };
}

/** `qom-get` of each property of each device id under /machine/peripheral. */
export async function deviceProps(socket: string, ids: readonly string[], props: readonly string[]): Promise<Record<string, Record<string, unknown>>> {
  const cmds = ids.flatMap((id) => props.map((property) => ({ execute: 'qom-get', arguments: { path: `/machine/peripheral/${id}`, property } })));
  const replies = await qmp(socket, cmds);
  const out: Record<string, Record<string, unknown>> = {};
  let i = 0;
  for (const id of ids) {
    out[id] = {};
    for (const p of props) {
      const r = replies[i++] as { return?: unknown; error?: { desc: string } };
      out[id]![p] = r.error ? `error: ${r.error.desc}` : r.return;
    }
  }
  return out;
}

/** Asks QEMU to quit and waits for it; kills it when it does not. */
export async function quit(started: Started): Promise<void> {
  if (started.socket && !started.run.exited()) {
    try {
      await qmp(started.socket, [{ execute: 'quit' }], 10_000);
    } catch {
      // it may close the socket before answering
    }
    if (await started.run.waitExit(10_000)) return;
  }
  await started.run.kill();
}

/** A process's children (a --single-gpu script runs QEMU as one, in the background). */
export function childrenOf(pid: number | undefined): number[] {
  if (!pid) return [];
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The /dev/vfio nodes a process has open (what a VM holds). */
export function vfioFdsOf(pid: number | undefined): string[] {
  if (!pid) return [];
  try {
    return [...new Set(fs.readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return '';
      }
    }).filter((l) => l.startsWith('/dev/vfio/')))].sort();
  } catch {
    return [];
  }
}
