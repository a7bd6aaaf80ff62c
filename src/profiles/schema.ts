// The profile format, gpuvirt/v1, in one place: the zod schema below is what `profile
// validate` checks, what `profile schema` exports as JSON Schema for editors, and where the
// Profile type comes from. Rules that relate several fields live in rules.ts.
// Loaded only by the commands that read profiles (zod is not part of doctor's startup).
import { z } from 'zod';

export const API_VERSION = 'gpuvirt/v1';

/** The kernel's full form or lspci's short form; turned into the full form after parsing. */
const PCI_ADDRESS = /^(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\.[0-7]$/;
const ID_PAIR = /^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$/;
/** mdev type ids are `<driver>-<group>` (nvidia-222, i915-GVTg_V5_4); they become a sysfs path component. */
const MDEV_TYPE = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/**
 * No control characters (they would end a comment line or change an XML attribute's meaning),
 * no lone surrogates and no U+FFFE/U+FFFF (XML 1.0 cannot carry them).
 */
const NOT_TEXT = '\\u0000-\\u001f\\u007f\\ud800-\\udfff\\ufffe\\uffff';
const PRINTABLE = new RegExp(`^[^${NOT_TEXT}]*$`, 'u');
const NAME = new RegExp(`^[^/${NOT_TEXT}]+$`, 'u');

const pciAddress = z.string().regex(PCI_ADDRESS, 'not a PCI address: write 0000:01:00.0 or 01:00.0, as lspci shows it');
const idPair = z.string().regex(ID_PAIR, 'write vendor:device as 4 hex digits each, e.g. 10de:2204');
const absPath = z
  .string()
  .regex(new RegExp(`^/[^${NOT_TEXT}]*$`, 'u'), 'an absolute path with no control characters')
  .max(4096);

export const selectorSchema = z
  .strictObject({
    address: pciAddress.optional().describe('PCI address of the device (function 0 for a whole GPU)'),
    id: idPair.optional().describe('vendor:device ids; with address, the ids the device must have'),
    subsystem: idPair.optional().describe('subsystem vendor:device ids (tells apart cards with one chip)'),
    name: z.string().min(1).max(200).regex(PRINTABLE).optional().describe('glob over the pci.ids name, e.g. "*RTX 3090*"'),
    index: z.int().min(0).max(255).optional().describe('which of several matching devices, in address order (0 = first)'),
    iommuGroup: z.int().min(0).optional().describe('the IOMMU group the device must be in (drift check)'),
    class: z.string().regex(/^[0-9a-fA-F]{4}(?:[0-9a-fA-F]{2})?$/, 'a PCI class such as 0300 (VGA) or 030000').optional()
      .describe('PCI class of the device (0300 = VGA); lets --offline know a VGA function for x-vga'),
  })
  .describe('Which host device: an address, or ids/name (+ index when several match). Every field given must match.');

const romSchema = z
  .strictObject({
    file: absPath.regex(/[^/]$/, 'a file, not a directory').optional().describe('ROM image to show the guest instead of the card\'s own'),
    bar: z.boolean().default(true).describe('expose the ROM BAR to the guest'),
  })
  .describe('The option ROM the guest sees (function 0 only)');

const pcieFlag = z.boolean().optional().describe('attach behind a PCIe root port (q35 only; default: true on q35)');

export const gpuDeviceSchema = z
  .strictObject({
    type: z.literal('gpu'),
    select: selectorSchema,
    functions: z
      .union([z.literal('all'), z.array(z.int().min(0).max(7)).min(1).max(8)], { error: '"all", or a list of function numbers such as [0, 1]' })
      .default('all')
      .describe('"all" functions of the slot (GPU, HDMI audio, USB-C), or a list of function numbers'),
    primary: z.boolean().default(false).describe('the VM\'s display: no emulated VGA next to it'),
    xVga: z.boolean().optional().describe('legacy VGA ranges (x-vga), VGA-class functions only; default: primary with firmware bios'),
    pcie: pcieFlag,
    rom: romSchema.optional(),
  })
  .describe('A whole GPU passed through with vfio-pci');

export const vfDeviceSchema = z
  .strictObject({
    type: z.literal('vf'),
    pf: selectorSchema.describe('the physical function whose VF is passed'),
    vf: z.union([z.int().min(0).max(255), z.literal('any')], { error: 'a VF index (0, 1, ...) or "any"' }).describe('VF index, or "any" for the first free VF'),
    vfCount: z.int().min(1).max(256).describe('how many VFs the PF should have (gpuvirt apply sets it)'),
    address: pciAddress.optional().describe('the VF\'s own address; needed with --offline'),
    primary: z.boolean().default(false).describe('the VM\'s display'),
    pcie: pcieFlag,
    rom: romSchema.optional(),
  })
  .describe('An SR-IOV virtual function (AMD MxGPU, Intel SR-IOV, NVIDIA vGPU VF)');

export const mdevDeviceSchema = z
  .strictObject({
    type: z.literal('mdev'),
    parent: selectorSchema.describe('the parent device (a GPU or a VF)'),
    mdevType: z.string().regex(MDEV_TYPE, 'an mdev type id such as i915-GVTg_V5_4 or nvidia-222').describe('mdev_supported_types entry'),
    uuid: z.string().regex(UUID, 'a UUID such as 4b20d080-1b54-4048-85b3-a6a62d165c01').optional().describe('the instance UUID; default: derived from the profile name'),
    display: z.boolean().default(false).describe('the mdev\'s own display (vGPU/GVT-g display=on)'),
  })
  .describe('A mediated device (Intel GVT-g, NVIDIA vGPU)');

export const deviceSchema = z.discriminatedUnion('type', [gpuDeviceSchema, vfDeviceSchema, mdevDeviceSchema]);

const SIZE = /^[1-9][0-9]*(MiB|GiB|TiB)$/;
const size = (what: string) => z.string().regex(SIZE, `a size such as 64GiB or 512MiB (${what})`);

export const diskSchema = z
  .strictObject({
    size: size('disk size').describe('size of a new disk (Proxmox allocates it; QEMU and libvirt use the file)'),
    path: absPath.optional().describe('image file for QEMU and libvirt (default /var/lib/libvirt/images/<name>-<n>.qcow2)'),
    format: z.enum(['qcow2', 'raw']).default('qcow2'),
    bus: z.enum(['scsi', 'virtio', 'sata']).default('scsi').describe('scsi = virtio-scsi'),
  })
  .describe('A virtual disk');

export const nicSchema = z
  .strictObject({
    model: z.enum(['virtio', 'e1000e']).default('virtio'),
    bridge: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'a Linux bridge name such as vmbr0 or br0').optional()
      .describe('host bridge; default: QEMU user networking, libvirt network "default", Proxmox vmbr0'),
    mac: z.string().regex(/^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/, 'a MAC address such as 52:54:00:12:34:56').optional(),
  })
  .describe('A virtual network card');

const lookingGlassSchema = z
  .strictObject({
    size: size('shared memory').default('64MiB').describe('IVSHMEM size: 32MiB for 1080p, 64MiB for 1440p, 128MiB for 4K'),
    device: z.enum(['shm', 'kvmfr']).default('shm').describe('shm = a file in /dev/shm; kvmfr = /dev/kvmfr0 (the kvmfr module)'),
    user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a user name such as alice').optional()
      .describe('kvmfr: the user who runs looking-glass-client, owner of /dev/kvmfr0 (apply writes the udev rule)'),
    group: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a group name such as kvm').default('kvm')
      .describe('kvmfr: the group of /dev/kvmfr0, which QEMU must be in (kvm: libvirt\'s QEMU user is, on Debian)'),
  })
  .describe('Looking Glass: an IVSHMEM device the guest copies its frames into');

const targetsSchema = z
  .strictObject({
    qemu: z
      .strictObject({
        binary: z.string().min(1).regex(PRINTABLE).regex(/^[^-]/, 'a program, not an option: a path or a command name').default('qemu-system-x86_64'),
        firmwareFile: absPath.optional().describe('OVMF code image (default: chosen from the firmware descriptors)'),
        hugepagesPath: absPath.optional().describe('hugetlbfs mount (default /dev/hugepages)'),
        extraArgs: z.array(z.string().regex(PRINTABLE)).default([]).describe('appended to the command line, each one argument'),
        firmwareDir: absPath.optional().describe('firmware descriptors to choose OVMF from (default /usr/share/qemu/firmware)'),
        dir: absPath.optional().describe('where the script keeps this VM\'s UEFI variables, TPM state and sockets (default /var/lib/gpuvirt/vms/<name>)'),
      })
      .optional(),
    libvirt: z
      .strictObject({
        domainName: z.string().min(1).max(200).regex(NAME, 'no "/" and no control characters').optional().describe('default: the profile name'),
        emulator: absPath.optional(),
        xml: z.array(z.string().max(65536)).default([]).describe('XML elements added to the domain: <devices> children go into <devices>, others into <domain>'),
      })
      .optional(),
    proxmox: z
      .strictObject({
        vmid: z.int().min(100).max(999999999),
        node: z.string().regex(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/, 'a Proxmox node name').optional().describe('with a node, devices go through /etc/pve/mapping/pci.cfg'),
        storage: z.string().regex(/^[a-z][a-z0-9\-_.]*[a-z0-9]$/i, 'a Proxmox storage id such as local-lvm').default('local-lvm').describe('storage for new disks, the EFI disk and the TPM state'),
        extra: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/), z.string().regex(PRINTABLE)).default({})
          .describe('more qemu-server keys (e.g. args, hookscript); a key gpuvirt also sets is refused'),
      })
      .optional(),
  })
  .default({})
  .describe('Per-target options');

export const profileSchema = z
  .strictObject({
    apiVersion: z.literal(API_VERSION),
    name: z
      .string()
      .min(1)
      .max(64)
      .regex(NAME, 'no "/" and no control characters')
      .describe('VM name'),
    description: z.string().max(4000).regex(new RegExp(`^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\ud800-\\udfff\\ufffe\\uffff]*$`, 'u'), 'text without control characters').optional(),
    machine: z.enum(['q35', 'i440fx']).default('q35'),
    firmware: z.enum(['uefi', 'bios']).default('uefi').describe('uefi = OVMF; bios = SeaBIOS'),
    memory: z
      .union([z.int().min(128), z.string().regex(/^[1-9][0-9]*(MiB|GiB)$/, 'a size such as 16GiB or 4096MiB, or a number of MiB')], { error: 'a size such as 16GiB or 4096MiB, or a number of MiB (at least 128)' })
      .describe('RAM: 16GiB, 4096MiB, or a number of MiB'),
    cpu: z
      .strictObject({
        sockets: z.int().min(1).max(8).default(1),
        cores: z.int().min(1).max(512),
        threads: z.int().min(1).max(8).default(1),
        pinning: z.array(z.int().min(0).max(4095)).optional().describe('host CPU for each vCPU, in vCPU order'),
      })
      .describe('vCPU topology'),
    hugepages: z.union([z.boolean(), z.enum(['2M', '1G'])], { error: 'true, false, "2M" or "1G"' }).default(false).describe('back guest RAM with hugepages'),
    os: z.enum(['linux', 'windows11', 'windows10', 'other']).default('other').describe('guest OS: sets Windows clock, Hyper-V and TPM defaults and Proxmox ostype'),
    tpm: z.boolean().optional().describe('an emulated TPM 2.0 (swtpm); default: true for windows11'),
    secureBoot: z.boolean().optional().describe('OVMF with Secure Boot and Microsoft keys enrolled (machine q35); default: true for windows11 on q35'),
    hyperv: z.boolean().optional().describe('Hyper-V enlightenments; default: true for Windows guests'),
    mmio64: size('64-bit PCI MMIO window').optional().describe('OVMF 64-bit MMIO window for large-BAR GPUs, e.g. 64GiB'),
    disks: z.array(diskSchema).max(16).default([]),
    nics: z.array(nicSchema).max(8).default([]),
    lookingGlass: lookingGlassSchema.optional(),
    display: z
      .strictObject({
        fallback: z.enum(['none', 'virtio-gpu', 'virgl', 'venus']).default('none')
          .describe('paravirtual display when no passed GPU is primary; virgl = OpenGL, venus = Vulkan, through virtio-gpu'),
        backend: z.enum(['none', 'vnc', 'spice']).default('none').describe('how the host shows the display (QEMU and libvirt); none = headless'),
      })
      .default({ fallback: 'none', backend: 'none' })
      .describe('paravirtual display and how it is shown'),
    devices: z.array(deviceSchema).max(32).default([]),
    targets: targetsSchema,
  })
  .describe('A VM that uses host GPUs (gpuvirt profile, apiVersion gpuvirt/v1)');

export type Profile = z.output<typeof profileSchema>;
export type Selector = z.output<typeof selectorSchema>;
export type Device = z.output<typeof deviceSchema>;
export type GpuDevice = z.output<typeof gpuDeviceSchema>;
export type VfDevice = z.output<typeof vfDeviceSchema>;
export type MdevDevice = z.output<typeof mdevDeviceSchema>;

/** The JSON Schema editors use (draft 2020-12), describing what a user may write. */
export function profileJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(profileSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return { title: 'gpuvirt profile (gpuvirt/v1)', ...schema };
}
