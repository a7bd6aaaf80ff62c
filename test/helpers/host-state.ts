// Everything a simulated machine holds that a change could touch, for "left as it was"
// comparisons: the root's tree (tree-state.ts) plus the files the simulation keeps off the root,
// the ESPs proxmox-boot-tool writes (as `esp:<UUID><path>` entries).
import type { SimHost } from '../../src/sim/host.js';
import { treeState } from './tree-state.js';

export function hostState(sim: SimHost): Record<string, string> {
  const out = treeState(sim.root);
  for (const [uuid, files] of Object.entries(sim.host.espFiles())) {
    for (const [path, content] of Object.entries(files)) out[`esp:${uuid}${path}`] = `file ${content}`;
  }
  return out;
}
