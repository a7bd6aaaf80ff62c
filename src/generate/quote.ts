// Quoting for the two languages a QEMU command line passes through: the POSIX shell (the
// script) and QEMU's own option syntax, where a comma ends a value unless doubled.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One shell word that means exactly `s`: single quotes, with ' written as '\''. */
export function shellQuote(s: string): string {
  if (s !== '' && SAFE.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A value inside -device/-object key=value lists: QemuOpts reads ",," as a literal comma. */
export function qemuValue(s: string): string {
  return s.replace(/,/g, ',,');
}
