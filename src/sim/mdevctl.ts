// mdevctl (1.2, Debian 12) by its effect on /etc/mdevctl.d, as the real one behaves (checked
// against it by test/ground-truth/mdevctl.test.ts): `define` writes <parent>/<uuid> as
// pretty-printed JSON without a final newline and refuses a UUID already defined on that parent;
// `undefine` removes the file (every parent's without --parent), leaves the parent's directory,
// and fails when nothing matches. Neither touches a running device.
import type { ExecResult } from '../host/exec.js';
import { failed, ok } from './boot-tools.js';
import type { SimTree } from './tree.js';

const DIR = '/etc/mdevctl.d';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

/** `mdevctl define [--auto] --uuid U --parent P --type T` | `mdevctl undefine --uuid U [--parent P]`; null: not modelled. */
export function mdevctl(t: SimTree, args: readonly string[]): ExecResult | null {
  const [command, ...rest] = args;
  const opts: Record<string, string> = {};
  let auto = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--auto' && command === 'define') auto = true;
    else if (['--uuid', '--parent', '--type'].includes(a) && rest[i + 1] !== undefined) opts[a.slice(2)] = rest[++i]!;
    else return null;
  }
  const { uuid, parent, type } = opts;
  if (!uuid || !UUID.test(uuid) || (parent !== undefined && !ADDRESS.test(parent))) return null;
  if (command === 'define') {
    if (!parent || !type) return null;
    const file = `${DIR}/${parent}/${uuid}`;
    if (t.host.readText(file) !== null) return failed(`Error: Device ${uuid} on ${parent} already defined\n`);
    t.put(file, JSON.stringify({ mdev_type: type, start: auto ? 'auto' : 'manual', attrs: [] }, null, 2));
    return ok();
  }
  if (command !== 'undefine' || type !== undefined) return null;
  const parents = parent ? [parent] : (t.host.list(DIR) ?? []).filter((p) => ADDRESS.test(p));
  const files = parents.map((p) => `${DIR}/${p}/${uuid}`).filter((f) => t.host.readText(f) !== null);
  if (!files.length) return failed('Error: No devices match the specified uuid\n');
  for (const f of files) t.remove(f);
  return ok();
}
