// What kmod's modprobe reads besides its command line: `options <module> <param>=<value>...`
// from the modprobe.d directories (modprobe.d(5)). Files are taken in name order across the
// directories; a name in /etc hides the same name in /run and the library directories. The
// options of every matching line are given to the module before those on the command line,
// so the command line wins.
import type { Host } from '../host/host.js';
import { listIfReadable } from '../host/host.js';

/** Highest priority first: a file here hides a file of the same name further down. */
export const MODPROBE_DIRS = ['/etc/modprobe.d', '/run/modprobe.d', '/usr/local/lib/modprobe.d', '/lib/modprobe.d', '/usr/lib/modprobe.d'];

export type Param = [name: string, value: string];

const underscores = (s: string) => s.replace(/-/g, '_');

/** Splits `a=1 b="x y"` as kmod does: whitespace outside double quotes, quotes removed. */
export function splitParams(text: string): Param[] {
  const out: Param[] = [];
  for (const m of text.matchAll(/(?:[^\s"]+|"[^"]*")+/g)) {
    const word = m[0].replace(/"/g, '');
    const eq = word.indexOf('=');
    out.push(eq < 0 ? [underscores(word), ''] : [underscores(word.slice(0, eq)), word.slice(eq + 1)]);
  }
  return out;
}

function configFiles(host: Host): string[] {
  const chosen = new Map<string, string>();
  for (const dir of MODPROBE_DIRS) {
    for (const name of listIfReadable(host, dir) ?? []) {
      if (name.endsWith('.conf') && !chosen.has(name)) chosen.set(name, `${dir}/${name}`);
    }
  }
  return [...chosen.keys()].sort().map((n) => chosen.get(n)!);
}

/** Every `<keyword> <module> <rest>` line of the modprobe.d files, in the order modprobe reads them. */
function directives(host: Host, keyword: string, module: string): string[] {
  const out: string[] = [];
  for (const file of configFiles(host)) {
    const text = (host.readText(file) ?? '').replace(/\\\n/g, ' ');
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*$/, '').trim();
      const m = /^(\S+)\s+(\S+)\s*(.*)$/.exec(line);
      if (m && m[1] === keyword && underscores(m[2]!) === module) out.push(m[3]!);
    }
  }
  return out;
}

/** The `options` for `module` in every modprobe.d file, in the order modprobe applies them. */
export function configuredOptions(host: Host, module: string): Param[] {
  return directives(host, 'options', module).flatMap(splitParams);
}

/** The `install` command that replaces loading `module` (the first one wins), or null. */
export function installCommand(host: Host, module: string): string | null {
  return directives(host, 'install', module)[0] ?? null;
}
