// npm run shape: writes src/profiles/profile-shape.gen.ts from the zod schema of profiles
// (src/profiles/schema.ts), for the check that needs no zod (src/profiles/shape.ts).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { profileSchema } from '../src/profiles/schema.js';
import { shapeModule, shapeOf } from '../src/profiles/shape-of.js';

const out = fileURLToPath(new URL('../src/profiles/profile-shape.gen.ts', import.meta.url));
writeFileSync(out, shapeModule(shapeOf(profileSchema)));
console.log(`wrote ${out}`);
