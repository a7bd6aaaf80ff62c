// Pieces the data schemas share, and the envelope every --json document has (README "JSON
// output"). zod is the one source: the tests parse real output with these schemas and check
// the JSON Schema made from them, which `gpuvirt schema` publishes.
import { z } from 'zod';

export const address = z.string().regex(/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/).describe('PCI address in full form, 0000:0b:00.0');
export const hexId = z.string().regex(/^[0-9a-f]{4}$/).describe('4 lowercase hex digits');
export const classId = z.string().regex(/^[0-9a-f]{6}$/).describe('24-bit PCI class code, 6 lowercase hex digits');
export const int = z.number().int();
export const count = z.number().int().nonnegative();

export const checkStatus = z.enum(['pass', 'warn', 'fail', 'skip']);

export const bootloader = z.object({
  kind: z.enum(['grub', 'grub-bls', 'systemd-boot', 'proxmox-boot-tool', 'kernelstub', 'unknown']),
  reason: z.string().describe('how the kind was decided'),
  configFile: z.string().nullable(),
});

export const pciFunction = {
  address,
  vendorId: hexId,
  deviceId: hexId,
  subsystemVendorId: hexId.nullable(),
  subsystemDeviceId: hexId.nullable(),
  classId,
  driver: z.string().nullable(),
  iommuGroup: count.nullable(),
  physfn: address.nullable().describe('the PF of an SR-IOV virtual function'),
};

export const problem = z.object({
  severity: z.enum(['error', 'warning']),
  line: int.nullable(),
  col: int.nullable(),
  endLine: int.nullable(),
  endCol: int.nullable(),
  path: z.string().describe('where in the profile: devices[0].select.address'),
  message: z.string(),
});

export const fileResult = z.object({
  file: z.string(),
  valid: z.boolean(),
  errors: count,
  warnings: count,
  problems: z.array(problem),
});

const errorObject = z.object({
  code: z.string().describe('stable: E_USAGE, E_NOT_FOUND, E_CHECKS_FAILED, ...'),
  message: z.string(),
  hint: z.string().nullable(),
  exitCode: int,
});

const meta = {
  schemaVersion: z.literal(1),
  warnings: z.array(z.string()),
  tool: z.object({ name: z.literal('gpuvirt'), version: z.string() }),
  host: z.object({
    machineId: z.string().nullable().describe('/etc/machine-id under the root'),
    hostname: z.string().nullable().describe('only when the root is /'),
    kernel: z.string().nullable(),
  }).nullable().describe('null when the failure came before a host was opened'),
  timestamp: z.string().describe('ISO 8601, UTC; SOURCE_DATE_EPOCH fixes it'),
};

/**
 * The document of `command`: its data (with an error object when ok is false), or an error
 * alone when the command failed before it had data.
 */
export function documentSchema(command: string, data: z.ZodType): z.ZodType {
  const name = z.literal(command);
  const withData = z.object({ ...meta, command: name, ok: z.boolean(), data, error: errorObject.optional().describe('present exactly when ok is false') });
  const errorOnly = z.object({ ...meta, command: name, ok: z.literal(false), error: errorObject });
  return z.union([withData, errorOnly]);
}

/** An error document of a command line that named no command gpuvirt knows (a typo). */
export function unknownCommandSchema(): z.ZodType {
  return z.object({ ...meta, command: z.string(), ok: z.literal(false), error: errorObject });
}

/** A mediated device gpuvirt made, as its state file records it (src/state.ts MdevRecord). */
export const mdevRecord = z.object({
  uuid: z.string(),
  parent: address,
  type: z.string(),
  persisted: z.boolean().describe('gpuvirt defined it with mdevctl: removing it undefines it too'),
  command: z.enum(['apply', 'mdev create', 'vgpu create']).describe('the command that made it'),
  profile: z.string().nullable().describe('the profile whose apply made it'),
  since: z.string(),
});
