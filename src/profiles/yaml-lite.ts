// The YAML that profiles are written in, read without the yaml package: block mappings and
// sequences, one-line flow collections, plain and quoted scalars, comments. Anything else, or
// anything it is not sure of (a tab, an anchor, a tag, a block scalar, a multi-line scalar, a
// duplicate key, a double-quoted scalar with an escape, a plain key the core schema would read
// as something other than text, a scalar it would read as a number other than a plain decimal,
// a key near YAML's 1024-character limit, collections nested deeper than 32), gives
// undefined, and the yaml package reads the file as before. What it does
// read is what the yaml package gives (its core schema, YAML 1.2), checked by property tests.
//
// Loading the yaml package and composing a document was most of what a profile command spent
// on a valid profile. Where each scalar and flow collection stands is kept too (Places), as
// the yaml package gives it, so that most problems are placed without it; a problem at a block
// mapping or sequence is placed by the yaml package.

/** A path in the document, one entry per step: `s<key>` into a mapping, `n<index>` into a sequence. */
export const placeKey = (path: readonly (string | number)[]): string => path.map((p) => (typeof p === 'number' ? `n${p}` : `s${p}`)).join('\u0000');

/**
 * Where the nodes of a document start and end (offsets into the text; the yaml package's
 * range[0] and range[1]), by placeKey of their path. null: a block collection, whose end this
 * reader does not work out.
 */
export type Places = Map<string, readonly [number, number] | null>;

/** Not in the subset: the yaml package decides. */
class Unsure extends Error {}
const unsure = (): never => {
  throw new Unsure();
};

const KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;
/**
 * YAML's limit on an implicit key, 1024 characters up to its `:`, which the yaml package
 * enforces (in strict mode) on block mapping keys. It counts from where the key's token starts,
 * and after a key with no value on its line that is the line break before the key's indent: so
 * here a key may take what is left of 1024 after its indent and a line break.
 */
const KEY_MAX = 1024;
/**
 * How deep collections may nest here. The yaml package reports a deeper document it cannot
 * compose (RESOURCE_EXHAUSTION, when its recursion runs out of stack: a few hundred levels,
 * fewer when called deep in a stack), and this reader must neither overflow nor read what yaml
 * refuses; profiles nest five levels or so.
 */
const MAX_DEPTH = 32;
const NULL = /^(?:~|[Nn]ull|NULL)?$/;
const TRUE = /^(?:[Tt]rue|TRUE)$/;
const FALSE = /^(?:[Ff]alse|FALSE)$/;
/** A decimal the core schema reads as this very number. */
const DECIMAL = /^(?:0|-?[1-9][0-9]{0,14})$/;
/** Everything else the core schema reads as a number (ints, octal, hex, floats, .inf, .nan). */
const NUMBERISH = [/^[-+]?[0-9]+$/, /^0o[0-7]+$/, /^0x[0-9a-fA-F]+$/, /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/, /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/];
/** What a plain scalar may not start with (`-`, `?` and `:` only when a space or the end follows). */
const INDICATOR = /^(?:[[\]{},#&*!|>'"%@`]|[-?:](?: |$))/;

function plainValue(text: string): unknown {
  if (NULL.test(text)) return null;
  if (TRUE.test(text)) return true;
  if (FALSE.test(text)) return false;
  if (DECIMAL.test(text)) return Number(text);
  if (NUMBERISH.some((re) => re.test(text))) unsure();
  return text;
}

function key(text: string): string {
  if (!KEY.test(text) || text === '__proto__' || NULL.test(text) || TRUE.test(text) || FALSE.test(text) || DECIMAL.test(text)) unsure();
  return text;
}

/**
 * The spaces at the end of a plain scalar, which are not part of it. Only spaces: to YAML a
 * no-break space, an em space or an ideographic space is text (trimEnd() would drop them).
 */
function spacesOff(text: string): string {
  let end = text.length;
  while (text[end - 1] === ' ') end--; // (not / +$/: that is quadratic on a long run of inner spaces)
  return text.slice(0, end);
}

/** Only a comment (or nothing) may follow a value on its line. */
function endOfLine(line: string, at: number): void {
  const rest = line.slice(at);
  if (!/^(?: *| +#.*)$/.test(rest)) unsure();
}

/** A quoted scalar starting at `at`: its value and where it ends. No escapes, no line breaks. */
function quoted(line: string, at: number): [string, number] {
  const q = line[at]!;
  let out = '';
  for (let i = at + 1; i < line.length; i++) {
    const c = line[i]!;
    if (q === '"' && c === '\\') unsure();
    if (c !== q) {
      out += c;
      continue;
    }
    if (q === "'" && line[i + 1] === "'") {
      out += "'";
      i++;
      continue;
    }
    return [out, i + 1];
  }
  return unsure(); // the scalar goes on past the line
}

/**
 * `key:` at the start of `text` (a plain key, or a quoted one), then a space or the end: the key
 * and where what follows it starts. Null when the text is not a `key:`. `column`: where the text
 * starts on its line.
 */
function keyAt(text: string, column: number): [string, number] | null {
  let k: string;
  let end: number;
  const isQuoted = text[0] === "'" || text[0] === '"';
  if (isQuoted) [k, end] = quoted(text, 0);
  else {
    const m = /^[^ :]+/.exec(text);
    if (!m) return null;
    [k, end] = [m[0], m[0].length];
  }
  if (text[end] !== ':' || (end + 1 < text.length && text[end + 1] !== ' ')) return null;
  if (column + 1 + end > KEY_MAX) unsure();
  if (!isQuoted) key(k);
  else if (k === '__proto__') unsure();
  let at = end + 1;
  while (text[at] === ' ') at++;
  return [k, at];
}

/**
 * A one-line flow collection or scalar starting at `at` (spaces skipped), inside `depth`
 * collections: its value and where it ends.
 */
function flow(line: string, at: number, depth: number, path: (string | number)[], base: number, places: Places | undefined): [unknown, number] {
  let i = at;
  const skip = () => {
    while (line[i] === ' ') i++;
  };
  skip();
  const begin = i;
  const c = line[i];
  const done = <T>(v: T, end: number): [T, number] => {
    places?.set(placeKey(path), [base + begin, base + end]);
    return [v, end];
  };
  if (c === '[' || c === '{') {
    if (depth >= MAX_DEPTH) unsure();
    const close = c === '[' ? ']' : '}';
    const list: unknown[] = [];
    const map: Record<string, unknown> = {};
    i++;
    skip();
    if (line[i] === close) return done(c === '[' ? list : map, i + 1);
    for (;;) {
      if (c === '[') {
        const [v, end] = flow(line, i, depth + 1, [...path, list.length], base, places);
        list.push(v);
        i = end;
      } else {
        const ka = keyAt(line.slice(i), 0); // (yaml does not limit a flow mapping's keys; this does, to 1023)
        if (!ka || ka[1] === line.length - i) return unsure();
        const [k, at] = ka;
        if (Object.hasOwn(map, k)) unsure();
        const [v, end] = flow(line, i + at, depth + 1, [...path, k], base, places);
        map[k] = v;
        i = end;
      }
      skip();
      if (line[i] === close) return done(c === '[' ? list : map, i + 1);
      if (line[i] !== ',') unsure();
      i++;
      skip();
      if (line[i] === close || line[i] === ',') unsure(); // a trailing or empty entry
    }
  }
  if (c === "'" || c === '"') {
    const [v, end] = quoted(line, i);
    return done(v, end);
  }
  // A plain scalar in a flow collection ends at a flow indicator.
  let end = i;
  while (end < line.length && !',[]{}'.includes(line[end]!)) end++;
  const text = spacesOff(line.slice(i, end));
  if (text === '' || INDICATOR.test(text) || text.includes(': ') || text.endsWith(':') || text.includes(' #')) unsure();
  const v = plainValue(text);
  places?.set(placeKey(path), [base + i, base + i + text.length]);
  return [v, end];
}

interface Line {
  indent: number;
  text: string;
  /** The offset of text[0] in the document. */
  start: number;
}

/**
 * A value on the rest of a block line, from `at`, inside `depth` collections: flow, quoted or
 * plain, then perhaps a comment.
 */
function inline(line: Line, at: number, depth: number, path: (string | number)[], places: Places | undefined): unknown {
  const c = line.text[at];
  if (c === '[' || c === '{' || c === "'" || c === '"') {
    const [v, end] = flow(line.text, at, depth, path, line.start, places);
    endOfLine(line.text, end);
    return v;
  }
  const hash = line.text.indexOf(' #', at);
  const text = spacesOff(hash < 0 ? line.text.slice(at) : line.text.slice(at, hash));
  if (INDICATOR.test(text) || text.includes(': ') || text.endsWith(':') || /[[\]{}]/.test(text)) unsure();
  const v = plainValue(text);
  places?.set(placeKey(path), [line.start + at, line.start + at + text.length]);
  return v;
}

class Reader {
  private i = 0;
  constructor(private readonly lines: Line[], private readonly places: Places | undefined) {}

  private peek(): Line | undefined {
    return this.lines[this.i];
  }

  /** The block node whose lines start at `indent`, inside `depth` collections, at `path`. */
  block(indent: number, depth: number, path: (string | number)[]): unknown {
    const first = this.peek();
    if (!first || first.indent !== indent || depth >= MAX_DEPTH) return unsure();
    return first.text === '-' || first.text.startsWith('- ') ? this.sequence(indent, depth, path) : this.mapping(indent, depth, path);
  }

  private sequence(indent: number, depth: number, path: (string | number)[]): unknown[] {
    this.places?.set(placeKey(path), null);
    const out: unknown[] = [];
    for (let line = this.peek(); line && line.indent === indent && (line.text === '-' || line.text.startsWith('- ')); line = this.peek()) {
      this.i++;
      let at = 1;
      while (line.text[at] === ' ') at++;
      if (at >= line.text.length) {
        // `-` alone: the entry is the block below it.
        const next = this.peek();
        out.push(next && next.indent > indent ? this.block(next.indent, depth + 1, [...path, out.length]) : unsure());
        continue;
      }
      const rest = line.text.slice(at);
      if (keyAt(rest, indent + at)) {
        // `- key: value`: a mapping whose keys stand at the column of this first one.
        this.i--;
        this.lines[this.i] = { indent: indent + at, text: rest, start: line.start + at };
        if (depth + 1 >= MAX_DEPTH) unsure();
        out.push(this.mapping(indent + at, depth + 1, [...path, out.length]));
        continue;
      }
      if (rest === '-' || rest.startsWith('- ')) unsure(); // a sequence in a sequence on one line
      out.push(inline(line, at, depth + 1, [...path, out.length], this.places));
      this.noContinuation(indent);
    }
    return out;
  }

  private mapping(indent: number, depth: number, path: (string | number)[]): Record<string, unknown> {
    this.places?.set(placeKey(path), null);
    const out: Record<string, unknown> = {};
    for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
      const ka = keyAt(line.text, line.indent);
      if (!ka) return unsure();
      const [k, at] = ka;
      if (Object.hasOwn(out, k)) unsure(); // the yaml package reports it
      this.i++;
      if (at < line.text.length && line.text[at] !== '#') {
        out[k] = inline(line, at, depth + 1, [...path, k], this.places);
        this.noContinuation(indent);
        continue;
      }
      const next = this.peek();
      if (next && next.indent > indent) out[k] = this.block(next.indent, depth + 1, [...path, k]);
      // A sequence may stand at its key's own column.
      else if (next && next.indent === indent && (next.text === '-' || next.text.startsWith('- '))) out[k] = depth + 1 >= MAX_DEPTH ? unsure() : this.sequence(indent, depth + 1, [...path, k]);
      else {
        // Nothing: an empty scalar where the value would start (at a comment, or the line's end).
        out[k] = null;
        this.places?.set(placeKey([...path, k]), [line.start + at, line.start + at]);
      }
    }
    return out;
  }

  /** A line below a scalar that is indented further would continue it (or be an error). */
  private noContinuation(indent: number): void {
    const next = this.peek();
    if (next && next.indent > indent) unsure();
  }

  get done(): boolean {
    return this.i >= this.lines.length;
  }
}

/**
 * The document's data, as the yaml package's toJS() gives it, or undefined when it must read it.
 * With `places`, where its nodes are is recorded there.
 */
export function readSimpleYaml(source: string, places?: Places): Record<string, unknown> | undefined {
  // Tabs, other line breaks, a byte order mark, control characters, lone surrogates.
  if (/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(source)) return undefined;
  const lines: Line[] = [];
  let offset = 0;
  for (const raw of source.split('\n')) {
    const lineStart = offset;
    offset += raw.length + 1;
    const text = raw.replace(/^ +/, '');
    if (text === '' || text.startsWith('#')) continue;
    if (raw.trimEnd() !== raw) return undefined; // trailing spaces: fine in YAML, not worth the doubt
    if (raw.startsWith('---') || raw.startsWith('...') || raw.startsWith('%')) return undefined;
    const indent = raw.length - text.length;
    lines.push({ indent, text, start: lineStart + indent });
  }
  if (lines.length === 0 || lines[0]!.indent !== 0) return undefined;
  try {
    const reader = new Reader(lines, places);
    const data = reader.block(0, 0, []);
    if (!reader.done || data === null || typeof data !== 'object' || Array.isArray(data)) return undefined;
    return data as Record<string, unknown>;
  } catch (err) {
    if (err instanceof Unsure) return undefined;
    throw err;
  }
}
