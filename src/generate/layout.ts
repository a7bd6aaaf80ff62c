// Where each passed device sits in the guest, shared by the QEMU and libvirt generators: on
// q35 every device gets its own PCIe root port (guest bus N, slot 0), on i440fx (or pcie:
// false) its own slot on the root bus. All functions of a device share that slot, so the
// guest sees GPU and HDMI audio as one multifunction device, as on the host.
import { paths } from '../host/paths.js';
import type { ResolvedDevice } from '../profiles/resolve.js';
import type { Profile } from '../profiles/schema.js';

export interface GuestFunction {
  /** Host address (vfio-pci host=), or null for an mdev (sysfsdev). */
  host: string | null;
  guestFn: number;
  /** First function of the device: carries multifunction, x-vga and the ROM. */
  first: boolean;
}

export interface Placement {
  device: ResolvedDevice;
  /** 1-based position among passed devices: hostpci ids and root-port numbers. */
  n: number;
  /** Root port number (its guest bus) when behind one, else null. */
  rootPort: number | null;
  /** Guest slot on the bus: 0 behind a root port, 0x10+ on the root bus. */
  slot: number;
  functions: GuestFunction[];
  multifunction: boolean;
}

/** First slot used on a root bus: clear of the slots QEMU and libvirt give their own devices. */
export const FIRST_ROOT_SLOT = 0x10;

export function placeDevices(devices: readonly ResolvedDevice[], machine: 'q35' | 'i440fx'): Placement[] {
  let rootSlot = FIRST_ROOT_SLOT;
  let port = 0;
  return devices.map((device, i) => {
    const behindPort = machine === 'q35' && device.pcie;
    const rootPort = behindPort ? ++port : null;
    const slot = behindPort ? 0 : rootSlot++;
    const functions: GuestFunction[] =
      device.kind === 'mdev'
        ? [{ host: null, guestFn: 0, first: true }]
        : device.source === 'vf'
          ? [{ host: device.functions[0]!.address, guestFn: 0, first: true }]
          : device.functions.map((f, k) => ({ host: f.address, guestFn: f.fn, first: k === 0 }));
    return { device, n: i + 1, rootPort, slot, functions, multifunction: functions.length > 1 };
  });
}

export const hex = (n: number, width: number) => `0x${n.toString(16).padStart(width, '0')}`;

/** gpuvirt's directory for one VM (its configs, UEFI variables, TPM state, sockets). */
export function vmDir(profile: Pick<Profile, 'name'>): string {
  const name = profile.name.replace(/[^A-Za-z0-9._-]/g, '_');
  // `.` and `..` are names a profile may have but not directories it may write into.
  return `${paths.stateDir}/vms/${/^\.+$/.test(name) ? name.replace(/\./g, '_') : name}`;
}

/** The image file of disks[i]: its path, or one beside libvirt's other images. */
export function diskPath(profile: Pick<Profile, 'name' | 'disks'>, i: number): string {
  const d = profile.disks[i]!;
  return d.path ?? `/var/lib/libvirt/images/${profile.name.replace(/[^A-Za-z0-9._-]/g, '_')}-${i}.${d.format === 'raw' ? 'img' : 'qcow2'}`;
}

/** How the display is shown: the profile's backend; an mdev's own display needs one, VNC by default. */
export function displayBackend(profile: Pick<Profile, 'display'>, devices: readonly ResolvedDevice[]): 'none' | 'vnc' | 'spice' {
  if (profile.display.backend !== 'none') return profile.display.backend;
  return devices.some((d) => d.kind === 'mdev' && d.display) ? 'vnc' : 'none';
}
