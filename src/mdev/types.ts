import type { Host } from '../host/host.js';
import { readAttr } from '../host/host.js';
import { paths } from '../host/paths.js';

// Mediated device types (Documentation/driver-api/vfio-mediated-device.rst): each parent
// under /sys/class/mdev_bus lists mdev_supported_types/<type>/{name, available_instances,
// device_api, description}.

export interface MdevType {
  id: string;
  name: string | null;
  availableInstances: number | null;
  deviceApi: string | null;
  description: string | null;
}

export function readMdevTypes(host: Host, parent: string): MdevType[] {
  const dir = `${paths.mdevBus}/${parent}/mdev_supported_types`;
  return (host.list(dir) ?? []).map((id) => {
    const n = readAttr(host, `${dir}/${id}/available_instances`);
    return {
      id,
      name: readAttr(host, `${dir}/${id}/name`),
      availableInstances: n !== null && /^\d+$/.test(n) ? Number(n) : null,
      deviceApi: readAttr(host, `${dir}/${id}/device_api`),
      description: readAttr(host, `${dir}/${id}/description`),
    };
  });
}

