import { describe, expect, it } from 'vitest';
import { commands } from '../../src/commands/index.js';

describe('command registry', () => {
  it('names each entry as its command names itself, so argv finds it without loading the others', async () => {
    for (const entry of commands) expect((await entry.load!()).name).toBe(entry.name);
    expect(new Set(commands.map((c) => c.name)).size).toBe(commands.length);
  });
});
