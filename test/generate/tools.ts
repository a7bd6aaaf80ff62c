// The external judges of generated configs: libvirt's own RNG schema (virt-xml-validate and
// the xmllint it runs) and the property names of the installed QEMU. In CI (CI=true) a missing
// tool fails the test; on a developer machine the test is skipped, saying what to install.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const inCI = process.env.CI === 'true' || process.env.CI === '1';

function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status === 0;
}

/** Debian's libvirt-clients ships virt-xml-validate; libvirt0 the schemas; libxml2-utils xmllint. */
export const LIBVIRT_DOMAIN_RNG = '/usr/share/libvirt/schemas/domain.rng';
export const libvirtTools = has('virt-xml-validate') && has('xmllint');
export const qemuTool = has('qemu-system-x86_64');

export function missing(what: string, pkg: string): string {
  return `${what} is not installed: apt-get install ${pkg} (CI installs it in .ci/run)`;
}

function scratch<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'gpuvirt-xml-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** virt-xml-validate on each document (one process per file, as users run it). */
export function virtXmlValidate(docs: Record<string, string>): Record<string, string> {
  return scratch((dir) => {
    const failures: Record<string, string> = {};
    for (const [name, xml] of Object.entries(docs)) {
      const file = join(dir, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.xml`);
      writeFileSync(file, xml);
      const r = spawnSync('virt-xml-validate', [file, 'domain'], { encoding: 'utf8' });
      if (r.status !== 0) failures[name] = `${r.stdout}${r.stderr}`;
    }
    return failures;
  });
}

/**
 * Many documents against the same schema in one xmllint run: what virt-xml-validate does for
 * one file (`xmllint --relaxng <schemas>/domain.rng`), batched so property tests stay fast.
 */
export function validateDomainsBatch(xmls: readonly string[]): string[] {
  if (!xmls.length) return [];
  return scratch((dir) => {
    const files = xmls.map((x, i) => {
      const f = join(dir, `d${i}.xml`);
      writeFileSync(f, x);
      return f;
    });
    const r = spawnSync('xmllint', ['--noout', '--relaxng', LIBVIRT_DOMAIN_RNG, ...files], { encoding: 'utf8' });
    return r.stderr.split('\n').filter((l) => l && !/ validates$/.test(l)).map((l) => {
      const m = /d(\d+)\.xml/.exec(l);
      return m ? `${l}\n${xmls[Number(m[1])]}` : l;
    });
  });
}

/** Property names QEMU accepts for a device type, from `-device TYPE,help`. */
export function qemuDeviceProps(type: string, kind: '-device' | '-object' = '-device'): Set<string> {
  const text = execFileSync('qemu-system-x86_64', [kind, `${type},help`], { encoding: 'utf8' });
  const names = [...text.matchAll(/^\s+([A-Za-z0-9_.-]+)=</gm)].map((m) => m[1]!);
  return new Set(names);
}

/** `type,k=v,k=v` as QemuOpts reads it: ",," is a literal comma inside a value. */
export function parseQemuOpts(arg: string): { type: string; props: [string, string][] } {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < arg.length; i++) {
    if (arg[i] === ',' && arg[i + 1] === ',') {
      cur += ',';
      i++;
    } else if (arg[i] === ',') {
      parts.push(cur);
      cur = '';
    } else cur += arg[i];
  }
  parts.push(cur);
  const [type, ...rest] = parts;
  return { type: type!, props: rest.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]) };
}
