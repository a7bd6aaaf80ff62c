// The guest program: run as /init's child inside the e2e guest. It runs every scenario meant
// for this machine (named on the kernel command line) and sends one line per check to the
// results port given as its argument (see protocol.ts); the console gets a readable copy.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { MACHINES, type MachineName } from '../topology.js';
import { runScenario } from './framework.js';
import { BEGIN, END, RESULT, type CheckResult } from './protocol.js';
import { scenariosFor } from './scenarios/index.js';
import { cmdline, read } from './sysfs.js';

async function main(): Promise<void> {
  const port = fs.openSync(process.argv[2] ?? '/dev/ttyS1', 'w');
  const send = (line: string) => fs.writeSync(port, `${line}\n`);
  const machine = /gpuvirt_e2e\.machine=(\S+)/.exec(cmdline())?.[1] as MachineName | undefined;
  const started = Date.now();
  send(`${BEGIN}${JSON.stringify({ machine, kernel: os.release(), node: process.version, uptime: Number((read('/proc/uptime') ?? '0').split(' ')[0]) })}`);
  if (!machine || !MACHINES.includes(machine)) {
    send(`${END}${JSON.stringify({ count: 0, error: `no known gpuvirt_e2e.machine= on the command line: ${cmdline()}` })}`);
    return;
  }
  let count = 0;
  const emit = (r: CheckResult) => {
    count++;
    send(`${RESULT}${JSON.stringify(r)}`);
    process.stdout.write(`${r.status === 'pass' ? 'PASS' : 'FAIL'}  ${r.scenario} :: ${r.check}${r.status === 'fail' ? `\n      ${r.detail.split('\n').join('\n      ')}` : ''}\n`);
  };
  const timings: Record<string, number> = {};
  for (const s of scenariosFor(machine)) {
    const t0 = Date.now();
    await runScenario(machine, s, emit);
    timings[s.id] = Date.now() - t0;
  }
  send(`${END}${JSON.stringify({ count, seconds: (Date.now() - started) / 1000, timings })}`);
  fs.closeSync(port);
}

await main();
