// What the kernel e2e suite needs on this machine, found or named as missing. Everything comes
// from Debian packages that .ci/run installs; a developer without them gets a skip that says
// which to install.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Tools {
  qemu: string;
  /** Kernel release, e.g. 6.1.0-56-amd64, with its image and modules. */
  kver: string;
  vmlinuz: string;
  busybox: string;
  dash: string;
  kmod: string;
  modprobe: string;
  depmod: string;
  node: string;
  /** Hardware acceleration usable for these guests: KVM only with kvm_intel/kvm_amd (not PVM). */
  kvm: boolean;
}

/** Files the nested QEMU loads besides its libraries (reference: consumer-facts, "A VM that really
 *  uses a VFIO device"): Debian builds TCG as a module; SeaBIOS (qemu-system-x86 depends on it);
 *  the option ROMs that boot a PVH vmlinux and (when the kernel could not be unpacked) a bzImage,
 *  and the one QEMU loads for its TPR patching (a warning without it). */
export const NESTED_QEMU_FILES = [
  '/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so', '/usr/share/seabios/bios-256k.bin', '/usr/share/qemu/pvh.bin', '/usr/share/qemu/linuxboot_dma.bin',
  '/usr/share/qemu/kvmvapic.bin',
  // The std VGA's own option ROM, as it is before it ran (the x-vga scenario's romfile).
  '/usr/share/seabios/vgabios-stdvga.bin',
];

export const PACKAGES = 'qemu-system-x86 linux-image-amd64 busybox-static kmod dash gcc libc6-dev linux-libc-dev binutils xz-utils';

function which(name: string, extra: string[] = []): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...extra, '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/** Kernel releases with both an image in /boot and modules, newest first. */
function kernels(): string[] {
  let names: string[];
  try {
    names = fs.readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-'));
  } catch {
    return [];
  }
  return names
    .map((n) => n.slice('vmlinuz-'.length))
    .filter((k) => fs.existsSync(`/lib/modules/${k}/modules.dep`))
    .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
}

function kvmUsable(): boolean {
  const hw = fs.existsSync('/sys/module/kvm_intel') || fs.existsSync('/sys/module/kvm_amd');
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    return hw;
  } catch {
    return false;
  }
}

export function findTools(): { tools: Tools } | { missing: string } {
  const missing: string[] = [];
  const need = (name: string, pkg: string) => {
    const p = which(name);
    if (!p) missing.push(`${name} (${pkg})`);
    return p ?? '';
  };
  const qemu = need('qemu-system-x86_64', 'qemu-system-x86');
  const busybox = need('busybox', 'busybox-static');
  const dash = need('dash', 'dash');
  const kmod = need('kmod', 'kmod');
  const modprobe = need('modprobe', 'kmod');
  const depmod = need('depmod', 'kmod');
  need('gcc', 'gcc libc6-dev linux-libc-dev');
  need('xz', 'xz-utils');
  const requested = process.env.GPUVIRT_E2E_KVER;
  const kver = requested ?? kernels()[0] ?? '';
  const vmlinuz = `/boot/vmlinuz-${kver}`;
  if (!kver) missing.push('a kernel in /boot with its modules (linux-image-amd64)');
  else {
    try {
      fs.accessSync(vmlinuz, fs.constants.R_OK);
    } catch {
      missing.push(`a readable ${vmlinuz}${requested ? ' (GPUVIRT_E2E_KVER)' : ''}`);
    }
  }
  for (const f of NESTED_QEMU_FILES) if (!fs.existsSync(f)) missing.push(`${f} (qemu-system-x86)`);
  if (!fs.existsSync('/usr/include/linux/vfio.h')) missing.push('/usr/include/linux/vfio.h (linux-libc-dev)');
  if (missing.length) return { missing: missing.join(', ') };
  return { tools: { qemu, kver, vmlinuz, busybox, dash, kmod, modprobe, depmod, node: process.execPath, kvm: kvmUsable() } };
}
