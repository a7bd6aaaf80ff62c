// Every example profile, every target: golden files (reviewed by hand once; update on purpose
// with `vitest -u` and read the diff), then each output judged by its consumer's own rules.
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { gpuvirt, hostArgs, PROFILES, runScript } from './run.js';
import { inCI, libvirtTools, missing, parseQemuOpts, qemuDeviceProps, qemuTool, virtXmlValidate } from './tools.js';

/** Each example with the fixture machine it was written for (null: generated --offline). */
export const EXAMPLES: { profile: string; root: string | null }[] = [
  { profile: 'nvidia-gaming', root: 'intel-desktop-nvidia' },
  { profile: 'amd-mxgpu-vdi', root: 'server-mxgpu-sriov' },
  { profile: 'intel-gvtg', root: null },
  { profile: 'twin-gpu-a', root: 'two-identical-gpus' },
  { profile: 'twin-gpu-b', root: 'two-identical-gpus' },
  { profile: 'headless-compute', root: 'server-mxgpu-sriov' },
];
const EXT = { qemu: 'sh', libvirt: 'xml', proxmox: 'conf' } as const;
type Target = keyof typeof EXT;

const outputs: Record<string, Record<Target, any>> = {};

beforeAll(async () => {
  for (const ex of EXAMPLES) {
    outputs[ex.profile] = {} as Record<Target, any>;
    for (const target of Object.keys(EXT) as Target[]) {
      const r = await gpuvirt(['generate', `${PROFILES}${ex.profile}.yaml`, '--target', target, '--json', ...hostArgs(ex.root)]);
      expect(r.code, `${ex.profile} ${target}: ${r.stdout}`).toBe(0);
      outputs[ex.profile]![target] = r.doc.data;
    }
  }
}, 60_000);

describe.each(EXAMPLES)('$profile', ({ profile }) => {
  it.each(Object.keys(EXT) as Target[])('%s matches its golden file', async (target) => {
    await expect(outputs[profile]![target].output).toMatchFileSnapshot(`../golden/${profile}.${target}.${EXT[target]}`);
  });
  it('proxmox commands and mapping match their golden files', async () => {
    const { artifacts } = outputs[profile]!.proxmox.proxmox;
    await expect(artifacts.commands).toMatchFileSnapshot(`../golden/${profile}.proxmox.sh`);
    await expect(artifacts.mapping).toMatchFileSnapshot(`../golden/${profile}.proxmox.pci.cfg`);
  });
});

describe('libvirt output against libvirt\'s own schema (virt-xml-validate)', () => {
  it('every example domain validates', (ctx) => {
    if (!libvirtTools && !inCI) ctx.skip(missing('virt-xml-validate', 'libvirt-clients libxml2-utils'));
    expect(libvirtTools, missing('virt-xml-validate', 'libvirt-clients libxml2-utils')).toBe(true);
    const docs = Object.fromEntries(EXAMPLES.map((e) => [e.profile, outputs[e.profile]!.libvirt.output as string]));
    expect(virtXmlValidate(docs)).toEqual({});
  });
});

describe('QEMU output against the installed QEMU\'s property names', () => {
  it('every -device and -object property exists, and the script runs the argv', (ctx) => {
    if (!qemuTool && !inCI) ctx.skip(missing('qemu-system-x86_64', 'qemu-system-x86'));
    expect(qemuTool, missing('qemu-system-x86_64', 'qemu-system-x86')).toBe(true);
    const known: Record<string, Set<string>> = {};
    // Options every device (id, bus) or object (id) takes, which help does not list.
    const generic = { '-device': new Set(['id', 'bus']), '-object': new Set(['id']) };
    for (const ex of EXAMPLES) {
      const { argv, output } = outputs[ex.profile]!.qemu as { argv: string[]; output: string };
      argv.forEach((a, i) => {
        if (argv[i - 1] !== '-device' && argv[i - 1] !== '-object') return;
        const { type, props } = parseQemuOpts(a);
        const kind = argv[i - 1] as '-device' | '-object';
        known[type] ??= qemuDeviceProps(type, kind);
        for (const [k] of props) expect(known[type]!.has(k) || generic[kind].has(k), `${ex.profile}: ${type} has no property ${k}`).toBe(true);
      });
      expect(spawnSync('sh', ['-n', '-c', output]).status, `${ex.profile}: sh -n`).toBe(0);
      if (!argv.some((a) => a.includes('sysfsdev='))) expect(runScript(output)).toEqual(argv);
    }
    expect(known['vfio-pci']?.has('x-vga')).toBe(true);
  });
});
