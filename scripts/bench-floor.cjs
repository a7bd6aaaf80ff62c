// A reference for npm run bench, not part of gpuvirt: the least a program can do to print what
// `gpuvirt list --json` prints for a host tree, in plain Node with nothing else around it. For
// each PCI function its ids (uevent), driver, IOMMU group and PF (three links, the kernel
// resolving them: no confinement to the tree), and the names of its vendor, device and class
// from pci.ids (read whole, each name looked up once), then one JSON document. What gpuvirt adds
// (links resolved inside --root, files checked to be regular, fallbacks, the document's
// metadata, loading its own code) comes on top of this.
//
//   node scripts/bench-floor.cjs ROOT
'use strict';
const fs = require('fs');

const root = process.argv[2];
const dir = `${root}/sys/bus/pci/devices`;
let ids = Buffer.alloc(0);
for (const p of ['/usr/share/misc/pci.ids', '/usr/share/hwdata/pci.ids']) {
  try {
    ids = fs.readFileSync(p);
    break;
  } catch {
    // the next place
  }
}
const names = new Map();
/** The rest of the line `prefix` after `from` (and before `to`), or null. */
function line(prefix, from, to = ids.length) {
  const at = ids.indexOf(`\n${prefix}`, from);
  if (at < 0 || at >= to) return null;
  const end = ids.indexOf(10, at + 1);
  return { at: at + 1, text: ids.toString('utf8', at + 1 + prefix.length, end < 0 ? ids.length : end).trim() };
}
function vendorBlock(v) {
  if (!names.has(v)) {
    const l = line(`${v}  `, 0);
    const end = l ? /\n[^\t#]/.exec(ids.toString('latin1', l.at, Math.min(ids.length, l.at + 400000))) : null;
    names.set(v, l && { ...l, end: end ? l.at + end.index : ids.length });
  }
  return names.get(v);
}
function deviceName(v, d) {
  const key = `${v}:${d}`;
  if (!names.has(key)) {
    const block = vendorBlock(v);
    names.set(key, `${block?.text ?? `Vendor ${v}`} ${(block && line(`\t${d}  `, block.at, block.end)?.text) ?? `Device ${d}`}`);
  }
  return names.get(key);
}
function className(c) {
  const key = `c${c}`;
  if (!names.has(key)) {
    const at = ids.lastIndexOf(`\nC ${c.slice(0, 2)}  `);
    const base = at < 0 ? null : line(`C ${c.slice(0, 2)}  `, at);
    const sub = base && line(`\t${c.slice(2, 4)}  `, base.at, base.at + 4000);
    names.set(key, sub?.text ?? base?.text ?? `Class ${c}`);
  }
  return names.get(key);
}
const link = (p) => {
  try {
    const t = fs.readlinkSync(p);
    return t.slice(t.lastIndexOf('/') + 1);
  } catch {
    return null;
  }
};
const devices = fs.readdirSync(dir).map((address) => {
  const uevent = fs.readFileSync(`${dir}/${address}/uevent`, 'latin1');
  const [, v = 'ffff', d = 'ffff'] = /^PCI_ID=(\w{4}):(\w{4})$/m.exec(uevent) ?? [];
  const [, sv = null, sd = null] = /^PCI_SUBSYS_ID=(\w{4}):(\w{4})$/m.exec(uevent) ?? [];
  const classId = (/^PCI_CLASS=(\w+)$/m.exec(uevent)?.[1] ?? '0').toLowerCase().padStart(6, '0');
  const group = link(`${dir}/${address}/iommu_group`);
  return {
    address, vendorId: v.toLowerCase(), deviceId: d.toLowerCase(), subsystemVendorId: sv?.toLowerCase() ?? null, subsystemDeviceId: sd?.toLowerCase() ?? null,
    classId, driver: link(`${dir}/${address}/driver`), iommuGroup: group === null ? null : Number(group), physfn: link(`${dir}/${address}/physfn`),
    className: className(classId), name: deviceName(v.toLowerCase(), d.toLowerCase()),
  };
});
fs.writeSync(1, `${JSON.stringify({ devices }, null, 2)}\n`);
