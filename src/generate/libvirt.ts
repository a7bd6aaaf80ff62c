// libvirt: a complete domain XML (or the <hostdev> elements alone, one document each), built
// with xmlbuilder2 so every name, path and description is escaped by an XML serializer rather
// than by hand. Elements follow libvirt's formatdomain and its RNG schema, which the tests run
// on every output, and libvirtd itself defines and translates each one (test/generate/
// libvirt-daemon.test.ts). x-vga has no libvirt attribute: it goes through <qemu:override> on
// the hostdev's user alias (libvirt >= 8.2); what libvirt has no element for goes through
// <qemu:commandline>.
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import { problem, type Problem } from '../profiles/problems.js';
import type { Profile } from '../profiles/schema.js';
import { memoryMiB, sizeMiB, vcpuCount, vmFeatures } from '../profiles/derived.js';
import type { ResolvedDevice } from '../profiles/resolve.js';
import { diskPath, displayBackend, hex, placeDevices, type Placement } from './layout.js';
import { unsafeValue } from '../validate.js';

const QEMU_NS = 'http://libvirt.org/schemas/domain/qemu/1.0';

/**
 * A profile string for a text node or attribute. xmlbuilder2 leaves anything shaped like an
 * entity (`&#10;`, `&unknown;`) unescaped, so `&` is escaped here first (it then sees `&amp;`
 * and keeps it); characters XML 1.0 cannot carry at all are refused.
 */
function xml(value: string, field: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/.test(value)) throw unsafeValue(field, value, 'text XML can carry', 'the libvirt domain XML');
  return value.replace(/&/g, '&amp;');
}

export interface LibvirtOutput {
  xml: string;
  warnings: string[];
  problems: Problem[];
}

function pciAddress(addr: string): Record<string, string> {
  const [domain, bus, rest] = addr.split(':') as [string, string, string];
  const [slot, fn] = rest.split('.') as [string, string];
  return { domain: `0x${domain}`, bus: `0x${bus}`, slot: `0x${slot}`, function: `0x${fn}` };
}

/** One <hostdev> per function; `guest` false leaves the guest address to libvirt. */
function hostdevs(parent: () => XMLBuilder, p: Placement, guest: boolean): void {
  const d = p.device;
  const guestBus = p.rootPort ?? 0;
  for (const f of p.functions) {
    const addr: Record<string, string> = { type: 'pci', domain: '0x0000', bus: hex(guestBus, 2), slot: hex(p.slot, 2), function: hex(f.guestFn, 1) };
    if (f.first && p.multifunction) addr.multifunction = 'on';
    if (d.kind === 'mdev') {
      const h = parent().ele('hostdev', { mode: 'subsystem', type: 'mdev', model: 'vfio-pci', ...(d.display ? { display: 'on' } : {}) });
      h.ele('source').ele('address', { uuid: xml(d.uuid, 'the mdev UUID') });
      h.ele('alias', { name: `ua-hostpci${p.n - 1}` });
      if (guest) h.ele('address', addr);
      continue;
    }
    const h = parent().ele('hostdev', { mode: 'subsystem', type: 'pci', managed: 'yes' });
    h.ele('driver', { name: 'vfio' });
    h.ele('source').ele('address', pciAddress(f.host!));
    h.ele('alias', { name: `ua-hostpci${p.n - 1}-${f.guestFn}` });
    if (f.first && d.rom) h.ele('rom', { bar: d.rom.bar ? 'on' : 'off', ...(d.rom.file ? { file: xml(d.rom.file, 'the ROM file') } : {}) });
    if (guest) h.ele('address', addr);
  }
}

/**
 * The <hostdev> elements for `virsh attach-device`, which takes one device per file: one
 * document per function, with no guest address (libvirt picks a free one in that domain).
 */
export function hostdevDocuments(profile: Profile, devices: readonly ResolvedDevice[]): { documents: string[]; warnings: string[] } {
  const documents: string[] = [];
  const warnings: string[] = [];
  for (const p of placeDevices(devices, profile.machine)) {
    if (p.multifunction) warnings.push(`libvirt: devices[${p.device.index}]: attached one by one, its functions get separate guest slots (a whole domain from gpuvirt keeps them together)`);
    if (p.device.kind === 'mdev' && p.device.display) warnings.push(`libvirt: devices[${p.device.index}]: display='on' needs a <graphics> device in the domain`);
    if (p.device.kind === 'pci' && p.device.xVga) warnings.push(`libvirt: devices[${p.device.index}]: x-vga needs the domain's <qemu:override>, which attach-device cannot add`);
    const docs: XMLBuilder[] = [];
    hostdevs(() => {
      const doc = create();
      docs.push(doc);
      return doc;
    }, p, false);
    for (const doc of docs) documents.push(`${doc.end({ prettyPrint: true, headless: true })}\n`);
  }
  return { documents, warnings };
}

function osAndCpu(dom: XMLBuilder, profile: Profile): void {
  const f = vmFeatures(profile);
  const os = dom.ele('os', profile.firmware === 'uefi' ? { firmware: 'efi' } : {});
  os.ele('type', { arch: 'x86_64', machine: profile.machine === 'q35' ? 'q35' : 'pc' }).txt('hvm');
  if (profile.firmware === 'uefi') {
    // libvirt picks the build from the firmware descriptors, as QEMU's target does.
    const fw = os.ele('firmware');
    fw.ele('feature', { enabled: f.secureBoot ? 'yes' : 'no', name: 'secure-boot' });
    fw.ele('feature', { enabled: f.secureBoot ? 'yes' : 'no', name: 'enrolled-keys' });
  }
  const features = dom.ele('features');
  features.ele('acpi');
  features.ele('apic');
  if (f.hyperv) {
    const hv = features.ele('hyperv', { mode: 'custom' });
    for (const n of ['relaxed', 'vapic']) hv.ele(n, { state: 'on' });
    hv.ele('spinlocks', { state: 'on', retries: '8191' });
    for (const n of ['vpindex', 'runtime', 'synic', 'stimer', 'reset', 'frequencies']) hv.ele(n, { state: 'on' });
    hv.ele('vendor_id', { state: 'on', value: 'gpuvirt' });
  }
  if (f.secureBoot) features.ele('smm', { state: 'on' });
  const { sockets, cores, threads } = profile.cpu;
  dom.ele('cpu', { mode: 'host-passthrough', check: 'none', migratable: 'off' }).ele('topology', { sockets: String(sockets), dies: '1', cores: String(cores), threads: String(threads) });
  const clock = dom.ele('clock', { offset: f.windows ? 'localtime' : 'utc' });
  if (f.hyperv) clock.ele('timer', { name: 'hypervclock', present: 'yes' });
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

function display(devs: XMLBuilder, profile: Profile, devices: readonly ResolvedDevice[], warnings: string[]): void {
  const primary = devices.some((d) => d.kind === 'pci' && d.primary);
  const fb = primary ? 'none' : profile.display.fallback;
  const gl = fb === 'virgl' || fb === 'venus';
  const backend = displayBackend(profile, devices);
  if (fb === 'venus') warnings.push('libvirt: libvirt 9 has no Venus (Vulkan) setting: the domain asks for VirGL (OpenGL)');
  if (backend === 'spice') {
    const g = devs.ele('graphics', { type: 'spice', ...(gl ? {} : { autoport: 'yes' }) });
    if (gl) {
      g.ele('listen', { type: 'none' });
      g.ele('gl', { enable: 'yes' });
    } else g.ele('listen', { type: 'address', address: '127.0.0.1' });
  } else if (backend === 'vnc') {
    devs.ele('graphics', { type: 'vnc', port: '-1', autoport: 'yes' }).ele('listen', { type: 'address', address: '127.0.0.1' });
  }
  if (gl && backend === 'none') devs.ele('graphics', { type: 'egl-headless' });
  if (fb === 'none') {
    devs.ele('video').ele('model', { type: 'none' });
    return;
  }
  const model = devs.ele('video').ele('model', { type: 'virtio', heads: '1', primary: 'yes' });
  if (gl) model.ele('acceleration', { accel3d: 'yes' });
}

function storage(devs: XMLBuilder, profile: Profile): void {
  if (profile.disks.some((d) => d.bus === 'scsi')) devs.ele('controller', { type: 'scsi', index: '0', model: 'virtio-scsi' });
  let sd = 0;
  let vd = 0;
  profile.disks.forEach((d, i) => {
    const disk = devs.ele('disk', { type: 'file', device: 'disk' });
    disk.ele('driver', { name: 'qemu', type: d.format, discard: 'unmap' });
    disk.ele('source', { file: xml(diskPath(profile, i), 'a disk path') });
    const letter = (n: number) => String.fromCharCode(97 + n);
    disk.ele('target', d.bus === 'virtio' ? { dev: `vd${letter(vd++)}`, bus: 'virtio' } : { dev: `sd${letter(sd++)}`, bus: d.bus });
  });
  profile.nics.forEach((n) => {
    const nic = devs.ele('interface', { type: n.bridge ? 'bridge' : 'network' });
    if (n.mac) nic.ele('mac', { address: n.mac.toLowerCase() });
    nic.ele('source', n.bridge ? { bridge: xml(n.bridge, 'a bridge name') } : { network: 'default' });
    nic.ele('model', { type: n.model });
  });
}

/** Devices without a libvirt element of their own, as QEMU arguments. */
function commandline(profile: Profile): string[] {
  const args: string[] = [];
  const lg = profile.lookingGlass;
  if (lg?.device === 'kvmfr') {
    args.push('-device', 'ivshmem-plain,id=shmem0,memdev=looking-glass');
    args.push('-object', `memory-backend-file,id=looking-glass,mem-path=/dev/kvmfr0,size=${sizeMiB(lg.size)}M,share=yes`);
  }
  if (profile.mmio64 && profile.firmware === 'uefi') args.push('-fw_cfg', `name=opt/ovmf/X-PciMmio64Mb,string=${sizeMiB(profile.mmio64)}`);
  return args;
}

const DEVICE_ELEMENTS = new Set(['emulator', 'disk', 'controller', 'lease', 'filesystem', 'interface', 'input', 'hub', 'graphics', 'video', 'sound', 'audio', 'hostdev', 'redirdev', 'redirfilter', 'smartcard', 'serial', 'parallel', 'console', 'channel', 'tpm', 'shmem', 'memballoon', 'rng', 'watchdog', 'panic', 'iommu', 'vsock', 'memory', 'crypto']);

/**
 * Why `text` is not exactly one well-nested element, or null. xmlbuilder2's parser closes what
 * was left open, so nesting is checked here first, as libvirt's parser would refuse it.
 */
function notOneElement(text: string): string | null {
  const stack: string[] = [];
  let roots = 0;
  const body = text.replace(/<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>/g, '');
  for (const m of body.matchAll(/<(\/?)([A-Za-z_][\w.:-]*)(?:"[^"]*"|'[^']*'|[^'">])*?(\/?)>/g)) {
    const [, close, name, self] = m as unknown as [string, string, string, string];
    if (close) {
      if (stack.pop() !== name) return `</${name}> closes nothing open`;
    } else if (!self) {
      if (!stack.length) roots++;
      stack.push(name);
    } else if (!stack.length) roots++;
  }
  if (stack.length) return `<${stack[stack.length - 1]}> is not closed`;
  return roots === 1 ? null : `${roots} top-level elements, not one`;
}

/** targets.libvirt.xml: device elements go into <devices>; others are merged into <domain>. */
function extraXml(dom: XMLBuilder, devs: XMLBuilder, profile: Profile, problems: Problem[]): void {
  (profile.targets.libvirt?.xml ?? []).forEach((text, i) => {
    let frag: XMLBuilder;
    try {
      const why = notOneElement(text);
      if (why) throw new Error(why);
      frag = create(text).root();
    } catch (e) {
      problems.push(problem('error', ['targets', 'libvirt', 'xml', i], `not one XML element: ${(e as Error).message.split('\n')[0]}`));
      return;
    }
    const name = frag.node.nodeName;
    if (DEVICE_ELEMENTS.has(name)) return void devs.import(frag);
    const same = dom.find((n) => n.node.nodeName === name, false, false);
    // An element the domain already has (features, clock, cpu, os...) gets the fragment's children.
    if (same) for (const child of frag.toArray(false)) same.import(child);
    else dom.import(frag);
  });
}

export function generateLibvirt(profile: Profile, devices: readonly ResolvedDevice[]): LibvirtOutput {
  const warnings: string[] = [];
  const problems: Problem[] = [];
  const placed = placeDevices(devices, profile.machine);
  const xVga = placed.filter((p) => p.device.kind === 'pci' && p.device.xVga);
  const args = commandline(profile);
  const qemuNs = xVga.length > 0 || args.length > 0;
  const dom = create().ele('domain', { type: 'kvm', ...(qemuNs ? { 'xmlns:qemu': QEMU_NS } : {}) });
  dom.ele('name').txt(xml(profile.targets.libvirt?.domainName ?? profile.name, 'the domain name'));
  dom.ele('description').txt(xml(profile.description ?? `Generated by gpuvirt from the ${profile.apiVersion} profile ${JSON.stringify(profile.name)}.`, 'the description'));
  memory(dom, profile);
  osAndCpu(dom, profile);
  dom.ele('on_poweroff').txt('destroy');
  dom.ele('on_reboot').txt('restart');
  dom.ele('on_crash').txt('destroy');
  const devs = dom.ele('devices');
  if (profile.targets.libvirt?.emulator) devs.ele('emulator').txt(xml(profile.targets.libvirt.emulator, 'the emulator'));
  devs.ele('controller', { type: 'pci', index: '0', model: profile.machine === 'q35' ? 'pcie-root' : 'pci-root' });
  for (const p of placed) if (p.rootPort !== null) devs.ele('controller', { type: 'pci', index: String(p.rootPort), model: 'pcie-root-port' });
  for (const p of placed) hostdevs(() => devs, p, true);
  storage(devs, profile);
  display(devs, profile, devices, warnings);
  if (vmFeatures(profile).tpm) devs.ele('tpm', { model: profile.machine === 'q35' ? 'tpm-crb' : 'tpm-tis' }).ele('backend', { type: 'emulator', version: '2.0' });
  if (profile.lookingGlass?.device === 'shm') {
    const shm = devs.ele('shmem', { name: 'looking-glass' });
    shm.ele('model', { type: 'ivshmem-plain' });
    shm.ele('size', { unit: 'M' }).txt(String(sizeMiB(profile.lookingGlass.size)));
  }
  // VFIO pins all guest memory: a balloon could never give any back.
  devs.ele('memballoon', { model: 'none' });
  extraXml(dom, devs, profile, problems);
  if (args.length) {
    const cl = dom.ele(QEMU_NS, 'qemu:commandline');
    for (const a of args) cl.ele(QEMU_NS, 'qemu:arg', { value: a });
  }
  if (xVga.length) {
    const override = dom.ele(QEMU_NS, 'qemu:override');
    for (const p of xVga) {
      const first = p.functions[0]!;
      override.ele(QEMU_NS, 'qemu:device', { alias: `ua-hostpci${p.n - 1}-${first.guestFn}` })
        .ele(QEMU_NS, 'qemu:frontend')
        .ele(QEMU_NS, 'qemu:property', { name: 'x-vga', type: 'bool', value: 'true' });
    }
  }
  return { xml: `${dom.end({ prettyPrint: true, headless: true, indent: '  ' })}\n`, warnings, problems };
}
