// `generate --target qemu --single-gpu` on the simulated machines: the script wraps the same
// QEMU command in the hand-over the libvirt hook runs (one source), with this host's facts; the
// option's usage errors and what stops it.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { gpuvirt, PROFILES } from '../generate/run.js';
import { FIXTURES, machine } from '../helpers/sim.js';
import { qemuHandover } from '../../src/singlegpu/script.js';

const GAMING = [`${PROFILES}nvidia-gaming.yaml`, '--root', `${FIXTURES}intel-desktop-nvidia`, '--target', 'qemu'];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpuvirt-single-'));

function profile(name: string, ...addresses: string[]): string {
  const f = path.join(dir, `${name}.yaml`);
  const gpus = addresses.map((a) => `  - type: gpu\n    select:\n      address: ${a}\n    functions: all\n`).join('');
  fs.writeFileSync(f, `apiVersion: gpuvirt/v1\nname: ${name}\nmemory: 4GiB\ncpu:\n  cores: 2\nhugepages: false\ndevices:\n${gpus}`);
  return f;
}

describe('generate --target qemu --single-gpu', () => {
  it('wraps the plain script\'s QEMU command in the hand-over, with the GPU\'s functions and host modules', async () => {
    const plain = await gpuvirt(['generate', ...GAMING]);
    const single = await gpuvirt(['generate', ...GAMING, '--single-gpu', '--json']);
    expect(single.code, single.stderr).toBe(0);
    const script: string = single.doc.data.output;
    // The plain script's `exec <QEMU command> "$@"`: the same command runs inside the hand-over.
    const run = plain.stdout.slice(plain.stdout.indexOf('\nexec ') + 6).trimEnd();
    const spec = { vm: 'gaming', functions: ['0000:01:00.0', '0000:01:00.1'], modules: ['nvidia', 'snd_hda_intel'], displayManager: null };
    expect(script).toContain(qemuHandover(spec, run).trimEnd());
    expect(script).not.toMatch(/\nexec qemu/);
    expect(script).toContain('# It hands 0000:01:00.0, 0000:01:00.1 to the VM');
    // Everything before QEMU's run is the plain script's.
    expect(script.slice(script.indexOf('set -eu'), script.indexOf('# Single-GPU'))).toBe(plain.stdout.slice(plain.stdout.indexOf('set -eu'), plain.stdout.indexOf('\nexec ') + 1));
    expect(single.doc.data.argv).toEqual((await gpuvirt(['generate', ...GAMING, '--json'])).doc.data.argv);
    const file = path.join(dir, 'vm.sh');
    fs.writeFileSync(file, script);
    for (const sh of ['dash', 'bash']) expect(() => execFileSync(sh, ['-n', file])).not.toThrow();
  });

  it('usage: for --target qemu only, and not with --offline', async () => {
    const libvirt = await gpuvirt(['generate', `${PROFILES}nvidia-gaming.yaml`, '--root', `${FIXTURES}intel-desktop-nvidia`, '--target', 'libvirt', '--single-gpu', '--json']);
    expect(libvirt.code).toBe(2);
    expect(libvirt.doc.error.message).toContain('gpuvirt singlegpu');
    const offline = await gpuvirt(['generate', `${PROFILES}nvidia-gaming.yaml`, '--offline', '--target', 'qemu', '--single-gpu', '--json']);
    expect(offline.code).toBe(2);
    expect(offline.doc.error.message).toContain('--offline');
  });

  it('a GPU with the reset bug: the script is written, with the warning the hook\'s install refuses on', async () => {
    const r = await gpuvirt(['generate', profile('navi', '0000:0b:00.0'), '--root', `${FIXTURES}navi10-single-gpu`, '--target', 'qemu', '--single-gpu', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.doc.warnings.join('\n')).toMatch(/single-gpu: the give-back may leave a black screen: AMD Navi 10 .*vendor-reset is not installed/);
    expect(r.doc.data.output).toContain("FUNCS='0000:0b:00.0 0000:0b:00.1'");
  });

  it('refuses a GPU already on vfio-pci (no host driver to give back) and a profile with two GPUs', async () => {
    const m = machine('two-identical-gpus');
    const two = await m.run(['generate', profile('two', '0000:01:00.0', '0000:02:00.0'), '--target', 'qemu', '--single-gpu', '--json']);
    expect(two.code, two.stdout).toBe(5);
    expect(two.doc.error.message).toBe('--single-gpu hands one GPU to the VM: the profile passes 2 GPUs');
    expect((await m.run(['passthrough', '02:00.0', '--yes'])).code).toBe(0);
    const vfio = await m.run(['generate', profile('one', '0000:02:00.0'), '--target', 'qemu', '--single-gpu', '--json']);
    expect(vfio.code, vfio.stdout).toBe(7);
    expect(vfio.doc.error.message).toBe('--single-gpu: 0000:02:00.0 is on vfio-pci: the give-back needs the host driver the GPU runs the desktop with');
  });
});
