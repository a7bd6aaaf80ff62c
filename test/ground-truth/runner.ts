// Runs the rows of kernel-writes.ts against one kernel: the simulated one (test/sim) or the
// real one inside the QEMU guest (test/e2e/kernel). Each side supplies only the four primitive
// operations; everything a row means is decided here, once, for both.
import type { Action, Effect, Row } from './kernel-writes.js';

export interface KernelSide {
  /** 'ok', or the errno code the write failed with. */
  write(path: string, value: string): Promise<string> | string;
  /** The content, or the errno code the read failed with. */
  read(path: string): { text: string } | { errno: string };
  exec(argv: string[]): Promise<{ status: number; out: string }> | { status: number; out: string };
  exists(path: string): boolean;
  /** Writes (content) or removes (null) an ordinary file. */
  writeFile(path: string, content: string | null): void;
  /** The final component of a symlink's target, or null. */
  linkName(path: string): string | null;
}

const PCI = '/sys/bus/pci/devices';

/** `{role}` → the role's PCI address, `{group:role}` → its IOMMU group number, `{release}` → the kernel's. */
export function substitute(text: string, roles: Readonly<Record<string, string>>, side: KernelSide): string {
  return text.replace(/\{(group:)?([A-Za-z]+)\}/g, (whole, group: string | undefined, role: string) => {
    if (role === 'release' && !group) {
      const r = side.read('/proc/sys/kernel/osrelease');
      return 'text' in r ? r.text.trim() : whole;
    }
    const addr = roles[role];
    if (addr === undefined) return whole;
    return group ? side.linkName(`${PCI}/${addr}/iommu_group`) ?? 'none' : addr;
  });
}

const chomp = (s: string) => (s.endsWith('\n') ? s.slice(0, -1) : s);

/** What an action answered: 'ok' or an errno code (for modprobe: 'exit N: output'). */
async function perform(a: Action, side: KernelSide, sub: (s: string) => string): Promise<string> {
  if ('write' in a) return side.write(sub(a.write), sub(a.value));
  if ('read' in a) {
    const r = side.read(sub(a.read));
    return 'errno' in r ? r.errno : 'ok';
  }
  if ('file' in a) {
    side.writeFile(a.file, a.content);
    return 'ok';
  }
  const argv = 'run' in a ? a.run.map(sub) : 'modprobe' in a ? ['modprobe', a.modprobe] : ['modprobe', '-r', a.rmmod];
  const r = await side.exec(argv);
  if (r.status === 0) return 'ok';
  return `exit ${r.status}: ${r.out.trim()}`;
}

function describe(a: Action, sub: (s: string) => string): string {
  if ('write' in a) {
    const v = sub(a.value);
    return `write ${JSON.stringify(v.length > 40 ? `${v.slice(0, 20)}…(${v.length} bytes)` : v)} > ${sub(a.write)}`;
  }
  if ('read' in a) return `read ${sub(a.read)}`;
  if ('file' in a) return a.content === null ? `remove ${a.file}` : `write ${a.file}`;
  if ('run' in a) return a.run.join(' ');
  return 'modprobe' in a ? `modprobe ${a.modprobe}` : `modprobe -r ${a.rmmod}`;
}

function effectHolds(e: Effect, side: KernelSide, sub: (s: string) => string): string | null {
  if ('driver' in e) {
    const addr = sub(e.driver);
    const now = side.linkName(`${PCI}/${addr}/driver`);
    return now === e.is ? null : `${addr} is on ${now ?? 'no driver'}, not ${e.is ?? 'no driver'}`;
  }
  if ('exists' in e) {
    const path = sub(e.exists);
    return side.exists(path) === e.is ? null : `${path} ${e.is ? 'is missing' : 'exists'}`;
  }
  const path = sub(e.read);
  const r = side.read(path);
  const got = 'errno' in r ? r.errno : chomp(r.text);
  return got === e.is ? null : `${path} reads ${JSON.stringify(got)}, not ${JSON.stringify(e.is)}`;
}

export interface RowResult {
  pass: boolean;
  /** What the kernel answered, and every way it differed from the row. */
  detail: string;
}

/** Runs one row: setup (must succeed), the operation, the effects; cleanup whatever happened. */
export async function runRow(row: Row, side: KernelSide, roles: Readonly<Record<string, string>>): Promise<RowResult> {
  const sub = (s: string) => substitute(s, roles, side);
  const problems: string[] = [];
  let answer = 'not run';
  try {
    for (const a of row.setup ?? []) {
      const r = await perform(a, side, sub);
      if (r !== 'ok') throw new Error(`setup: ${describe(a, sub)} → ${r}`);
    }
    answer = await perform(row.op, side, sub);
    if (answer !== sub(row.expect)) problems.push(`${describe(row.op, sub)} → ${answer}, the table says ${row.expect}`);
    for (const e of row.then ?? []) {
      const wrong = effectHolds(e, side, sub);
      if (wrong) problems.push(wrong);
    }
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
  } finally {
    for (const a of row.cleanup ?? []) await perform(a, side, sub).catch(() => 'cleanup threw');
  }
  const said = `${describe(row.op, sub)} → ${answer}`;
  return problems.length ? { pass: false, detail: [...problems, `(${said}; source: ${row.source})`].join('\n') } : { pass: true, detail: said };
}
