// The exec seam for a simulated machine. Strict, like a test stub: it runs only the programs,
// and only the argv shapes, it models, each with its effect on the root and the exit status and
// stderr the real program gives on misuse; any other argv throws, so an unexpected command fails
// the test instead of passing silently. Calls and injected failures live in the kernel's
// sidecar, shared with a spawned CLI.
//
//   modprobe MODULE [PARAM=VALUE...]     modprobe -r MODULE             (modules.ts, gim.ts)
//   /usr/lib/nvidia/sriov-manage -e|-d PF|ALL
//   update-grub   grub-mkconfig -o FILE   grub2-mkconfig -o FILE         (boot-tools.ts)
//   grubby --update-kernel=ALL [--args=ARGS] [--remove-args=ARGS]
//   proxmox-boot-tool refresh            kernelstub -a|-d OPTIONS
//   update-initramfs -u -k all|VERSION   dracut -f|--force [--regenerate-all]   mkinitcpio -P
//   systemctl daemon-reload              systemctl enable|disable UNIT  (system-tools.ts)
//   nvidia-smi: the MIG queries and commands                             (nvidia-smi.ts)
//   mdevctl define [--auto] --uuid U --parent P --type T   mdevctl undefine --uuid U [--parent P]  (mdevctl.ts)
import type { Exec, ExecResult } from '../host/exec.js';
import { paths } from '../host/paths.js';
import { grubby, grubMkconfig, kernelstub, proxmoxBootToolRefresh } from './boot-tools.js';
import type { SimKernel } from './kernel.js';
import { splitParams } from './modprobe-conf.js';
import { sriovManage } from './sriov-manage.js';
import { nvidiaSmi } from './nvidia-smi.js';
import { mdevctl } from './mdevctl.js';
import { consume, type ExecRecord, storedRegex } from './state.js';
import { dracut, mkinitcpio, systemctl, updateInitramfs } from './system-tools.js';
import type { SimTree } from './tree.js';

export interface ExecFailureRule {
  /** The exact argv, or a pattern tested against argv joined with spaces. */
  argv: readonly string[] | RegExp;
  exitCode: number;
  stdout?: string;
  stderr?: string;
  /** How many calls fail; every matching call when absent. */
  times?: number;
}

const MODULE = /^[A-Za-z0-9_-]+$/;
const PARAM = /^[A-Za-z0-9_-]+=/;
const UNIT = /^[A-Za-z0-9_.@:-]+\.(service|target|timer|socket|path|mount)$/;

export class SimExec implements Exec {
  constructor(readonly kernel: SimKernel) {}

  async run(argv: readonly string[]): Promise<ExecResult> {
    const line = argv.join(' ');
    const injected = this.kernel.withState((k) =>
      consume(k.state.execFailures, (r) => (r.regex ? storedRegex(r.regex).test(line) : r.argv === line)),
    );
    const result: ExecResult = injected
      ? { exitCode: injected.exitCode, stdout: injected.stdout, stderr: injected.stderr }
      : this.simulate(argv);
    this.kernel.withState((k) => k.state.execs.push({ argv: [...argv], exitCode: result.exitCode }));
    return result;
  }

  private files<T>(fn: (t: SimTree) => T): T {
    return this.kernel.withState((k) => fn(k.tree));
  }

  private simulate(argv: readonly string[]): ExecResult {
    const [file, ...args] = argv;
    const result = this.program(file ?? '', args);
    if (result === null) throw new Error(`sim-exec: no simulation for \`${argv.join(' ')}\``);
    return result;
  }

  /** The program's answer, or null when this argv is not one the simulation models. */
  private program(file: string, args: string[]): ExecResult | null {
    const [a, b, c] = args;
    switch (file) {
      case 'modprobe':
        if (a === '-r' && args.length === 2 && MODULE.test(b!)) return this.kernel.modprobeRemove(b!);
        if (a !== undefined && MODULE.test(a) && args.slice(1).every((p) => PARAM.test(p))) {
          return this.kernel.modprobe(a, splitParams(args.slice(1).join(' ')));
        }
        return null;
      case paths.nvidiaSriovManage:
        return args.length === 2 && (a === '-e' || a === '-d') ? sriovManage(this.kernel, a, b!) : null;
      case 'update-grub':
      case 'update-grub2':
        return args.length === 0 ? this.files((t) => grubMkconfig(t, paths.grubCfg[0]!, 'grub-mkconfig')) : null;
      case 'grub-mkconfig':
      case 'grub2-mkconfig':
        return args.length === 2 && a === '-o' ? this.files((t) => grubMkconfig(t, b!, file)) : null;
      case 'grubby':
        return this.grubby(args);
      case 'proxmox-boot-tool':
        return args.length === 1 && a === 'refresh' ? this.kernel.withState((k) => proxmoxBootToolRefresh(k.tree, (k.state.esps ??= {}))) : null;
      case 'kernelstub':
        return args.length === 2 && (a === '-a' || a === '-d') ? this.files((t) => kernelstub(t, a, b!)) : null;
      case 'update-initramfs':
        return args.length === 3 && a === '-u' && b === '-k' ? this.files((t) => updateInitramfs(t, c!)) : null;
      case 'dracut': {
        const force = args.filter((x) => x === '-f' || x === '--force').length === 1;
        const all = args.includes('--regenerate-all');
        const known = args.every((x) => ['-f', '--force', '--regenerate-all'].includes(x));
        return force && known && args.length === (all ? 2 : 1) ? this.files((t) => dracut(t, all)) : null;
      }
      case 'nvidia-smi':
        return nvidiaSmi(this.kernel, args);
      case 'mkinitcpio':
        return args.length === 1 && a === '-P' ? this.files(mkinitcpio) : null;
      case 'systemctl':
        if (args.length === 1 && a === 'daemon-reload') return this.files((t) => systemctl(t, 'daemon-reload'));
        if (args.length === 2 && (a === 'enable' || a === 'disable') && UNIT.test(b!)) return this.files((t) => systemctl(t, a, b));
        return null;
      case 'mdevctl':
        return this.files((t) => mdevctl(t, args));
      default:
        return null;
    }
  }

  private grubby(args: string[]): ExecResult | null {
    const [first, ...rest] = args;
    if (first !== '--update-kernel=ALL' || rest.length === 0 || rest.length > 2) return null;
    const add: string[] = [];
    const remove: string[] = [];
    for (const opt of rest) {
      const m = /^--(args|remove-args)=(.*)$/.exec(opt);
      if (!m) return null;
      (m[1] === 'args' ? add : remove).push(...m[2]!.split(/\s+/).filter(Boolean));
    }
    return this.files((t) => grubby(t, add, remove));
  }

  /** Makes matching calls return this result instead of running. */
  failOn(rule: ExecFailureRule): void {
    const { argv, exitCode, stdout = '', stderr = '', times } = rule;
    this.kernel.withState((k) =>
      k.state.execFailures.push({
        argv: argv instanceof RegExp ? argv.source : argv.join(' '),
        ...(argv instanceof RegExp ? { regex: { source: argv.source, flags: argv.flags } } : {}),
        exitCode, stdout, stderr, remaining: times ?? null,
      }),
    );
  }

  /** Every call so far, from every process on this root. */
  get calls(): ExecRecord[] {
    return this.kernel.withState((k) => k.state.execs);
  }
}
