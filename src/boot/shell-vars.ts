// Reads the variable assignments of a shell file such as /etc/default/grub, the way `sh`
// would for the simple forms those files use: NAME=word, NAME="...", NAME='...', with
// $NAME / ${NAME} expanded inside double quotes and bare words. Commands are ignored.

export function parseShellAssignments(text: string, initial: Record<string, string> = {}): Record<string, string> {
  const vars: Record<string, string> = { ...initial };
  for (const rawLine of joinContinuations(text).split('\n')) {
    const line = rawLine.trim();
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    const value = parseWord(m[2]!, vars);
    if (value !== null) vars[m[1]!] = value;
  }
  return vars;
}

function joinContinuations(text: string): string {
  return text.replace(/\\\n/g, '');
}

/** Parses one shell word (up to an unquoted space or comment); null when it is not a plain value. */
function parseWord(src: string, vars: Record<string, string>): string | null {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === ';') break;
    if (c === '#' && i === 0) break;
    if (c === "'") {
      const end = src.indexOf("'", i + 1);
      if (end < 0) return null;
      out += src.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      let chunk = '';
      while (j < src.length && src[j] !== '"') {
        if (src[j] === '\\' && j + 1 < src.length && '"\\$`'.includes(src[j + 1]!)) {
          chunk += src[j + 1];
          j += 2;
        } else if (src[j] === '$') {
          const [val, next] = expandVar(src, j, vars);
          chunk += val;
          j = next;
        } else {
          chunk += src[j];
          j += 1;
        }
      }
      if (j >= src.length) return null;
      out += chunk;
      i = j + 1;
    } else if (c === '$') {
      const [val, next] = expandVar(src, i, vars);
      out += val;
      i = next;
    } else if (c === '\\' && i + 1 < src.length) {
      out += src[i + 1];
      i += 2;
    } else if (c === '`' || c === '(' ) {
      return null;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

function expandVar(src: string, at: number, vars: Record<string, string>): [string, number] {
  const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(src.slice(at));
  if (braced) return [vars[braced[1]!] ?? '', at + braced[0].length];
  const plain = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(src.slice(at));
  if (plain) return [vars[plain[1]!] ?? '', at + plain[0].length];
  return ['$', at + 1];
}
