import type { CommandDef } from '../command.js';

export interface SchemaData {
  schema: Record<string, unknown>;
}

export const profileSchemaCommand: CommandDef<Record<string, never>, SchemaData> = {
  name: 'profile schema',
  summary: 'print the JSON Schema of profiles, for editors',
  help: 'Prints the JSON Schema (draft 2020-12) of gpuvirt/v1 profiles. Editors with a YAML\nlanguage server use it for completion and checks: gpuvirt profile schema > gpuvirt-profile.schema.json',
  linuxOnly: false,
  parse: () => ({}),
  async run() {
    const { profileJsonSchema } = await import('../../profiles/schema.js');
    return { ok: true, data: { schema: profileJsonSchema() }, warnings: [] };
  },
  render: (d) => `${JSON.stringify(d.schema, null, 2)}\n`,
};
