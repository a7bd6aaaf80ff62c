// What the kernel answers to each sysfs write (and the few reads that fail), as data. The same
// rows run against the simulated kernel on the kernel-made fixtures (test/sim/ground-truth.test.ts)
// and against Debian's 6.1 kernel under QEMU (the kernel e2e scenario "ground truth"), so the
// simulator cannot drift from Linux unnoticed. Add a row when either side learns a new answer.
//
// Paths and values name devices by their role in test/e2e/kernel/topology.ts: {nvme} (SR-IOV PF,
// totalvfs 4), {nic} (e1000e, reset_method "pm bus"), {edu} (no driver, own group), {bridgedEdu}
// (the identical edu behind the PCIe-to-PCI bridge), {gpu} (bochs VGA), {bridgedNic} (e1000).
// A row's machine is also its fixture for the simulator: test/fixtures/sysfs/qemu-<machine>.
// Writes are what node's writeFileSync does (O_WRONLY|O_CREAT|O_TRUNC), as gpuvirt writes.

export type Errno = 'ENODEV' | 'EBUSY' | 'EINVAL' | 'ERANGE' | 'ENOENT' | 'EEXIST' | 'EACCES' | 'EIO' | 'ENOTTY';
export type Machine = 'intel' | 'amd' | 'none';

export type Action =
  | { write: string; value: string }
  | { read: string }
  /** Must load (exit 0). */
  | { modprobe: string }
  /** Must leave the module unloaded (exit 0). */
  | { rmmod: string }
  /** A program (kmod's modprobe); it answers 'ok' for exit 0, else `exit N: <its output>`. */
  | { run: readonly string[] }
  /** Writes (content) or removes (null) an ordinary file, such as a modprobe.d file. */
  | { file: string; content: string | null };

export type Effect =
  /** The device's driver link names this driver (null: no driver). */
  | { driver: string; is: string | null }
  /** The file reads exactly this (one trailing newline ignored). */
  | { read: string; is: string }
  | { exists: string; is: boolean };

export interface Row {
  /** Stable and unique: the check's name on both sides. */
  id: string;
  machines: readonly Machine[];
  /** Must all succeed (a write that fails, a modprobe that exits non-zero, fails the row). */
  setup?: readonly Action[];
  /** The write (or read) whose answer is the fact. */
  op: Action;
  /** For `run`: 'ok' or `exit N: OUTPUT` ({release} is the running kernel's). */
  expect: 'ok' | Errno | `exit ${number}: ${string}`;
  then?: readonly Effect[];
  /** Undoes setup and op; best effort, after which the runner puts drivers and VF counts back. */
  cleanup?: readonly Action[];
  /** Where the fact was first seen. */
  source: string;
}

const PCI = '/sys/bus/pci';
const dev = (role: string, attr: string) => `${PCI}/devices/{${role}}/${attr}`;
const drv = (driver: string, attr: string) => `${PCI}/drivers/${driver}/${attr}`;
const PROBE = `${PCI}/drivers_probe`;
const ENABLE_SRIOV = '/sys/module/vfio_pci/parameters/enable_sriov';
const FINDINGS = 'real-kernel-findings (Linux 6.1 under QEMU)';
const IOMMU: readonly Machine[] = ['intel'];
/** Rows whose answer does not depend on an IOMMU. */
const ANY: readonly Machine[] = ['intel', 'none'];

/** Moves a device to `driver` through driver_override, and back. */
const moveTo = (role: string, from: string, driver: string): Action[] => [
  { write: dev(role, 'driver_override'), value: driver },
  { write: drv(from, 'unbind'), value: `{${role}}` },
  { write: PROBE, value: `{${role}}` },
];
const moveBack = (role: string, driver: string): Action[] => [
  { write: drv(driver, 'unbind'), value: `{${role}}` },
  { write: dev(role, 'driver_override'), value: '\n' },
  { write: PROBE, value: `{${role}}` },
];

const bindingRows: Row[] = [
  {
    id: 'vfio-pci/bind without a driver_override: ENODEV (its id table matches only overrides)',
    machines: IOMMU, setup: [{ modprobe: 'vfio-pci' }],
    op: { write: drv('vfio-pci', 'bind'), value: '{edu}' }, expect: 'ENODEV', then: [{ driver: '{edu}', is: null }], source: FINDINGS,
  },
  {
    id: 'vfio-pci/new_id "1234 11e8" binds every unbound match, the bridged one too',
    machines: IOMMU, setup: [{ modprobe: 'vfio-pci' }],
    op: { write: drv('vfio-pci', 'new_id'), value: '1234 11e8' }, expect: 'ok',
    then: [{ driver: '{edu}', is: 'vfio-pci' }, { driver: '{bridgedEdu}', is: 'vfio-pci' }, { driver: '{nic}', is: 'e1000e' }],
    cleanup: [{ write: drv('vfio-pci', 'remove_id'), value: '1234 11e8' }, { write: drv('vfio-pci', 'unbind'), value: '{edu}' },
      { write: drv('vfio-pci', 'unbind'), value: '{bridgedEdu}' }],
    source: FINDINGS,
  },
  {
    id: 'vfio-pci/remove_id a second time: ENODEV',
    machines: IOMMU,
    setup: [{ modprobe: 'vfio-pci' }, { write: drv('vfio-pci', 'new_id'), value: '1234 11e8' }, { write: drv('vfio-pci', 'remove_id'), value: '1234 11e8' }],
    op: { write: drv('vfio-pci', 'remove_id'), value: '1234 11e8' }, expect: 'ENODEV',
    cleanup: [{ write: drv('vfio-pci', 'unbind'), value: '{edu}' }, { write: drv('vfio-pci', 'unbind'), value: '{bridgedEdu}' }],
    source: FINDINGS,
  },
  {
    id: 'vfio-pci/new_id "zzzz": EINVAL',
    machines: IOMMU, setup: [{ modprobe: 'vfio-pci' }],
    op: { write: drv('vfio-pci', 'new_id'), value: 'zzzz' }, expect: 'EINVAL', source: FINDINGS,
  },
  {
    id: 'unbind through the wrong driver: ENODEV',
    machines: ANY, op: { write: drv('e1000', 'unbind'), value: '{nic}' }, expect: 'ENODEV',
    then: [{ driver: '{nic}', is: 'e1000e' }], source: FINDINGS,
  },
  {
    id: 'unbind of an address that does not exist: ENODEV',
    machines: ANY, op: { write: drv('e1000e', 'unbind'), value: '0000:42:00.0' }, expect: 'ENODEV', source: FINDINGS,
  },
  {
    id: 'drivers_probe of an address that does not exist: ENODEV',
    machines: ANY, op: { write: PROBE, value: '0000:42:00.0' }, expect: 'ENODEV', source: FINDINGS,
  },
  {
    id: 'drivers_probe with garbage: ENODEV',
    machines: ANY, op: { write: PROBE, value: 'garbage' }, expect: 'ENODEV', source: FINDINGS,
  },
  {
    id: 'drivers_probe of a bound device: ok, nothing changes',
    machines: ANY, op: { write: PROBE, value: '{nic}' }, expect: 'ok', then: [{ driver: '{nic}', is: 'e1000e' }], source: FINDINGS,
  },
  {
    id: 'bind of a device the driver does not match: ENODEV',
    machines: ANY, op: { write: drv('e1000', 'bind'), value: '{edu}' }, expect: 'ENODEV', then: [{ driver: '{edu}', is: null }],
    source: 'drivers/base/bus.c bind_store (driver_match_device)',
  },
  {
    id: 'remove_id of an id never added: ENODEV',
    machines: ANY, op: { write: drv('e1000e', 'remove_id'), value: '1234 5678' }, expect: 'ENODEV', source: 'drivers/pci/pci-driver.c remove_id_store',
  },
  {
    id: 'driver_override keeps only the first line',
    machines: ANY, op: { write: dev('edu', 'driver_override'), value: 'pci-stub\nvfio-pci' }, expect: 'ok',
    then: [{ read: dev('edu', 'driver_override'), is: 'pci-stub' }], cleanup: [{ write: dev('edu', 'driver_override'), value: '\n' }],
    source: 'drivers/base/driver.c driver_set_override',
  },
  {
    id: 'bind of a device its driver already has: EBUSY',
    machines: ANY, op: { write: drv('e1000e', 'bind'), value: '{nic}' }, expect: 'EBUSY', source: FINDINGS,
  },
  {
    id: 'driver_override naming no driver: accepted, drivers_probe leaves the device unbound',
    machines: ANY, setup: [{ write: dev('edu', 'driver_override'), value: 'gpuvirt-no-such-driver' }],
    op: { write: PROBE, value: '{edu}' }, expect: 'ok',
    then: [{ driver: '{edu}', is: null }, { read: dev('edu', 'driver_override'), is: 'gpuvirt-no-such-driver' }],
    cleanup: [{ write: dev('edu', 'driver_override'), value: '\n' }], source: FINDINGS,
  },
  {
    id: 'driver_override of 5000 bytes: EINVAL, and it reads back (null)',
    machines: ANY, op: { write: dev('edu', 'driver_override'), value: 'x'.repeat(5000) }, expect: 'EINVAL',
    then: [{ read: dev('edu', 'driver_override'), is: '(null)' }], source: FINDINGS,
  },
  {
    id: 'driver_override "\\n" clears it to (null)',
    machines: ANY, setup: [{ write: dev('edu', 'driver_override'), value: 'pci-stub' }],
    op: { write: dev('edu', 'driver_override'), value: '\n' }, expect: 'ok',
    then: [{ read: dev('edu', 'driver_override'), is: '(null)' }], source: FINDINGS,
  },
  {
    id: 'driver_override=vfio-pci before vfio-pci is loaded: drivers_probe does not load it',
    machines: IOMMU, setup: [{ rmmod: 'vfio-pci' }, { write: dev('edu', 'driver_override'), value: 'vfio-pci' }],
    op: { write: PROBE, value: '{edu}' }, expect: 'ok', then: [{ driver: '{edu}', is: null }],
    cleanup: [{ write: dev('edu', 'driver_override'), value: '\n' }], source: FINDINGS,
  },
  {
    id: 'edu onto pci-stub through driver_override: bound, no /dev/vfio node',
    machines: ANY, setup: [{ modprobe: 'pci-stub' }, { write: dev('edu', 'driver_override'), value: 'pci-stub' }],
    op: { write: PROBE, value: '{edu}' }, expect: 'ok', then: [{ driver: '{edu}', is: 'pci-stub' }, { exists: '/dev/vfio/{group:edu}', is: false }],
    cleanup: [{ write: drv('pci-stub', 'unbind'), value: '{edu}' }, { write: dev('edu', 'driver_override'), value: '\n' }], source: FINDINGS,
  },
  {
    id: 'edu onto vfio-pci through driver_override: bound, /dev/vfio/GROUP appears',
    machines: IOMMU, setup: [{ modprobe: 'vfio-pci' }, { write: dev('edu', 'driver_override'), value: 'vfio-pci' }],
    op: { write: PROBE, value: '{edu}' }, expect: 'ok', then: [{ driver: '{edu}', is: 'vfio-pci' }, { exists: '/dev/vfio/{group:edu}', is: true }],
    cleanup: [{ write: drv('vfio-pci', 'unbind'), value: '{edu}' }, { write: dev('edu', 'driver_override'), value: '\n' }], source: FINDINGS,
  },
  {
    id: 'no IOMMU: drivers_probe onto vfio-pci succeeds and the device stays unbound',
    machines: ['none'], setup: [{ modprobe: 'vfio-pci' }, { write: dev('edu', 'driver_override'), value: 'vfio-pci' }],
    op: { write: PROBE, value: '{edu}' }, expect: 'ok', then: [{ driver: '{edu}', is: null }],
    cleanup: [{ write: dev('edu', 'driver_override'), value: '\n' }], source: FINDINGS,
  },
  {
    id: 'no IOMMU: vfio-pci/bind fails EINVAL (vfio_pci_probe has no group)',
    machines: ['none'], setup: [{ modprobe: 'vfio-pci' }, { write: dev('edu', 'driver_override'), value: 'vfio-pci' }],
    op: { write: drv('vfio-pci', 'bind'), value: '{edu}' }, expect: 'EINVAL', then: [{ driver: '{edu}', is: null }],
    cleanup: [{ write: dev('edu', 'driver_override'), value: '\n' }], source: FINDINGS,
  },
];

const attributeRows: Row[] = [
  { id: 'reading a driver\'s unbind: EACCES', machines: ANY, op: { read: drv('e1000e', 'unbind') }, expect: 'EACCES', source: FINDINGS },
  { id: 'reading a driver\'s uevent: EACCES (write-only)', machines: ANY, op: { read: drv('e1000e', 'uevent') }, expect: 'EACCES', source: 'drivers/base/bus.c (DRIVER_ATTR_WO(uevent))' },
  {
    // real-kernel-findings lists uevent among the write-only attributes; only the driver's and the bus's are.
    id: 'reading a device\'s uevent: ok (readable, unlike a driver\'s)',
    machines: ANY, op: { read: dev('nic', 'uevent') }, expect: 'ok', source: 'drivers/base/core.c (DEVICE_ATTR_RW(uevent))',
  },
  { id: 'reading resource0 (a memory BAR): EIO', machines: ANY, op: { read: dev('nic', 'resource0') }, expect: 'EIO', source: FINDINGS },
  { id: 'reading rom while it is not enabled: EINVAL', machines: ANY, op: { read: dev('gpu', 'rom') }, expect: 'EINVAL', source: FINDINGS },
  {
    id: 'writing sriov_numvfs of a device without SR-IOV: EACCES (sysfs refuses O_CREAT)',
    machines: ANY, op: { write: dev('nic', 'sriov_numvfs'), value: '1' }, expect: 'EACCES', source: FINDINGS,
  },
  {
    id: 'writing a read-only attribute (vendor): EACCES',
    machines: ANY, op: { write: dev('nic', 'vendor'), value: '0x1234' }, expect: 'EACCES', source: 'sysfs: 0444 files refuse O_WRONLY',
  },
  {
    id: 'reset_method "bus" on a "pm bus" device: ok, and it reads bus',
    machines: ANY, op: { write: dev('nic', 'reset_method'), value: 'bus' }, expect: 'ok', then: [{ read: dev('nic', 'reset_method'), is: 'bus' }],
    cleanup: [{ write: dev('nic', 'reset_method'), value: 'default' }], source: FINDINGS,
  },
  { id: 'reset_method "flr" where unsupported: EINVAL', machines: ANY, op: { write: dev('nic', 'reset_method'), value: 'flr' }, expect: 'EINVAL', source: FINDINGS },
  { id: 'reset_method garbage: EINVAL', machines: ANY, op: { write: dev('nic', 'reset_method'), value: 'garbage' }, expect: 'EINVAL', source: FINDINGS },
  {
    id: 'reset_method "default" restores the probed list',
    machines: ANY, setup: [{ write: dev('nic', 'reset_method'), value: 'bus' }],
    op: { write: dev('nic', 'reset_method'), value: 'default' }, expect: 'ok', then: [{ read: dev('nic', 'reset_method'), is: 'pm bus' }], source: FINDINGS,
  },
  { id: 'reset = 1: ok', machines: ANY, op: { write: dev('nic', 'reset'), value: '1' }, expect: 'ok', source: FINDINGS },
  {
    // The simulator used to refuse this (EINVAL) from a reading of reset_method_store; 6.1 keeps both.
    id: 'reset_method naming a method twice ("bus bus"): ok, and it reads back twice',
    machines: ANY, op: { write: dev('nic', 'reset_method'), value: 'bus bus' }, expect: 'ok',
    then: [{ read: dev('nic', 'reset_method'), is: 'bus bus' }], cleanup: [{ write: dev('nic', 'reset_method'), value: 'default' }],
    source: 'Linux 6.1 under QEMU (this table, first run)',
  },
  {
    id: 'reset_method in another order ("bus pm"): ok, and it reads that order',
    machines: ANY, op: { write: dev('nic', 'reset_method'), value: 'bus pm' }, expect: 'ok', then: [{ read: dev('nic', 'reset_method'), is: 'bus pm' }],
    cleanup: [{ write: dev('nic', 'reset_method'), value: 'default' }], source: 'drivers/pci/pci-sysfs.c reset_method_store',
  },
  {
    id: 'reset with every reset method disabled (reset_method "\\n"): ENOTTY',
    machines: ANY, setup: [{ write: dev('nic', 'reset_method'), value: '\n' }], op: { write: dev('nic', 'reset'), value: '1' }, expect: 'ENOTTY',
    then: [{ read: dev('nic', 'reset_method'), is: '' }],
    cleanup: [{ write: dev('nic', 'reset_method'), value: 'default' }], source: 'drivers/pci/pci.c pci_reset_function (no method: -ENOTTY)',
  },
];

const numvfs = dev('nvme', 'sriov_numvfs');
const vfsOff: Action[] = [{ write: numvfs, value: '0' }];

const sriovRows: Row[] = [
  { id: 'sriov_numvfs totalvfs+1: ERANGE', machines: ANY, op: { write: numvfs, value: '5' }, expect: 'ERANGE', source: FINDINGS },
  ...(['abc', '-1', '70000', '\n'] as const).map((v): Row => ({
    id: `sriov_numvfs ${JSON.stringify(v)}: EINVAL`, machines: ANY, op: { write: numvfs, value: v }, expect: 'EINVAL', source: FINDINGS,
  })),
  {
    id: 'sriov_numvfs 2 on the nvme PF: two VFs with virtfn links',
    machines: ANY, op: { write: numvfs, value: '2' }, expect: 'ok',
    then: [{ read: numvfs, is: '2' }, { exists: dev('nvme', 'virtfn1'), is: true }, { exists: dev('nvme', 'virtfn2'), is: false },
      { exists: `${PCI}/devices/0000:02:00.2/physfn`, is: true }],
    cleanup: vfsOff, source: FINDINGS,
  },
  {
    id: 'sriov_numvfs "0x2" (kstrtou16 takes base 0): two VFs',
    machines: ANY, op: { write: numvfs, value: '0x2' }, expect: 'ok', then: [{ read: numvfs, is: '2' }], cleanup: vfsOff,
    source: 'drivers/pci/iov.c sriov_numvfs_store (kstrtou16(buf, 0, ...))',
  },
  {
    id: 'sriov_numvfs " 2" (a leading space): EINVAL',
    machines: ANY, op: { write: numvfs, value: ' 2' }, expect: 'EINVAL', source: 'lib/kstrtox.c (no leading whitespace)',
  },
  {
    id: 'sriov_numvfs non-zero to non-zero (2 to 3): EBUSY',
    machines: ANY, setup: [{ write: numvfs, value: '2' }], op: { write: numvfs, value: '3' }, expect: 'EBUSY',
    then: [{ read: numvfs, is: '2' }], cleanup: vfsOff, source: FINDINGS,
  },
  {
    id: 'sriov_numvfs the same value again: ok',
    machines: ANY, setup: [{ write: numvfs, value: '2' }], op: { write: numvfs, value: '2' }, expect: 'ok',
    then: [{ read: numvfs, is: '2' }], cleanup: vfsOff, source: FINDINGS,
  },
  {
    id: 'sriov_numvfs 0 removes the VFs',
    machines: ANY, setup: [{ write: numvfs, value: '2' }], op: { write: numvfs, value: '0' }, expect: 'ok',
    then: [{ read: numvfs, is: '0' }, { exists: dev('nvme', 'virtfn0'), is: false }, { exists: `${PCI}/devices/0000:02:00.1`, is: false }],
    source: FINDINGS,
  },
  {
    id: 'sriov_numvfs on a PF with no driver: ENOENT',
    machines: ANY, setup: [{ write: drv('nvme', 'unbind'), value: '{nvme}' }], op: { write: numvfs, value: '1' }, expect: 'ENOENT',
    cleanup: [{ write: PROBE, value: '{nvme}' }], source: FINDINGS,
  },
  {
    id: 'sriov_numvfs on a PF on pci-stub: ENOENT',
    machines: ANY, setup: [{ modprobe: 'pci-stub' }, ...moveTo('nvme', 'nvme', 'pci-stub')], op: { write: numvfs, value: '1' }, expect: 'ENOENT',
    then: [{ driver: '{nvme}', is: 'pci-stub' }], cleanup: moveBack('nvme', 'pci-stub'), source: FINDINGS,
  },
  {
    id: 'sriov_numvfs on a PF on pci-pf-stub: ok',
    machines: ANY, setup: [{ modprobe: 'pci-pf-stub' }, ...moveTo('nvme', 'nvme', 'pci-pf-stub')], op: { write: numvfs, value: '1' }, expect: 'ok',
    then: [{ read: numvfs, is: '1' }], cleanup: [...vfsOff, ...moveBack('nvme', 'pci-pf-stub')], source: FINDINGS,
  },
  {
    id: 'sriov_numvfs on a PF on vfio-pci with enable_sriov=N: ENOENT',
    machines: IOMMU, setup: [{ modprobe: 'vfio-pci' }, { write: ENABLE_SRIOV, value: 'N' }, ...moveTo('nvme', 'nvme', 'vfio-pci')],
    op: { write: numvfs, value: '1' }, expect: 'ENOENT', cleanup: moveBack('nvme', 'vfio-pci'), source: FINDINGS,
  },
  {
    id: 'sriov_numvfs on a PF on vfio-pci with enable_sriov=Y: ok, and the VF is captured (driver_override vfio-pci)',
    machines: IOMMU, setup: [{ modprobe: 'vfio-pci' }, { write: ENABLE_SRIOV, value: 'Y' }, ...moveTo('nvme', 'nvme', 'vfio-pci')],
    op: { write: numvfs, value: '1' }, expect: 'ok',
    then: [{ read: `${PCI}/devices/0000:02:00.1/driver_override`, is: 'vfio-pci' }, { driver: '0000:02:00.1', is: 'vfio-pci' }],
    cleanup: [...vfsOff, ...moveBack('nvme', 'vfio-pci'), { write: ENABLE_SRIOV, value: 'N' }], source: FINDINGS,
  },
  {
    id: 'unbinding the PF driver leaves its VFs; sriov_numvfs 0 then fails ENOENT',
    machines: ANY, setup: [{ write: numvfs, value: '2' }, { write: drv('nvme', 'unbind'), value: '{nvme}' }],
    op: { write: numvfs, value: '0' }, expect: 'ENOENT', then: [{ read: numvfs, is: '2' }, { exists: dev('nvme', 'virtfn1'), is: true }],
    cleanup: [{ write: PROBE, value: '{nvme}' }, ...vfsOff], source: FINDINGS,
  },
  {
    id: 'sriov_drivers_autoprobe "x": EINVAL',
    machines: ANY, op: { write: dev('nvme', 'sriov_drivers_autoprobe'), value: 'x' }, expect: 'EINVAL', source: 'drivers/pci/iov.c sriov_drivers_autoprobe_store (kstrtobool)',
  },
  {
    id: 'vfio_pci enable_sriov "1": ok, and it reads Y',
    machines: ANY, setup: [{ modprobe: 'vfio-pci' }], op: { write: ENABLE_SRIOV, value: '1' }, expect: 'ok',
    then: [{ read: ENABLE_SRIOV, is: 'Y' }], cleanup: [{ write: ENABLE_SRIOV, value: 'N' }], source: 'kernel/params.c param_set_bool (kstrtobool)',
  },
  {
    id: 'vfio_pci enable_sriov "maybe": EINVAL',
    machines: ANY, setup: [{ modprobe: 'vfio-pci' }], op: { write: ENABLE_SRIOV, value: 'maybe' }, expect: 'EINVAL',
    then: [{ read: ENABLE_SRIOV, is: 'N' }], source: 'kernel/params.c param_set_bool (kstrtobool)',
  },
];

// kmod's modprobe and the module loader: what SimExec must answer the same way.
const TEST_CONF = '/etc/modprobe.d/gpuvirt-ground-truth.conf';
const KMOD = 'kmod 30 (Debian 12) and the module loader';
const VFIO_PCI_DIR = `${PCI}/drivers/vfio-pci`;

const modprobeRows: Row[] = [
  {
    // The simulator (and the brief it was built from) said exit 1, "is not in kernel": that is --first-time only.
    id: 'modprobe -r of a module that is not loaded: exit 0, nothing said',
    machines: ANY, setup: [{ rmmod: 'pci_stub' }], op: { run: ['modprobe', '-r', 'pci_stub'] },
    expect: 'ok', source: 'kmod 30 under QEMU (this table)',
  },
  {
    id: 'modprobe -r of a module that does not exist: exit 1, "not found"',
    machines: ANY, op: { run: ['modprobe', '-r', 'gpuvirt_no_such_module'] },
    expect: 'exit 1: modprobe: FATAL: Module gpuvirt_no_such_module not found.', source: KMOD,
  },
  {
    id: 'modprobe of a module that does not exist: exit 1, "not found in directory"',
    machines: ANY, op: { run: ['modprobe', 'gpuvirt_no_such_module'] },
    expect: 'exit 1: modprobe: FATAL: Module gpuvirt_no_such_module not found in directory /lib/modules/{release}', source: KMOD,
  },
  {
    id: 'modprobe with a bool parameter the kernel cannot parse: exit 1, nothing loaded',
    machines: ANY, setup: [{ rmmod: 'vfio-pci' }], op: { run: ['modprobe', 'vfio-pci', 'enable_sriov=maybe'] },
    expect: "exit 1: modprobe: ERROR: could not insert 'vfio_pci': Invalid argument", then: [{ exists: VFIO_PCI_DIR, is: false }], source: KMOD,
  },
  {
    id: 'modprobe with a parameter the module does not have: loads, the parameter is ignored',
    machines: ANY, setup: [{ rmmod: 'pci-stub' }], op: { run: ['modprobe', 'pci-stub', 'gpuvirt_nonsense=1'] }, expect: 'ok',
    then: [{ exists: `${PCI}/drivers/pci-stub`, is: true }, { exists: '/sys/module/pci_stub/parameters/gpuvirt_nonsense', is: false }], source: KMOD,
  },
  {
    id: 'modprobe vfio-pci enable_sriov=1: the parameter reads Y',
    machines: ANY, setup: [{ rmmod: 'vfio-pci' }], op: { run: ['modprobe', 'vfio-pci', 'enable_sriov=1'] }, expect: 'ok',
    then: [{ read: ENABLE_SRIOV, is: 'Y' }], cleanup: [{ write: ENABLE_SRIOV, value: 'N' }], source: KMOD,
  },
  {
    id: 'modprobe of a loaded module ignores the parameters given',
    machines: ANY, setup: [{ modprobe: 'vfio-pci' }, { write: ENABLE_SRIOV, value: 'N' }], op: { run: ['modprobe', 'vfio-pci', 'enable_sriov=1'] },
    expect: 'ok', then: [{ read: ENABLE_SRIOV, is: 'N' }], source: KMOD,
  },
  {
    id: 'modprobe takes options from modprobe.d, the command line after them',
    machines: ANY,
    setup: [{ rmmod: 'vfio-pci' }, { file: TEST_CONF, content: 'options vfio_pci enable_sriov=1 disable_idle_d3=1\n' }],
    op: { run: ['modprobe', 'vfio-pci', 'disable_idle_d3=0'] }, expect: 'ok',
    then: [{ read: ENABLE_SRIOV, is: 'Y' }, { read: '/sys/module/vfio_pci/parameters/disable_idle_d3', is: 'N' }],
    cleanup: [{ file: TEST_CONF, content: null }, { write: ENABLE_SRIOV, value: 'N' }], source: KMOD,
  },
  {
    id: 'an install command in modprobe.d runs instead of the load: /bin/false fails it',
    machines: ANY, setup: [{ rmmod: 'pci-stub' }, { file: TEST_CONF, content: 'install pci_stub /bin/false\n' }],
    op: { run: ['modprobe', 'pci-stub'] },
    expect: "exit 1: modprobe: ERROR: ../libkmod/libkmod-module.c:1047 command_do() Error running install command '/bin/false' for module pci_stub: retcode 1\nmodprobe: ERROR: could not insert 'pci_stub': Invalid argument",
    then: [{ exists: `${PCI}/drivers/pci-stub`, is: false }], cleanup: [{ file: TEST_CONF, content: null }], source: KMOD,
  },
  {
    id: 'an install command "modprobe --ignore-install" loads the module itself',
    machines: ANY, setup: [{ rmmod: 'pci-stub' }, { file: TEST_CONF, content: 'install pci_stub /sbin/modprobe --ignore-install pci_stub\n' }],
    op: { run: ['modprobe', 'pci-stub'] }, expect: 'ok',
    then: [{ exists: `${PCI}/drivers/pci-stub`, is: true }], cleanup: [{ file: TEST_CONF, content: null }], source: KMOD,
  },
  {
    id: 'modprobe vfio-pci ids=1234:11e8 binds every unbound device with that id',
    machines: IOMMU, setup: [{ rmmod: 'vfio-pci' }], op: { run: ['modprobe', 'vfio-pci', 'ids=1234:11e8'] }, expect: 'ok',
    then: [{ driver: '{edu}', is: 'vfio-pci' }, { driver: '{bridgedEdu}', is: 'vfio-pci' }, { driver: '{nic}', is: 'e1000e' },
      { exists: '/sys/module/vfio_pci/parameters/ids', is: false }],
    cleanup: [{ rmmod: 'vfio-pci' }], source: 'drivers/vfio/pci/vfio_pci.c vfio_pci_fill_ids',
  },
  {
    id: 'modprobe -r vfio-pci with a device bound (not open): unloads, the device is left without a driver',
    machines: IOMMU,
    setup: [{ modprobe: 'vfio-pci' }, { write: dev('edu', 'driver_override'), value: 'vfio-pci' }, { write: PROBE, value: '{edu}' }],
    op: { run: ['modprobe', '-r', 'vfio-pci'] }, expect: 'ok', then: [{ driver: '{edu}', is: null }, { exists: VFIO_PCI_DIR, is: false }],
    cleanup: [{ write: dev('edu', 'driver_override'), value: '\n' }], source: KMOD,
  },
];

export const KERNEL_WRITES: readonly Row[] = [...bindingRows, ...attributeRows, ...sriovRows, ...modprobeRows];
