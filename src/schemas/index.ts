// The registry of --json data schemas, by command name as typed ("sriov status"). A command
// whose document is published adds one line here; `gpuvirt schema` and the schema tests pick
// it up. Loaded only by `gpuvirt schema` and the tests: zod stays out of every other start.
import { z } from 'zod';
import { documentSchema, unknownCommandSchema } from './common.js';
import * as change from './change.js';
import * as read from './read.js';

export const dataSchemas: Record<string, z.ZodType> = {
  doctor: read.doctor,
  list: read.list,
  status: read.statusData,
  'sriov status': read.sriovStatus,
  cmdline: read.cmdline,
  'mdev types': read.mdevTypes,
  'vgpu types': read.vgpuTypes,
  'vgpu status': read.vgpuStatus,
  'vgpu mig': change.vgpuMig,
  'profile validate': read.profileValidate,
  'profile check': read.profileCheck,
  'profile schema': read.schema,
  generate: read.generate,
  snapshot: read.snapshot,
  init: read.init,
  schema: read.schema,
  version: read.version,
  passthrough: change.passthrough,
  release: change.release,
  recover: change.recover,
  'sriov enable': change.sriovEnable,
  'sriov disable': change.sriovDisable,
  'vgpu create': change.vgpuCreate,
  'vgpu remove': change.vgpuRemove,
  'mdev create': change.mdevCreate,
  'mdev remove': change.mdevRemove,
  setup: change.setup,
  singlegpu: change.singlegpu,
  apply: change.apply,
  'host diff': change.hostDiff,
  'host assert': change.hostAssert,
  'host apply': change.hostApply,
  'host unpersist': change.hostUnpersist,
  'host export': change.hostExport,
  'host labels': change.hostLabels,
  'host schema': read.schema,
};

/** The zod schema of `command`'s whole document, or undefined when none is published. */
export function documentFor(command: string): z.ZodType | undefined {
  const data = dataSchemas[command];
  return data && documentSchema(command, data);
}

/** Any document gpuvirt prints: one of the commands', or the error of an unknown command. */
export function anyDocument(): z.ZodType {
  return z.union([...Object.keys(dataSchemas).map((c) => documentFor(c)!), unknownCommandSchema()]);
}

/** The JSON Schema (draft 2020-12) of a document. Open objects: fields may be added within schemaVersion 1. */
export function jsonSchemaOf(command: string | null): Record<string, unknown> | undefined {
  const doc = command === null ? anyDocument() : documentFor(command);
  if (!doc) return undefined;
  const schema = z.toJSONSchema(doc, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return { title: command === null ? 'gpuvirt --json document' : `gpuvirt ${command} --json document`, ...schema };
}
