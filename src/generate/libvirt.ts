// libvirt: a complete domain XML (or just the <hostdev> elements), built with xmlbuilder2 so
// every name, path and description is escaped by an XML serializer rather than by hand.
// Elements and attributes follow libvirt's formatdomain and its RNG schema (host-facts D2),
// which the tests run on every output. x-vga has no libvirt attribute: it goes through
// <qemu:override> on the hostdev's user alias (libvirt >= 8.2).
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import type { Profile } from '../profiles/schema.js';
import { memoryMiB, vcpuCount } from '../profiles/schema.js';
import type { ResolvedDevice } from '../profiles/resolve.js';
import { hex, placeDevices, type Placement } from './layout.js';

const QEMU_NS = 'http://libvirt.org/schemas/domain/qemu/1.0';

export interface LibvirtOutput {
  xml: string;
  warnings: string[];
}

function pciAddress(addr: string): Record<string, string> {
  const [domain, bus, rest] = addr.split(':') as [string, string, string];
  const [slot, fn] = rest.split('.') as [string, string];
  return { domain: `0x${domain}`, bus: `0x${bus}`, slot: `0x${slot}`, function: `0x${fn}` };
}

function hostdevs(parent: XMLBuilder, p: Placement): void {
  const d = p.device;
  const guestBus = p.rootPort ?? 0;
  for (const f of p.functions) {
    const guest: Record<string, string> = { type: 'pci', domain: '0x0000', bus: hex(guestBus, 2), slot: hex(p.slot, 2), function: hex(f.guestFn, 1) };
    if (f.first && p.multifunction) guest.multifunction = 'on';
    if (d.kind === 'mdev') {
      const h = parent.ele('hostdev', { mode: 'subsystem', type: 'mdev', model: 'vfio-pci', ...(d.display ? { display: 'on' } : {}) });
      h.ele('source').ele('address', { uuid: d.uuid });
      h.ele('alias', { name: `ua-hostpci${p.n - 1}` });
      h.ele('address', guest);
      continue;
    }
    const h = parent.ele('hostdev', { mode: 'subsystem', type: 'pci', managed: 'yes' });
    h.ele('driver', { name: 'vfio' });
    h.ele('source').ele('address', pciAddress(f.host!));
    h.ele('alias', { name: `ua-hostpci${p.n - 1}-${f.guestFn}` });
    if (f.first && d.rom) h.ele('rom', { bar: d.rom.bar ? 'on' : 'off', ...(d.rom.file ? { file: d.rom.file } : {}) });
    h.ele('address', guest);
  }
}

/** The <hostdev> elements alone, for `virsh attach-device` or pasting into a domain. */
export function hostdevFragment(profile: Profile, devices: readonly ResolvedDevice[]): string {
  const root = create().ele('devices');
  for (const p of placeDevices(devices, profile.machine)) hostdevs(root, p);
  const inner = root.end({ prettyPrint: true, headless: true });
  return `${inner.split('\n').slice(1, -1).map((l) => l.replace(/^ {2}/, '')).join('\n')}\n`;
}

function osAndCpu(dom: XMLBuilder, profile: Profile): void {
  const os = dom.ele('os', profile.firmware === 'uefi' ? { firmware: 'efi' } : {});
  os.ele('type', { arch: 'x86_64', machine: profile.machine === 'q35' ? 'q35' : 'pc' }).txt('hvm');
  const features = dom.ele('features');
  features.ele('acpi');
  features.ele('apic');
  const { sockets, cores, threads } = profile.cpu;
  dom.ele('cpu', { mode: 'host-passthrough', check: 'none', migratable: 'off' }).ele('topology', { sockets: String(sockets), dies: '1', cores: String(cores), threads: String(threads) });
}

function memory(dom: XMLBuilder, profile: Profile): void {
  dom.ele('memory', { unit: 'MiB' }).txt(String(memoryMiB(profile)));
  dom.ele('vcpu', { placement: 'static' }).txt(String(vcpuCount(profile)));
  if (profile.cpu.pinning) {
    const tune = dom.ele('cputune');
    profile.cpu.pinning.forEach((cpu, vcpu) => tune.ele('vcpupin', { vcpu: String(vcpu), cpuset: String(cpu) }));
  }
  if (profile.hugepages !== false) {
    const pages = dom.ele('memoryBacking').ele('hugepages');
    if (profile.hugepages === '1G') pages.ele('page', { size: '1', unit: 'GiB' });
    if (profile.hugepages === '2M') pages.ele('page', { size: '2', unit: 'MiB' });
  }
}

function display(devs: XMLBuilder, profile: Profile, devices: readonly ResolvedDevice[]): void {
  const primary = devices.some((d) => d.kind === 'pci' && d.primary);
  // An mdev's own display (display='on') is shown through a graphics device.
  if (devices.some((d) => d.kind === 'mdev' && d.display)) devs.ele('graphics', { type: 'vnc', autoport: 'yes', listen: '127.0.0.1' });
  if (!primary && profile.display.fallback === 'virtio-gpu') {
    if (!devices.some((d) => d.kind === 'mdev' && d.display)) devs.ele('graphics', { type: 'vnc', autoport: 'yes', listen: '127.0.0.1' });
    devs.ele('video').ele('model', { type: 'virtio', heads: '1', primary: 'yes' });
  } else {
    devs.ele('video').ele('model', { type: 'none' });
  }
}

export function generateLibvirt(profile: Profile, devices: readonly ResolvedDevice[]): LibvirtOutput {
  const warnings: string[] = [];
  const placed = placeDevices(devices, profile.machine);
  const xVga = placed.filter((p) => p.device.kind === 'pci' && p.device.xVga);
  const dom = create().ele('domain', { type: 'kvm', ...(xVga.length ? { 'xmlns:qemu': QEMU_NS } : {}) });
  dom.ele('name').txt(profile.targets.libvirt?.domainName ?? profile.name);
  dom.ele('description').txt(profile.description ?? `Generated by gpuvirt from the ${profile.apiVersion} profile ${JSON.stringify(profile.name)}.`);
  memory(dom, profile);
  osAndCpu(dom, profile);
  dom.ele('clock', { offset: 'utc' });
  dom.ele('on_poweroff').txt('destroy');
  dom.ele('on_reboot').txt('restart');
  dom.ele('on_crash').txt('destroy');
  const devs = dom.ele('devices');
  if (profile.targets.libvirt?.emulator) devs.ele('emulator').txt(profile.targets.libvirt.emulator);
  devs.ele('controller', { type: 'pci', index: '0', model: profile.machine === 'q35' ? 'pcie-root' : 'pci-root' });
  for (const p of placed) if (p.rootPort !== null) devs.ele('controller', { type: 'pci', index: String(p.rootPort), model: 'pcie-root-port' });
  for (const p of placed) hostdevs(devs, p);
  display(devs, profile, devices);
  if (xVga.length) {
    const override = dom.ele(QEMU_NS, 'qemu:override');
    for (const p of xVga) {
      const first = p.functions[0]!;
      override.ele(QEMU_NS, 'qemu:device', { alias: `ua-hostpci${p.n - 1}-${first.guestFn}` })
        .ele(QEMU_NS, 'qemu:frontend')
        .ele(QEMU_NS, 'qemu:property', { name: 'x-vga', type: 'bool', value: 'true' });
    }
  }
  return { xml: `${dom.end({ prettyPrint: true, headless: true, indent: '  ' })}\n`, warnings };
}
