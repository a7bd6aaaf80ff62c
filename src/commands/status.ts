import type { CommandDef } from './command.js';
import type { Style } from '../output.js';
import { paths } from '../host/paths.js';
import { linkName } from '../host/host.js';
import { readState, type ManagedDevice } from '../state.js';

export interface StatusDevice extends ManagedDevice {
  /** The driver bound now; differs from `target` when something changed it behind gpuvirt's back. */
  currentDriver: string | null;
  present: boolean;
}

export interface StatusData {
  devices: StatusDevice[];
}

export function renderStatus(d: StatusData, s: Style): string {
  if (!d.devices.length) return 'gpuvirt manages no devices on this host\n';
  const out = [s.bold('Devices gpuvirt manages:')];
  for (const x of d.devices) {
    const now = !x.present ? s.red('gone from the host') : x.currentDriver === x.target ? s.green(`on ${x.target}`) : s.yellow(`on ${x.currentDriver ?? 'no driver'}, expected ${x.target}`);
    const flags = [x.persisted ? 'persisted' : 'until reboot', x.status === 'applying' ? s.red('interrupted run: `gpuvirt release --all`') : null].filter(Boolean).join(', ');
    out.push(`  ${x.address}  ${now}; was ${x.originalDriver ?? 'no driver'}; ${flags}`);
  }
  return `${out.join('\n')}\n`;
}

export const status: CommandDef<Record<string, never>, StatusData> = {
  name: 'status',
  summary: 'show the devices gpuvirt manages and their original drivers',
  linuxOnly: true,
  configure() {},
  parse: () => ({}),
  async run(_opts, ctx) {
    const state = readState(ctx.host);
    const devices = Object.values(state.devices)
      .sort((a, b) => (a.address < b.address ? -1 : 1))
      .map((d) => ({
        ...d,
        present: ctx.host.exists(paths.pciDevice(d.address)),
        currentDriver: linkName(ctx.host, paths.pciAttr(d.address, 'driver')),
      }));
    const drifted = devices.filter((d) => d.present && d.currentDriver !== d.target).map((d) => `${d.address} is on ${d.currentDriver ?? 'no driver'}, not ${d.target}`);
    return { ok: true, data: { devices }, warnings: drifted };
  },
  render: (d, s) => renderStatus(d, s),
};
