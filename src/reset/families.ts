// GPU families whose own reset leaves them unusable for the next VM (the "AMD reset bug"), and
// which of them the out-of-tree vendor-reset module can reset instead. Ids and family names are
// vendor-reset's own device table (gnif/vendor-reset src/device-db.h @ca6a270); the behaviour
// is what its README and issue #46 describe. vendor-reset hooks pci_dev_specific_reset, so the
// kernel uses it only when `device_specific` is among the device's reset methods, which since
// Linux 5.15 must be selected through reset_method (Documentation/ABI/testing/sysfs-bus-pci).
export interface ResetFamily {
  family: string;
  /** Marketing names, for the report. */
  cards: string;
  vendorId: string;
  deviceIds: readonly string[];
  behaviour: string;
  /** vendor-reset knows this family. */
  vendorReset: boolean;
  source: string;
}

const DB = 'gnif/vendor-reset src/device-db.h @ca6a270; README "Supported Devices"';
const BUG = 'does not reset cleanly: after the first VM stops, the GPU fails to start again until the host reboots';

export const RESET_FAMILIES: readonly ResetFamily[] = [
  {
    family: 'Polaris 10', cards: 'RX 470/480/570/580/590', vendorId: '1002', vendorReset: true, behaviour: BUG, source: DB,
    deviceIds: ['67c0', '67c1', '67c2', '67c4', '67c7', '67d0', '67df', '67c8', '67c9', '67ca', '67cc', '67cf', '6fdf'],
  },
  {
    family: 'Polaris 11', cards: 'RX 460/560', vendorId: '1002', vendorReset: true, behaviour: BUG, source: DB,
    deviceIds: ['67e0', '67e3', '67e8', '67eb', '67ef', '67ff', '67e1', '67e7', '67e9'],
  },
  {
    family: 'Polaris 12', cards: 'RX 540/550', vendorId: '1002', vendorReset: true, behaviour: BUG, source: DB,
    deviceIds: ['6980', '6981', '6985', '6986', '6987', '6995', '6997', '699f'],
  },
  {
    family: 'Vega 10', cards: 'Vega 56/64/FE', vendorId: '1002', vendorReset: true, behaviour: BUG, source: DB,
    deviceIds: ['6860', '6861', '6862', '6863', '6864', '6867', '6868', '6869', '686a', '686b', '686c', '686d', '686e', '686f', '687f'],
  },
  {
    family: 'Vega 20', cards: 'Radeon VII, Instinct MI100', vendorId: '1002', vendorReset: true, behaviour: BUG, source: DB,
    deviceIds: ['66a0', '66a1', '66a2', '66a3', '66a4', '66a7', '66af', '738c'],
  },
  {
    family: 'Navi 10', cards: 'RX 5600 XT/5700/5700 XT', vendorId: '1002', vendorReset: true, behaviour: BUG, source: DB,
    deviceIds: ['7310', '7312', '7318', '7319', '731a', '731b', '731e', '731f', '1681'],
  },
  {
    family: 'Navi 12', cards: 'Pro 5600M', vendorId: '1002', vendorReset: true, behaviour: BUG, source: DB,
    deviceIds: ['7360', '7362'],
  },
  {
    family: 'Navi 14', cards: 'RX 5300/5500 XT, Pro 5300', vendorId: '1002', vendorReset: true, behaviour: BUG, source: DB,
    deviceIds: ['7340', '7341', '7347', '734f'],
  },
];

export function resetFamily(vendorId: string, deviceId: string): ResetFamily | null {
  const v = vendorId.toLowerCase();
  const d = deviceId.toLowerCase();
  return RESET_FAMILIES.find((f) => f.vendorId === v && f.deviceIds.includes(d)) ?? null;
}
