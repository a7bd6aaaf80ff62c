// readSimpleYaml against the yaml package: whatever it reads, the yaml package reads the same
// text without an error, a warning or a repeated key, to the very same data; the profiles
// people write (the examples, what `gpuvirt init` and the yaml package write) it reads itself.
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { isMap, parseDocument, stringify, visit } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadProfileText, placeQuickly } from '../../src/profiles/load.js';
import { loadWithYaml, placeProblems } from '../../src/profiles/load-yaml.js';
import { problem } from '../../src/profiles/problems.js';
import { readSimpleYaml, type Places } from '../../src/profiles/yaml-lite.js';

const PROFILES = new URL('../../profiles/', import.meta.url);

/** The yaml package's reading, as loadProfileText asks for it; null when it finds anything wrong. */
function yamlReads(text: string): unknown {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: false, strict: true });
  if (doc.errors.length || doc.warnings.length) return null;
  let repeated = false;
  visit(doc, {
    Map(_, map) {
      const keys = map.items.map((it) => JSON.stringify((it.key as { value?: unknown })?.value));
      if (new Set(keys).size !== keys.length) repeated = true;
    },
  });
  return repeated ? null : doc.toJS({ maxAliasCount: 100 });
}

/** readSimpleYaml agrees with the yaml package on `text`; true when it read the text itself. */
function agrees(text: string): boolean {
  const mine = readSimpleYaml(text);
  if (mine === undefined) return false;
  const theirs = yamlReads(text);
  expect(theirs, `the yaml package does not read it cleanly:\n${text}`).not.toBeNull();
  expect(mine, text).toStrictEqual(theirs);
  expect(Object.keys(mine)).toEqual(Object.keys(theirs as object));
  return true;
}

const tricky = fc.constantFrom(
  '', ' ', 'yes', 'no', 'on', 'null', 'Null', 'NULL', '~', 'true', 'False', 'TRUE', '0', '-0', '+1', '007', '0o17', '0x1F', '1e3', '.5', '5.', '-.inf', '.NaN',
  '12345678901234567', '9007199254740993', '0000:01:00.0', '01:00.0', '10de:2204', '64GiB', '-serial', 'mon:stdio', 'a: b', 'a:b', 'a #b', 'a#b', '#x', "it's", '"q"', "'q'",
  '- a', '-a', '? a', '?a', ':a', 'a:', '[a]', '{a}', 'a,b', '&x', '*x', '!x', '|', '>', '%x', '@x', '`x', ' lead', 'trail ', 'é', '😀', 'a\\b', 'a\nb', 'a\tb', '\u0085',
);
const plain = fc.oneof(fc.constantFrom('gpu', 'vf', 'q35', '4GiB', 'pve1', 'a b c', 'x-y_z.1', '/dev/shm', '0000:81:00.0', 'nvidia-222'), fc.stringMatching(/^[a-z][a-z0-9 .:/_-]{0,12}$/));
const scalar = fc.oneof(
  { arbitrary: plain, weight: 20 }, { arbitrary: fc.integer({ min: -1000, max: 100000 }), weight: 6 }, { arbitrary: fc.boolean(), weight: 1 }, { arbitrary: fc.constant(null), weight: 1 },
  { arbitrary: tricky, weight: 2 }, { arbitrary: fc.string({ maxLength: 10 }), weight: 1 }, { arbitrary: fc.integer(), weight: 1 }, { arbitrary: fc.double(), weight: 1 },
);
const keyArb = fc.oneof(
  { arbitrary: fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_-]{0,8}$/), weight: 60 },
  { arbitrary: fc.constantFrom('true', 'null', '1', 'a b', 'é', '__proto__', '', 'a:b', '-a'), weight: 1 }, { arbitrary: fc.string({ maxLength: 6 }), weight: 1 },
);
const data = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('list'), tie('map')),
  list: fc.array(tie('node'), { maxLength: 4 }),
  map: fc.dictionary(keyArb, tie('node'), { minKeys: 1, maxKeys: 5, noNullPrototype: true }),
})).map as fc.Arbitrary<Record<string, unknown>>;
const options = fc.record({
  indentSeq: fc.boolean(),
  indent: fc.constantFrom(2, 4),
  flowCollectionPadding: fc.boolean(),
  collectionStyle: fc.constantFrom('any', 'any', 'block', 'flow'),
  defaultStringType: fc.constantFrom('PLAIN', 'QUOTE_SINGLE', 'QUOTE_DOUBLE'),
  defaultKeyType: fc.constantFrom(null, 'PLAIN', 'PLAIN', 'PLAIN', 'QUOTE_DOUBLE'),
  lineWidth: fc.constantFrom(0, 20, 80),
}) as fc.Arbitrary<Record<string, unknown>>;

/** Edits by hand: a comment here, an indent off by one there, a tab, a line break in CRLF. */
const edit = fc.tuple(fc.nat(), fc.oneof(
  { arbitrary: fc.constantFrom(' # note', '  #', '\n# a comment', '\n   # indented comment', '\n'), weight: 4 },
  { arbitrary: fc.constantFrom(' ', '\t', '\r', '\n  ', ':', ' - x', '\n---', ' &a', ' !!str', ' #', "'", '"'), weight: 1 },
), fc.nat(5).map((n) => n === 0));
function applyEdits(text: string, edits: [number, string, boolean][]): string {
  const lines = text.split('\n');
  for (const [n, what, indent] of edits) {
    const i = n % lines.length;
    lines[i] = indent ? ` ${lines[i]}` : `${lines[i]}${what}`;
  }
  return lines.join('\n');
}

describe('readSimpleYaml', () => {
  it('reads every example profile itself, as the yaml package does', () => {
    const files = readdirSync(PROFILES).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) expect(agrees(readFileSync(new URL(f, PROFILES), 'utf8')), f).toBe(true);
  });

  it('agrees with the yaml package on what it writes, in every style', () => {
    let read = 0;
    fc.assert(fc.property(data, options, (d, o) => {
      if (agrees(stringify(d, o))) read++;
    }), { numRuns: 500 });
    // Not vacuous: it reads much of it itself (88 to 122 of 500 in 30 runs of random seeds).
    expect(read).toBeGreaterThan(60);
  });

  it('agrees with the yaml package on hand edits of it: comments, indents, tabs, markers', () => {
    let read = 0;
    fc.assert(fc.property(data, options, fc.array(edit, { minLength: 1, maxLength: 3 }), (d, o, edits) => {
      if (agrees(applyEdits(stringify(d, o), edits))) read++;
    }), { numRuns: 500 });
    expect(read).toBeGreaterThan(35); // 56 to 82 of 500 in 30 runs
  });

  it('the forms profiles use, and what it leaves to the yaml package', () => {
    const read = [
      'a: 1\nb:\n  - x\n  - y\n', 'a:\n- x\n- y\nb: 2\n', 'devices:\n  - type: gpu\n    select:\n      address: 0000:01:00.0  # the GPU\n    functions: [0, 1]\n',
      'cpu: { cores: 2, threads: 2 }\n', "a: 'it''s'\n", 'a: "x #y"\n', 'a: -serial\n', 'a:   # nothing\n  b: 1\n', 'targets:\n  libvirt: {}\n  qemu: []\n', 'a:\n',
      'extraArgs: [-serial, mon:stdio]\n', 'a: ~\nb: null\nc: true\nd: 0\ne: -12\n', '"a": 1\n\'b c\': 2\n', "x: { 'a b': 1 }\n",
    ];
    for (const t of read) expect(agrees(t), t).toBe(true);
    const left = [
      'a: 1\na: 2\n', 'a: 1\n"a": 2\n', 'a: &x 1\nb: *x\n', 'a: !!str 1\n', 'a: |\n  text\n', 'a: b\n  c\n', 'a:\tb\n', 'a: 1\r\nb: 2\r\n', '---\na: 1\n', 'a: 0x1f\n', 'a: 1.5\n', 'a: 007\n',
      'a: "\\n"\n', 'a: [1, 2,]\n', 'a: b: c\n', '- a\n- b\n', '  a: 1\n', 'a: [1,\n  2]\n', '? a\n: b\n', 'true: 1\n', '__proto__: 1\n', '\ufeffa: 1\n', 'a: 1 \n',
    ];
    for (const t of left) expect(readSimpleYaml(t), t).toBeUndefined();
  });

  it('ends a plain scalar at spaces only: other Unicode white space is text to YAML', () => {
    // A no-break space, an em space, an ideographic space before a comment, a comma or a bracket.
    const texts = ['a: x\u00a0 # note\n', 'a: [x\u3000, y]\n', 'a: {b: x\u2009 }\n', 'a: \u2003 # note\n', 'a:\n  - x\u202f # note\n', 'a: [x]\u00a0\n', 'a: \u00a0x\n'];
    expect(texts.filter((t) => agrees(t)).length).toBeGreaterThan(3);
  });

  it('leaves to the yaml package a key longer than YAML allows: 1024 characters to its colon', () => {
    const k = (n: number) => 'k'.repeat(n);
    // After a key with no value on its line, yaml counts from the line break before the next key's indent.
    const long = [`${k(1025)}: 1\n`, `'${k(1023)}': 1\n`, `x:\n- ${k(1030)}: 1\n`, `a:\n${k(1024)}:\n`, `x:\n  y:\n    a:\n    ${k(1020)}: 1\n`, `x:\n- a:\n  ${k(1022)}: 1\n`];
    for (const t of long) agrees(t);
    for (const t of [`${k(1023)}: 1\n`, `a: 1\nx:\n  ${k(1000)}: 1\n`, `a: {${k(900)}: 1}\n`]) expect(agrees(t)).toBe(true);
  });

  it('gives up on deep nesting, where the yaml package runs out of stack, instead of overflowing itself', () => {
    const flowSeq = (n: number) => `a: ${'['.repeat(n)}${']'.repeat(n)}\n`;
    const flowMap = (n: number) => `a: ${'{b: '.repeat(n)}1${'}'.repeat(n)}\n`;
    const blockMap = (n: number) => `${Array.from({ length: n }, (_, i) => `${' '.repeat(i)}a:`).join('\n')}\n`;
    const blockSeq = (n: number) => `a:\n${Array.from({ length: n }, (_, i) => `${' '.repeat(i + 1)}-`).join('\n')} x\n`;
    for (const n of [1000, 100_000]) for (const t of [flowSeq(n), flowMap(n)]) agrees(t);
    for (const n of [1000, 2000]) for (const t of [blockMap(n), blockSeq(n)]) agrees(t);
    for (const t of [flowSeq(10), flowMap(10), blockMap(10), blockSeq(10)]) expect(agrees(t), t).toBe(true);
  });

  it('reads a 1 MB profile with 10k keys, and other large texts, in linear time', { timeout: 120_000 }, async () => {
    // No clock here: a quadratic step on any of these (1e6 characters) would run for hours, past the timeout.
    const keys = Array.from({ length: 10_000 }, (_, i) => `key-${i}`);
    const head = 'apiVersion: gpuvirt/v1\nname: big\nmemory: 4GiB\ncpu: { cores: 2 }\ntargets:\n  proxmox:\n    vmid: 100\n    extra:\n';
    const profile = head + keys.map((k) => `      ${k}: ${'v'.repeat(80)} # note\n`).join('');
    expect(profile.length).toBeGreaterThan(1_000_000);
    expect(readSimpleYaml(profile)).toBeDefined();
    const fast = await loadProfileText(profile);
    expect(Object.keys(fast.profile?.targets.proxmox?.extra ?? {})).toHaveLength(10_000);
    expect(fast).toStrictEqual(await loadWithYaml(profile));
    const big = [
      `a: {${keys.map((k) => `${k}: ${'v'.repeat(90)}`).join(', ')}}\n`, `a: [${Array.from({ length: 100_000 }, (_, i) => `x${i}`).join(', ')}]\n`,
      `a: x${' '.repeat(1_000_000)}y\n`, `a: [x${' '.repeat(1_000_000)}y]\n`, `a: x${' '.repeat(1_000_000)}y # note\n`, `a: '${"x''".repeat(300_000)}'\n`,
      `a: ${'x:'.repeat(500_000)}x\n`, `a: ${'x #'.repeat(300_000)}\n`, `a: 1\n${'# a comment\n'.repeat(100_000)}`, `a:\n${'  - k: 1\n    v: x\n'.repeat(50_000)}`,
    ];
    for (const t of big) expect(readSimpleYaml(t), t.slice(0, 40)).toBeDefined();
  });

  it('loadProfileText without the yaml package gives what it gives with it: the profile, and each problem placed', async () => {
    const texts = readdirSync(PROFILES).filter((f) => f.endsWith('.yaml')).map((f) => readFileSync(new URL(f, PROFILES), 'utf8'));
    texts.push(
      'apiVersion: gpuvirt/v1\nname: w\nmemory: 2GiB\ncpu: { cores: 1 }\nfirmware: bios\nsecureBoot: true\n',
      'apiVersion: gpuvirt/v1\nname: w\nmemory: 2GiB\ncpu: { cores: 1 }\ndisplay: { fallback: virgl }\ndevices:\n  - { type: gpu, select: { address: 01:00.0 }, primary: true }\n',
    );
    // A check against a host that finds something at a device, as profile check and generate do.
    const extra = (p: { devices: unknown[] }) => (p.devices.length
      ? [problem('error', ['devices', 0, 'select'], 'not on this host'), problem('error', ['devices', 0, 'select', 'address'], 'no such device')]
      : [problem('warning', ['memory'], 'a lot')]);
    const onlyScalars = (p: { devices: unknown[] }) => [problem('error', ['devices', 0, 'select', 'address'], 'no such device'), problem('warning', ['memory'], 'a lot'), problem('warning', ['targets', 'nope'], 'x')];
    let placed = 0;
    for (const t of texts) {
      expect(readSimpleYaml(t), t).toBeDefined();
      for (const more of [undefined, extra, onlyScalars]) {
        const fast = await loadProfileText(t, more);
        expect(fast, t).toStrictEqual(await loadWithYaml(t, more));
        placed += fast.problems.filter((p) => p.line !== null && p.line > 1).length;
      }
    }
    expect(placed).toBeGreaterThan(texts.length);
  });

  it('places a problem where the yaml package does, from where it saw each value, or leaves it to the package', () => {
    /** Every path into `v`, and some that go one step past it or into nothing. */
    const pathsOf = (v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []) => {
      out.push(at, [...at, 'missing'], [...at, 0]);
      if (Array.isArray(v)) v.forEach((x, i) => pathsOf(x, [...at, i], out));
      else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) pathsOf(x, [...at, k], out);
      return out;
    };
    let quick = 0;
    let total = 0;
    fc.assert(fc.property(data, options, fc.array(edit, { maxLength: 2 }), fc.nat(), (d, o, edits, pick) => {
      const text = applyEdits(stringify(d, o), edits);
      const places: Places = new Map();
      const read = readSimpleYaml(text, places);
      if (read === undefined) return;
      const paths = pathsOf(read);
      const found = [0, 1, 2].map((i) => problem('warning', paths[(pick + i * 7) % paths.length]!, 'here'));
      const mine = placeQuickly(text, places, found);
      total++;
      if (mine === undefined) return;
      quick++;
      expect(mine, text).toStrictEqual(placeProblems(text, found));
    }), { numRuns: 1500 });
    expect(quick).toBeGreaterThan(total / 10); // not vacuous: many fall on a value, not a block
  });
});
