// The guest program: run as /init's child inside the e2e guest. It runs every scenario meant
// for this machine (named on the kernel command line) and sends one line per check to the
// results port given as its argument (see protocol.ts); the console gets a readable copy.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { MACHINES, type MachineName } from '../topology.js';
import { runScenario } from './framework.js';
import { describeRun } from './commands.js';
import { ARTIFACT, BEGIN, END, RESULT, type CheckResult } from './protocol.js';
import { scenariosFor } from './scenarios/index.js';
import { captureSnapshot, SNAPSHOT_FILE } from './scenarios/snapshot.js';
import { cmdline, read } from './sysfs.js';

/** gpuvirt_e2e.mode=fixtures: no scenarios, only `gpuvirt snapshot` of the boot state, sent back whole. */
function fixturesMode(send: (line: string) => void): void {
  const r = captureSnapshot();
  if (r.status !== 0 || !fs.existsSync(SNAPSHOT_FILE)) {
    send(`${END}${JSON.stringify({ count: 0, error: `gpuvirt snapshot failed:\n${describeRun(r)}` })}`);
    return;
  }
  send(`${ARTIFACT}${JSON.stringify({ name: 'snapshot.tar.gz', base64: fs.readFileSync(SNAPSHOT_FILE).toString('base64') })}`);
  send(`${END}${JSON.stringify({ count: 0, snapshot: r.doc?.data ?? null })}`);
}

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
  if (/(^|\s)gpuvirt_e2e\.mode=fixtures(\s|$)/.test(cmdline())) {
    fixturesMode(send);
    fs.closeSync(port);
    return;
  }
  let count = 0;
  const emit = (r: CheckResult) => {
    count++;
    send(`${RESULT}${JSON.stringify(r)}`);
    process.stdout.write(`${r.status === 'pass' ? 'PASS' : 'FAIL'}  ${r.scenario} :: ${r.check}${r.status === 'fail' ? `\n      ${r.detail.split('\n').join('\n      ')}` : ''}\n`);
  };
  const timings: Record<string, number> = {};
  const only = /(?:^|\s)gpuvirt_e2e\.only=([\d,]+)/.exec(cmdline())?.[1]?.split(',').map(Number) ?? null;
  for (const s of scenariosFor(machine, only)) {
    const t0 = Date.now();
    await runScenario(machine, s, emit);
    timings[s.id] = Date.now() - t0;
  }
  send(`${END}${JSON.stringify({ count, seconds: (Date.now() - started) / 1000, timings })}`);
  fs.closeSync(port);
}

await main();
