import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { FsHost } from '../../src/host/fs-host.js';
import type { Host } from '../../src/host/host.js';
import { captureIO } from '../helpers/io.js';
import { makeTree } from '../helpers/tree.js';

const PARENT = '0000:00:02.0';
const TYPE = 'i915-GVTg_V5_4';
const UUID = '0f3b2d44-9d1c-4c3e-8a3b-7d2f1e6c5a90';
const typeDir = `sys/class/mdev_bus/${PARENT}/mdev_supported_types/${TYPE}`;

/** A GVT-g parent whose `create` and `remove` behave like the mdev core (or fail when told). */
function gvtHost(opts: { createMakesNothing?: boolean } = {}): Host {
  const root = makeTree({
    [`${typeDir}/name`]: 'GVTg_V5_4\n', [`${typeDir}/available_instances`]: '2\n', [`${typeDir}/device_api`]: 'vfio-pci\n',
    [`${typeDir}/description`]: 'low_gm_size: 128MB\nhigh_gm_size: 512MB\n', [`${typeDir}/create`]: '', 'sys/bus/mdev/devices/.keep': '',
  });
  const fs = new FsHost(root);
  return Object.assign(Object.create(FsHost.prototype), fs, {
    writeAttr(path: string, value: string) {
      if (path.endsWith('/create')) {
        if (!opts.createMakesNothing) fs.writeFile(`/sys/bus/mdev/devices/${value}/mdev_type`, TYPE);
        return;
      }
      if (path.endsWith('/remove')) return fs.removeFile(path.replace(/\/remove$/, '/mdev_type'));
      throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
    },
    // A device directory exists while its mdev_type link (here a file) does.
    exists: (p: string) => (/\/sys\/bus\/mdev\/devices\/[0-9a-f-]{36}$/.test(p) ? fs.exists(`${p}/mdev_type`) : fs.exists(p)),
  });
}

async function run(host: Host, argv: string[]) {
  const io = captureIO();
  const code = await main([...argv, '--root', host.root], { io, env: {}, platform: 'linux', makeHost: () => host });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('mdev', () => {
  it('types lists name, available instances and API', async () => {
    const r = await run(gvtHost(), ['mdev', 'types', '--json']);
    expect(JSON.parse(r.stdout).data.parents[0].types[0]).toMatchObject({ id: TYPE, name: 'GVTg_V5_4', availableInstances: 2, deviceApi: 'vfio-pci' });
  });

  it('create writes the UUID and checks the device appeared', async () => {
    const host = gvtHost();
    const r = await run(host, ['mdev', 'create', '00:02.0', TYPE, '--uuid', UUID, '--yes']);
    expect(r.code).toBe(0);
    expect(host.exists(`/sys/bus/mdev/devices/${UUID}`)).toBe(true);
    expect((await run(host, ['mdev', 'remove', UUID, '--yes'])).code).toBe(0);
    expect(host.exists(`/sys/bus/mdev/devices/${UUID}`)).toBe(false);
  });

  it('a create that makes no device fails verification', async () => {
    const r = await run(gvtHost({ createMakesNothing: true }), ['mdev', 'create', '00:02.0', TYPE, '--uuid', UUID, '--yes']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('does not exist');
  });

  it('an unknown type or a bad UUID is refused before anything is written', async () => {
    expect((await run(gvtHost(), ['mdev', 'create', '00:02.0', 'nvidia-999', '--yes'])).code).toBe(5);
    expect((await run(gvtHost(), ['mdev', 'create', '00:02.0', TYPE, '--uuid', 'not-a-uuid', '--yes'])).code).toBe(2);
  });
});
