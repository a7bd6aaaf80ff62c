// Boots one emulated machine and collects what the guest program reported. The console
// (ttyS0) is the log; results come over the second serial port (ttyS1) into a file, as
// marker-framed JSON lines that kernel messages can never interleave with.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deviceArgs, MACHINE_SPECS, type MachineName } from '../topology.js';
import { parseResults, type GuestReport } from '../guest/protocol.js';
import type { Images } from './images.js';
import type { Tools } from './prerequisites.js';

export interface BootResult extends GuestReport {
  machine: MachineName;
  seconds: number;
  exitCode: number | null;
  timedOut: boolean;
  /** Where the console log was kept. */
  consoleLog: string;
  console: string;
}

function iommuArgs(name: MachineName): string[] {
  switch (MACHINE_SPECS[name].iommu) {
    // The IOMMU must exist before the PCI devices it translates for.
    case 'intel':
      return ['-device', 'intel-iommu,intremap=on,caching-mode=on'];
    case 'amd':
      return ['-device', 'amd-iommu,intremap=on'];
    default:
      return [];
  }
}

export function qemuArgs(name: MachineName, images: Images, tools: Tools, resultsFile: string, extraCmdline: readonly string[] = []): string[] {
  const spec = MACHINE_SPECS[name];
  const accel = tools.kvm ? 'kvm' : 'tcg';
  const irqchip = spec.iommu ? ',kernel-irqchip=split' : '';
  const cpu = tools.kvm ? 'host' : `qemu64,vendor=${spec.cpuVendor}`;
  // no_timer_check: on a busy host, TCG can miss the IO-APIC timer check and the kernel panics
  // at boot ("timer doesn't work through Interrupt-remapped IO-APIC"); this suite once did.
  const append = ['console=ttyS0,115200', 'quiet', 'panic=-1', 'no_timer_check', ...spec.cmdline, `gpuvirt_e2e.machine=${name}`, ...extraCmdline].join(' ');
  return [
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-machine', `q35,accel=${accel}${irqchip}`, '-cpu', cpu, '-smp', '1', '-m', '1024',
    '-kernel', images.kernel, '-initrd', images.initrds[name]!, '-append', append,
    '-serial', 'stdio', '-serial', `file:${resultsFile}`,
    ...iommuArgs(name),
    ...deviceArgs(),
  ];
}

export interface BootOptions {
  timeoutMs: number;
  logDir: string;
  /** More kernel parameters, e.g. gpuvirt_e2e.mode=fixtures. */
  cmdline?: readonly string[];
  /** Names the log files <machine>.<logName>.*; default: the machine alone. */
  logName?: string;
}

export async function bootMachine(name: MachineName, images: Images, tools: Tools, opts: BootOptions): Promise<BootResult> {
  fs.mkdirSync(opts.logDir, { recursive: true });
  const base = opts.logName ? `${name}.${opts.logName}` : name;
  const resultsFile = path.join(opts.logDir, `${base}.results`);
  const consoleLog = path.join(opts.logDir, `${base}.console.log`);
  fs.rmSync(resultsFile, { force: true });
  const args = qemuArgs(name, images, tools, resultsFile, opts.cmdline);
  const started = Date.now();
  const child = spawn(tools.qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // A test run that is interrupted must not leave a guest running.
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  const chunks: Buffer[] = [];
  const verbose = Boolean(process.env.GPUVIRT_E2E_VERBOSE);
  child.stdout.on('data', (b: Buffer) => {
    chunks.push(b);
    if (verbose) process.stderr.write(b);
  });
  child.stderr.on('data', (b: Buffer) => chunks.push(b));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs);
  const exitCode = await new Promise<number | null>((resolve) => {
    child.on('error', (err) => {
      chunks.push(Buffer.from(`\nspawning ${tools.qemu} failed: ${err.message}\n`));
      resolve(null);
    });
    child.on('close', (code) => resolve(code));
  });
  clearTimeout(timer);
  process.off('exit', killChild);
  const seconds = (Date.now() - started) / 1000;
  const consoleText = `$ ${tools.qemu} ${args.join(' ')}\n${Buffer.concat(chunks).toString('utf8')}`;
  fs.writeFileSync(consoleLog, consoleText);
  const raw = fs.existsSync(resultsFile) ? fs.readFileSync(resultsFile, 'utf8') : '';
  return { machine: name, seconds, exitCode, timedOut, consoleLog, console: consoleText, ...parseResults(raw) };
}
