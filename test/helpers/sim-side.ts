// The simulated kernel as a ground-truth side (test/ground-truth/runner.ts): the same four
// operations the QEMU guest performs on the real kernel, through SimKernel and SimExec.
import { linkName } from '../../src/host/host.js';
import type { SimHost } from '../../src/sim/host.js';
import type { KernelSide } from '../ground-truth/runner.js';

const code = (err: unknown) => (err as NodeJS.ErrnoException).code ?? String(err);

export function simSide(sim: SimHost): KernelSide {
  return {
    write(path, value) {
      try {
        sim.host.writeAttr(path, value);
        return 'ok';
      } catch (err) {
        return code(err);
      }
    },
    read(path) {
      try {
        const text = sim.host.readText(path);
        return text === null ? { errno: 'ENOENT' } : { text };
      } catch (err) {
        return { errno: code(err) };
      }
    },
    async exec(argv) {
      const r = await sim.exec.run(argv);
      return { status: r.exitCode, out: `${r.stdout}${r.stderr}` };
    },
    exists: (path) => sim.host.exists(path),
    writeFile: (path, content) => (content === null ? sim.host.removeFile(path) : sim.host.writeFile(path, content)),
    linkName: (path) => linkName(sim.host, path),
  };
}
