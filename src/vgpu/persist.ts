// vGPU types that survive a reboot are kept in the boot record (/etc/gpuvirt/host.yaml, as a
// device entry's `vgpu`: vGPUs per GPU and type), and gpuvirt-host.service makes them at boot
// once the VFs exist (src/hostconfig/record.ts, early.ts). Earlier versions set each VF's type
// from a unit of their own; it is named here so that status shows it and the next --persist or
// `host unpersist` removes it.
export const VGPU_UNIT_NAME = 'gpuvirt-nvidia-vgpu.service';
export const VGPU_UNIT = `/etc/systemd/system/${VGPU_UNIT_NAME}`;
