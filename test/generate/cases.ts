// Every profile the consumer tests run: the examples, and edge cases of our own, each with the
// fixture machine it resolves against (null: generated --offline).
import { PROFILES } from './run.js';

export const EDGE = new URL('./edge/', import.meta.url).pathname;

export interface Case {
  name: string;
  file: string;
  root: string | null;
}

const example = (profile: string, root: string | null): Case => ({ name: profile, file: `${PROFILES}${profile}.yaml`, root });
const edge = (profile: string, root: string | null): Case => ({ name: `edge/${profile}`, file: `${EDGE}${profile}.yaml`, root });

export const EXAMPLE_CASES: Case[] = [
  example('nvidia-gaming', 'intel-desktop-nvidia'),
  example('amd-mxgpu-vdi', 'server-mxgpu-sriov'),
  example('intel-gvtg', null),
  example('twin-gpu-a', 'two-identical-gpus'),
  example('twin-gpu-b', 'two-identical-gpus'),
  example('headless-compute', 'server-mxgpu-sriov'),
];

/** Accepted by every target (rom-comma is not: Proxmox cannot name that ROM). */
export const EDGE_CASES: Case[] = [
  edge('several-gpus-bios', 'two-identical-gpus'),
  edge('vf-any-node', 'server-mxgpu-sriov'),
  edge('mdev-offline', null),
  edge('rom-spaces-ovmf-xvga', 'intel-desktop-nvidia'),
  edge('i440fx-uefi-offline', null),
  edge('virgl-no-gpu', null),
  edge('win11-full', 'intel-desktop-nvidia'),
];

export const ALL_CASES: Case[] = [...EXAMPLE_CASES, ...EDGE_CASES];
