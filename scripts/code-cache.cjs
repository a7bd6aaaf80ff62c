// Makes dist/fast.cache, the V8 code cache bin/fast-loader.cjs compiles dist/fast.cjs with:
// loads the bundle, runs doctor once as JSON and once as coloured text on a fixture host, so
// the functions a doctor run calls are compiled too, then saves the cache. scripts/build.mjs
// runs this in a child with Node's default flags: a cache made under other flags (NODE_OPTIONS)
// would be rejected by every plain run. Without the fixture (an installed package) the cache
// holds only what loading compiles.
'use strict';
const fs = require('fs');
const path = require('path');
const { load, writeCache } = require('../bin/fast-loader.cjs');

const FIXTURE = path.join(__dirname, '..', 'test', 'fixtures', 'sysfs', 'intel-desktop-nvidia');

async function main() {
  const loaded = load({ useCache: false });
  if (!loaded) throw new Error('dist/fast.cjs is not built');
  if (fs.existsSync(FIXTURE)) {
    for (const argv of [['doctor', '--json', '--root', FIXTURE], ['doctor', '--root', FIXTURE]]) {
      let out = '';
      const io = { out: (t) => void (out += t), err: () => {}, isTTY: true, color: true, columns: 100 };
      const code = await loaded.exports.fastMain(argv, { io, env: {}, platform: 'linux' });
      if (code !== 0 || !out.includes('cpu.virtualization')) throw new Error(`doctor on ${FIXTURE} failed (exit ${code})`);
    }
  }
  if (!writeCache(loaded)) throw new Error('this Node cannot load dist/fast.cjs with a code cache');
}

main().catch((err) => {
  process.stderr.write(`code-cache: ${err.message}\n`);
  process.exitCode = 1;
});
