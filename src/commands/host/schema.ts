import type { CommandDef } from '../command.js';

export interface HostSchemaData {
  schema: Record<string, unknown>;
}

export const hostSchemaCommand: CommandDef<Record<string, never>, HostSchemaData> = {
  name: 'host schema',
  summary: 'print the JSON Schema of host configuration files, for editors',
  help: 'Prints the JSON Schema (draft 2020-12) of gpuvirt/v1 HostConfig files:\ngpuvirt host schema > gpuvirt-host.schema.json',
  linuxOnly: false,
  parse: () => ({}),
  async run() {
    const { hostConfigJsonSchema } = await import('../../hostconfig/schema.js');
    return { ok: true, data: { schema: hostConfigJsonSchema() }, warnings: [] };
  },
  render: (d) => `${JSON.stringify(d.schema, null, 2)}\n`,
};
