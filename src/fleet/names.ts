// Names other systems accept, made from what sysfs and pci.ids say. Kubernetes label values and
// the name part of label keys and extended resource names (apimachinery validation
// IsValidLabelValue / IsQualifiedName): at most 63 characters of [A-Za-z0-9._-], beginning and
// ending with a letter or digit; a key's prefix is a DNS subdomain (lower case, at most 253).

const NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

export const isLabelName = (s: string): boolean => NAME.test(s);
/** A label value may also be empty. */
export const isLabelValue = (s: string): boolean => s === '' || NAME.test(s);
export const isDnsSubdomain = (s: string): boolean => SUBDOMAIN.test(s);

export function isQualifiedName(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return isLabelName(key);
  return isDnsSubdomain(key.slice(0, slash)) && isLabelName(key.slice(slash + 1));
}

/**
 * Text as a label value or name part: other characters (spaces, brackets, ":") become "_", and
 * what cannot begin or end one is cut off; null when nothing is left.
 */
export function toLabelName(text: string): string | null {
  let s = text.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  s = s.replace(/[^A-Za-z0-9]+$/, '');
  return s ? s : null;
}

/** A PCI address in a label name: "0000:01:00.0" becomes "0000-01-00.0". */
export const addressLabel = (address: string): string => address.replace(/:/g, '-');

/** The domain a vendor's device plugins use for resource names; others get gpuvirt's. */
const VENDOR_DOMAIN: Record<string, string> = { '10de': 'nvidia.com', '1002': 'amd.com', '8086': 'intel.com' };
export const vendorDomain = (vendorId: string): string => VENDOR_DOMAIN[vendorId] ?? 'devices.gpuvirt.io';

/** A label namespace gpuvirt may write: a DNS subdomain that NFD accepts (not kubernetes.io, but its feature namespaces). */
export function labelNamespaceProblem(ns: string): string | null {
  if (!isDnsSubdomain(ns)) return `${JSON.stringify(ns)} is not a DNS subdomain (lower-case letters, digits, "-" and ".")`;
  const k8s = ns === 'kubernetes.io' || ns.endsWith('.kubernetes.io');
  const nfd = ns === 'feature.node.kubernetes.io' || ns.endsWith('.feature.node.kubernetes.io');
  if (k8s && !nfd) return `${ns}: Node Feature Discovery refuses kubernetes.io namespaces other than feature.node.kubernetes.io`;
  return null;
}
