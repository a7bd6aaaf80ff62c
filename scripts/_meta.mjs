import { build } from 'esbuild';
const only = process.argv[2];
const r = await build({ entryPoints: ['src/cli.ts'], bundle: true, format: 'cjs', platform: 'node', target: 'node20', minify: true, write: false, metafile: true, define: { GPUVIRT_ONLY: JSON.stringify(only) }, outfile: '/tmp/x.cjs', logLevel: 'error' });
const out = Object.values(r.metafile.outputs)[0];
const by = new Map();
for (const [f, v] of Object.entries(out.inputs)) { const k = f.includes('node_modules') ? f.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, 'pkg:$1') : f; by.set(k, (by.get(k) || 0) + v.bytesInOutput); }
console.log([...by].sort((a, b) => b[1] - a[1]).slice(0, 40).map(([k, v]) => `${(v / 1024).toFixed(0)}K ${k}`).join('\n'));
