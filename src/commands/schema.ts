import type { CommandDef } from './command.js';
import { usageError } from '../errors.js';

export interface SchemaOptions {
  /** The command whose document to describe ("sriov status"), or null for any document. */
  command: string | null;
}

export const schemaCommand: CommandDef<SchemaOptions, { schema: Record<string, unknown> }> = {
  name: 'schema',
  summary: 'print the JSON Schema of a command\'s --json document',
  help: 'Prints the JSON Schema (draft 2020-12) of the document `gpuvirt <command> --json` prints, e.g. `gpuvirt schema sriov status`. Without a command, the schema of any gpuvirt document (one per command, told apart by "command"). Objects are open: fields may be added within schemaVersion 1.',
  linuxOnly: false,
  args: [
    { name: '[command...]', help: 'the command, as typed (doctor, sriov status, profile check, ...)' },
  ],
  parse: (args) => ({ command: args.length ? args.join(' ') : null }),
  async run(opts) {
    const { dataSchemas, jsonSchemaOf } = await import('../schemas/index.js');
    const schema = jsonSchemaOf(opts.command);
    if (!schema) throw usageError(`no published schema for \`${opts.command}\``, `published: ${Object.keys(dataSchemas).join(', ')}`);
    return { ok: true, data: { schema }, warnings: [] };
  },
  render: (d) => `${JSON.stringify(d.schema, null, 2)}\n`,
};
