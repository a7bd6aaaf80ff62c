#!/usr/bin/env node
// Stands in for qemu-system-x86_64 in test/generate/qemu-run.test.ts: runs the real QEMU with
// the argv a generated script passes, stopped before the guest runs (-S), under TCG, with what
// this machine cannot provide replaced (no KVM, no hugepages, no bridge, no /dev/kvmfr0, and
// not the RAM of a 64 GiB guest: every guest gets 1 GiB).
// GPUVIRT_KEEP_VFIO: the index of the one vfio-pci device to keep ("" drops them all).
import { spawnSync } from 'node:child_process';

const dir = process.env.GPUVIRT_TEST_DIR;
const keep = process.env.GPUVIRT_KEEP_VFIO ?? '';
const args = process.argv.slice(2);
const out = [];
let vfio = 0;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const v = args[i + 1] ?? '';
  if (a === '-device' && v.startsWith('vfio-pci,')) {
    if (String(vfio++) === keep) out.push(a, v);
    i++;
  } else if (a === '-netdev' && v.startsWith('bridge,')) {
    out.push(a, `user,${/id=[^,]+/.exec(v)[0]}`);
    i++;
  } else if (a === '-object' && v.startsWith('memory-backend-file,id=mem0,')) {
    out.push(a, 'memory-backend-ram,id=mem0,size=1024M');
    i++;
  } else if (a === '-m') {
    out.push(a, '1024M');
    i++;
  } else out.push(a.replace(/mem-path=\/dev\/(kvmfr0|shm\/looking-glass)/, `mem-path=${dir}/lg-shm`));
}
out.push('-S', '-machine', 'accel=tcg', '-cpu', 'max', '-qmp', `unix:${dir}/qmp.sock,server=on,wait=off`);
const r = spawnSync(process.env.GPUVIRT_REAL_QEMU ?? 'qemu-system-x86_64', out, { stdio: 'inherit' });
process.exit(r.status ?? 1);
