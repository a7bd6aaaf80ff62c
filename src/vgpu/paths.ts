// NVIDIA's vendor-specific VFIO attributes of a VF (the driver's `nvidia` attribute group).
import { paths } from '../host/paths.js';

export const vgpuTypePath = (vf: string) => paths.pciAttr(vf, 'nvidia/current_vgpu_type');
export const vgpuCreatablePath = (vf: string) => paths.pciAttr(vf, 'nvidia/creatable_vgpu_types');
