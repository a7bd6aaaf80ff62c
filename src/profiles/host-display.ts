// Whether this host can run a profile's paravirtual 3D display (VirGL, Venus): QEMU renders
// the guest's commands with virglrenderer on a GPU render node (/dev/dri/renderD*).
import type { Host } from '../host/host.js';
import { problem, type Problem } from './problems.js';
import type { Profile } from './schema.js';
import type { ResolvedDevice } from './resolve.js';

const DRI = '/dev/dri';
/** Where distributions install libvirglrenderer.so.1 (Debian multiarch, Fedora, Arch). */
const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib'];

export interface DisplayFacts {
  renderNodes: string[];
  virglrenderer: boolean;
}

export function readDisplayFacts(host: Host): DisplayFacts {
  return {
    renderNodes: (host.list(DRI) ?? []).filter((n) => n.startsWith('renderD')).map((n) => `${DRI}/${n}`),
    virglrenderer: LIB_DIRS.some((d) => host.exists(`${d}/libvirglrenderer.so.1`)),
  };
}

export function displayHostProblems(profile: Profile, devices: readonly ResolvedDevice[], facts: DisplayFacts): Problem[] {
  const fb = profile.display.fallback;
  if ((fb !== 'virgl' && fb !== 'venus') || devices.some((d) => d.kind === 'pci' && d.primary)) return [];
  const out: Problem[] = [];
  const at = ['display', 'fallback'];
  if (!facts.renderNodes.length) out.push(problem('warning', at, `${fb} needs a GPU render node on this host (${DRI}/renderD*), and there is none`));
  if (!facts.virglrenderer) out.push(problem('warning', at, `${fb} needs virglrenderer on this host (Debian: apt-get install libvirglrenderer1)`));
  if (fb === 'venus') out.push(problem('warning', at, 'venus also needs QEMU 9.2 or later and a virglrenderer built with Venus, which gpuvirt cannot check'));
  return out;
}
