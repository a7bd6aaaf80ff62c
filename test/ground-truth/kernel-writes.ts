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

export type Errno = 'ENODEV' | 'EBUSY' | 'EINVAL' | 'ERANGE' | 'ENOENT' | 'EEXIST' | 'EACCES' | 'EIO';
export type Machine = 'intel' | 'amd' | 'none';

export type Action =
  | { write: string; value: string }
  | { read: string }
  | { modprobe: string }
  | { rmmod: string };

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
  expect: 'ok' | Errno;
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
    machines: IOMMU, op: { write: drv('e1000', 'unbind'), value: '{nic}' }, expect: 'ENODEV',
    then: [{ driver: '{nic}', is: 'e1000e' }], source: FINDINGS,
  },
  {
    id: 'unbind of an address that does not exist: ENODEV',
    machines: IOMMU, op: { write: drv('e1000e', 'unbind'), value: '0000:42:00.0' }, expect: 'ENODEV', source: FINDINGS,
  },
  {
    id: 'drivers_probe of an address that does not exist: ENODEV',
    machines: IOMMU, op: { write: PROBE, value: '0000:42:00.0' }, expect: 'ENODEV', source: FINDINGS,
  },
  {
    id: 'drivers_probe with garbage: ENODEV',
    machines: IOMMU, op: { write: PROBE, value: 'garbage' }, expect: 'ENODEV', source: FINDINGS,
  },
  {
    id: 'drivers_probe of a bound device: ok, nothing changes',
    machines: IOMMU, op: { write: PROBE, value: '{nic}' }, expect: 'ok', then: [{ driver: '{nic}', is: 'e1000e' }], source: FINDINGS,
  },
  {
    id: 'bind of a device its driver already has: EBUSY',
    machines: IOMMU, op: { write: drv('e1000e', 'bind'), value: '{nic}' }, expect: 'EBUSY', source: FINDINGS,
  },
  {
    id: 'driver_override naming no driver: accepted, drivers_probe leaves the device unbound',
    machines: IOMMU, setup: [{ write: dev('edu', 'driver_override'), value: 'gpuvirt-no-such-driver' }],
    op: { write: PROBE, value: '{edu}' }, expect: 'ok',
    then: [{ driver: '{edu}', is: null }, { read: dev('edu', 'driver_override'), is: 'gpuvirt-no-such-driver' }],
    cleanup: [{ write: dev('edu', 'driver_override'), value: '\n' }], source: FINDINGS,
  },
  {
    id: 'driver_override of 5000 bytes: EINVAL, and it reads back (null)',
    machines: IOMMU, op: { write: dev('edu', 'driver_override'), value: 'x'.repeat(5000) }, expect: 'EINVAL',
    then: [{ read: dev('edu', 'driver_override'), is: '(null)' }], source: FINDINGS,
  },
  {
    id: 'driver_override "\\n" clears it to (null)',
    machines: IOMMU, setup: [{ write: dev('edu', 'driver_override'), value: 'pci-stub' }],
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
    machines: IOMMU, setup: [{ modprobe: 'pci-stub' }, { write: dev('edu', 'driver_override'), value: 'pci-stub' }],
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
  { id: 'reading a driver\'s unbind: EACCES', machines: IOMMU, op: { read: drv('e1000e', 'unbind') }, expect: 'EACCES', source: FINDINGS },
  { id: 'reading resource0 (a memory BAR): EIO', machines: IOMMU, op: { read: dev('nic', 'resource0') }, expect: 'EIO', source: FINDINGS },
  { id: 'reading rom while it is not enabled: EINVAL', machines: IOMMU, op: { read: dev('gpu', 'rom') }, expect: 'EINVAL', source: FINDINGS },
  {
    id: 'writing sriov_numvfs of a device without SR-IOV: EACCES (sysfs refuses O_CREAT)',
    machines: IOMMU, op: { write: dev('nic', 'sriov_numvfs'), value: '1' }, expect: 'EACCES', source: FINDINGS,
  },
  {
    id: 'writing a read-only attribute (vendor): EACCES',
    machines: IOMMU, op: { write: dev('nic', 'vendor'), value: '0x1234' }, expect: 'EACCES', source: 'sysfs: 0444 files refuse O_WRONLY',
  },
  {
    id: 'reset_method "bus" on a "pm bus" device: ok, and it reads bus',
    machines: IOMMU, op: { write: dev('nic', 'reset_method'), value: 'bus' }, expect: 'ok', then: [{ read: dev('nic', 'reset_method'), is: 'bus' }],
    cleanup: [{ write: dev('nic', 'reset_method'), value: 'default' }], source: FINDINGS,
  },
  { id: 'reset_method "flr" where unsupported: EINVAL', machines: IOMMU, op: { write: dev('nic', 'reset_method'), value: 'flr' }, expect: 'EINVAL', source: FINDINGS },
  { id: 'reset_method garbage: EINVAL', machines: IOMMU, op: { write: dev('nic', 'reset_method'), value: 'garbage' }, expect: 'EINVAL', source: FINDINGS },
  {
    id: 'reset_method "default" restores the probed list',
    machines: IOMMU, setup: [{ write: dev('nic', 'reset_method'), value: 'bus' }],
    op: { write: dev('nic', 'reset_method'), value: 'default' }, expect: 'ok', then: [{ read: dev('nic', 'reset_method'), is: 'pm bus' }], source: FINDINGS,
  },
  { id: 'reset = 1: ok', machines: IOMMU, op: { write: dev('nic', 'reset'), value: '1' }, expect: 'ok', source: FINDINGS },
];

const numvfs = dev('nvme', 'sriov_numvfs');
const vfsOff: Action[] = [{ write: numvfs, value: '0' }];

const sriovRows: Row[] = [
  { id: 'sriov_numvfs totalvfs+1: ERANGE', machines: IOMMU, op: { write: numvfs, value: '5' }, expect: 'ERANGE', source: FINDINGS },
  ...(['abc', '-1', '70000', '\n'] as const).map((v): Row => ({
    id: `sriov_numvfs ${JSON.stringify(v)}: EINVAL`, machines: IOMMU, op: { write: numvfs, value: v }, expect: 'EINVAL', source: FINDINGS,
  })),
  {
    id: 'sriov_numvfs 2 on the nvme PF: two VFs with virtfn links',
    machines: IOMMU, op: { write: numvfs, value: '2' }, expect: 'ok',
    then: [{ read: numvfs, is: '2' }, { exists: dev('nvme', 'virtfn1'), is: true }, { exists: dev('nvme', 'virtfn2'), is: false },
      { exists: `${PCI}/devices/0000:02:00.2/physfn`, is: true }],
    cleanup: vfsOff, source: FINDINGS,
  },
  {
    id: 'sriov_numvfs non-zero to non-zero (2 to 3): EBUSY',
    machines: IOMMU, setup: [{ write: numvfs, value: '2' }], op: { write: numvfs, value: '3' }, expect: 'EBUSY',
    then: [{ read: numvfs, is: '2' }], cleanup: vfsOff, source: FINDINGS,
  },
  {
    id: 'sriov_numvfs the same value again: ok',
    machines: IOMMU, setup: [{ write: numvfs, value: '2' }], op: { write: numvfs, value: '2' }, expect: 'ok',
    then: [{ read: numvfs, is: '2' }], cleanup: vfsOff, source: FINDINGS,
  },
  {
    id: 'sriov_numvfs 0 removes the VFs',
    machines: IOMMU, setup: [{ write: numvfs, value: '2' }], op: { write: numvfs, value: '0' }, expect: 'ok',
    then: [{ read: numvfs, is: '0' }, { exists: dev('nvme', 'virtfn0'), is: false }, { exists: `${PCI}/devices/0000:02:00.1`, is: false }],
    source: FINDINGS,
  },
  {
    id: 'sriov_numvfs on a PF with no driver: ENOENT',
    machines: IOMMU, setup: [{ write: drv('nvme', 'unbind'), value: '{nvme}' }], op: { write: numvfs, value: '1' }, expect: 'ENOENT',
    cleanup: [{ write: PROBE, value: '{nvme}' }], source: FINDINGS,
  },
  {
    id: 'sriov_numvfs on a PF on pci-stub: ENOENT',
    machines: IOMMU, setup: [{ modprobe: 'pci-stub' }, ...moveTo('nvme', 'nvme', 'pci-stub')], op: { write: numvfs, value: '1' }, expect: 'ENOENT',
    then: [{ driver: '{nvme}', is: 'pci-stub' }], cleanup: moveBack('nvme', 'pci-stub'), source: FINDINGS,
  },
  {
    id: 'sriov_numvfs on a PF on pci-pf-stub: ok',
    machines: IOMMU, setup: [{ modprobe: 'pci-pf-stub' }, ...moveTo('nvme', 'nvme', 'pci-pf-stub')], op: { write: numvfs, value: '1' }, expect: 'ok',
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
    machines: IOMMU, setup: [{ write: numvfs, value: '2' }, { write: drv('nvme', 'unbind'), value: '{nvme}' }],
    op: { write: numvfs, value: '0' }, expect: 'ENOENT', then: [{ read: numvfs, is: '2' }, { exists: dev('nvme', 'virtfn1'), is: true }],
    cleanup: [{ write: PROBE, value: '{nvme}' }, ...vfsOff], source: FINDINGS,
  },
  {
    id: 'sriov_drivers_autoprobe "x": EINVAL',
    machines: IOMMU, op: { write: dev('nvme', 'sriov_drivers_autoprobe'), value: 'x' }, expect: 'EINVAL', source: 'drivers/pci/iov.c sriov_drivers_autoprobe_store (kstrtobool)',
  },
  {
    id: 'vfio_pci enable_sriov "maybe": EINVAL',
    machines: IOMMU, setup: [{ modprobe: 'vfio-pci' }], op: { write: ENABLE_SRIOV, value: 'maybe' }, expect: 'EINVAL',
    then: [{ read: ENABLE_SRIOV, is: 'N' }], source: 'kernel/params.c param_set_bool (kstrtobool)',
  },
];

export const KERNEL_WRITES: readonly Row[] = [...bindingRows, ...attributeRows, ...sriovRows];
