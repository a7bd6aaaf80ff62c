// A dry run on a host that shows no processes, mounts or routes (an unpacked snapshot) says
// which usage facts it lacks and which refusals it could therefore not check.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { machine } from '../helpers/sim.js';

describe('usage facts missing', () => {
  it('a dry run names what it could not check', async () => {
    const m = machine('intel-desktop-nvidia');
    const r = await m.run(['passthrough', '01:00.0', '--dry-run', '--json']);
    expect(r.code).toBe(0);
    const w = r.doc.warnings.find((x: string) => x.startsWith('this host shows'));
    expect(w).toContain('no processes (/proc/<pid>)');
    expect(w).toContain('no /proc/swaps');
    expect(w).toContain('not checked: device files held open');
    expect(w).not.toContain('/proc/mounts');
    const text = await m.run(['passthrough', '01:00.0', '--dry-run']);
    expect(text.stderr).toContain('gpuvirt: warning: this host shows no processes');
  });

  it('says nothing when every fact is there', async () => {
    const m = machine('intel-desktop-nvidia');
    mkdirSync(join(m.root, 'proc/1/fd'), { recursive: true });
    writeFileSync(join(m.root, 'proc/1/comm'), 'systemd\n');
    symlinkSync('/dev/null', join(m.root, 'proc/1/fd/0'));
    writeFileSync(join(m.root, 'proc/swaps'), 'Filename\tType\tSize\tUsed\tPriority\n');
    mkdirSync(join(m.root, 'proc/net'), { recursive: true });
    writeFileSync(join(m.root, 'proc/net/route'), 'Iface\tDestination\tGateway\n');
    const r = await m.run(['passthrough', '01:00.0', '--dry-run', '--json']);
    expect(r.doc.warnings.filter((x: string) => x.startsWith('this host shows'))).toEqual([]);
  });

  it('sriov: removing or replacing VFs on such a host says whether a VF is held open could not be checked', async () => {
    const m = machine('server-mxgpu-sriov');
    const off = await m.run(['sriov', 'disable', '41:00.0', '--dry-run', '--json']);
    expect(off.doc.warnings.join('\n')).toContain('this host shows no processes (/proc/<pid>)');
    expect(off.doc.warnings.join('\n')).not.toContain('/proc/mounts');
    const same = await m.run(['sriov', 'enable', '41:00.0', '--vfs', '4', '--dry-run', '--json']);
    expect(same.doc.warnings.join('\n')).not.toContain('this host shows');
    mkdirSync(join(m.root, 'proc/1/fd'), { recursive: true });
    writeFileSync(join(m.root, 'proc/1/comm'), 'systemd\n');
    const seen = await m.run(['sriov', 'disable', '41:00.0', '--dry-run', '--json']);
    expect(seen.doc.warnings.join('\n')).not.toContain('this host shows');
  });
});
