// The host configuration format, gpuvirt/v1 kind HostConfig: one file of named configs shipped
// to every node of a fleet, each saying what the host's devices should be (passthrough driver,
// SR-IOV VF count and the VFs' driver, vGPU types, reset method) and what the host needs at
// boot (IOMMU parameters, vfio modules). The zod schema is what `host diff|assert|apply` check and what `host schema` exports.
import { z } from 'zod';

export const API_VERSION = 'gpuvirt/v1';
export const KIND = 'HostConfig';

const PCI_ADDRESS = /^(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\.[0-7]$/;
/** vendor:device, optionally followed by the subsystem vendor:device. */
const DEVICE_ID = /^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}(?::[0-9a-fA-F]{4}:[0-9a-fA-F]{4})?$/;
/** What the kernel command line accepts from a config: KEY or KEY=VALUE without quotes or shell characters. */
const KERNEL_PARAM = /^[A-Za-z0-9_.-]+(=[A-Za-z0-9_.,:=/+@%-]*)?$/;
const CONFIG_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export const hostSelectorSchema = z
  .strictObject({
    address: z.string().regex(PCI_ADDRESS, 'not a PCI address: write "0000:01:00.0" (quoted) or "01:00.0"').optional()
      .describe('PCI address, quoted ("0000:01:00.0"): YAML 1.1 readers take it for a number otherwise'),
    id: z.string().regex(DEVICE_ID, 'write vendor:device or vendor:device:subvendor:subdevice in hex, e.g. "10de:2204" or "10de:2204:1043:87b3"').optional()
      .describe('vendor:device[:subsystem vendor:subsystem device] ids'),
    name: z.string().min(1).max(200).regex(/^[^\u0000-\u001f\u007f]*$/).optional().describe('glob over the pci.ids name, e.g. "*A40*"'),
    index: z.int().min(0).max(255).optional().describe('which of the matching devices, in address order (0 = first)'),
    all: z.literal(true).optional().describe('every GPU (display or accelerator class) of the host; with id or name, every one matching'),
  })
  .describe('Which host devices. Every field given must match; without index a selector takes every device that matches.');

export const passthroughDriverSchema = z.enum(['vfio-pci', 'pci-stub']);

export const vgpuWantSchema = z
  .strictObject({
    type: z.union([z.int().min(1), z.string().min(1).max(100).regex(/^[^\u0000-\u001f\u007f]*$/)])
      .describe('the vGPU type: its id (1152, nvidia-222, i915-GVTg_V5_4) or its name as the driver lists it (NVIDIA L40S-8Q or L40S-8Q, GRID T4-1Q)'),
    count: z.int().min(0).max(256).describe('how many vGPUs of that type (0: none)'),
  })
  .describe('how many vGPUs of one type');

export const hostDeviceSchema = z
  .strictObject({
    select: hostSelectorSchema,
    driver: passthroughDriverSchema.optional().describe('bind to this passthrough driver (with its slot and IOMMU group, as `gpuvirt passthrough`)'),
    sriov: z
      .strictObject({
        vfs: z.int().min(0).max(256).describe('how many VFs the PF has (0: SR-IOV off)'),
        vfDriver: z.literal('vfio-pci').optional().describe('the VFs are bound to vfio-pci; omitted: whatever driver the host gives them'),
      })
      .optional()
      .describe('the device is an SR-IOV PF with this many VFs'),
    resetMethod: z.literal('device_specific').optional()
      .describe('reset through vendor-reset (AMD Polaris, Vega, Navi 10/12/14): device_specific selected now and at every boot by a udev rule, as `gpuvirt setup --reset`'),
    vgpu: z.array(vgpuWantSchema).min(1).max(16).optional()
      .describe('the vGPUs the GPU carries, through the path `gpuvirt vgpu create` takes for it: NVIDIA vendor-specific VFIO (kernel 6.8+, one per VF, lowest free VFs first) or mediated devices (NVIDIA before 6.8, GVT-g; UUIDs derived from parent, type and number); every other vGPU of the GPU is removed'),
  })
  .describe('Selected devices and what they should be: on a passthrough driver or an SR-IOV PF, and how they reset');

export const hostWideSchema = z
  .strictObject({
    iommu: z.boolean().default(false).describe('the IOMMU kernel parameters this host needs (what `gpuvirt setup --iommu` adds)'),
    kernelParams: z.array(z.string().regex(KERNEL_PARAM, 'KEY or KEY=VALUE without spaces, quotes or shell characters')).max(32).default([])
      .describe('more kernel parameters, e.g. iommu=pt'),
    vfioModules: z.boolean().default(false).describe('vfio, vfio_iommu_type1 and vfio_pci loaded at boot and in the initramfs'),
  })
  .describe('Host-wide boot configuration');

export const hostConfigEntrySchema = z
  .strictObject({
    description: z.string().max(4000).optional(),
    host: hostWideSchema.default({ iommu: false, kernelParams: [], vfioModules: false }),
    devices: z.array(hostDeviceSchema).max(256).default([]),
  })
  .describe('One named host state');

export const hostConfigFileSchema = z
  .strictObject({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(KIND),
    configs: z.record(z.string().regex(CONFIG_NAME, 'a config name: letters, digits, "_", "." and "-"'), hostConfigEntrySchema)
      .describe('named configs; `-c NAME` picks one'),
  })
  .describe('Host configurations for a fleet (gpuvirt/v1, kind HostConfig)');

export type HostSelector = z.output<typeof hostSelectorSchema>;
export type HostDevice = z.output<typeof hostDeviceSchema>;
export type HostConfig = z.output<typeof hostConfigEntrySchema>;
export type HostConfigFile = z.output<typeof hostConfigFileSchema>;

export function hostConfigJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(hostConfigFileSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return { title: 'gpuvirt host configuration (gpuvirt/v1, kind HostConfig)', ...schema };
}
