// Which bundle runs a command line: shared by bin/gpuvirt (the npm install) and src/sea.ts (the
// single executable). The read-only commands are each built as a bundle of their own (the whole
// program with every other command's code left out, scripts/build.mjs), so a short command reads
// and compiles only its own code. Such a bundle runs only its command; for any other argv (help,
// a usage error) its main() returns ELSEWHERE before writing anything, and the whole program runs.
'use strict';

const SPLIT = new Set(['doctor', 'list', 'status', 'sriov status', 'mdev types', 'vgpu types', 'vgpu status', 'cmdline', 'profile validate', 'profile check', 'generate']);

/** main()'s answer for an argv a command's own bundle leaves to the whole program (src/cli.ts). */
const ELSEWHERE = -1;

/** The file name stem of a command's bundle and cache: gpuvirt.<name>, a space as `-`. */
const stemOf = (name) => `gpuvirt.${name.replace(' ', '-')}`;

/**
 * The command argv names, when it has a bundle of its own: its first word, or first two, skipping
 * options (and --root's value); null otherwise. A wrong pick costs only time: that bundle
 * returns ELSEWHERE.
 */
function splitOf(args) {
  const words = [];
  for (let i = 0; i < args.length && words.length < 2; i++) {
    if (args[i] === '--root') i++;
    else if (!args[i].startsWith('-')) words.push(args[i]);
  }
  const two = words.join(' ');
  return SPLIT.has(two) ? two : SPLIT.has(words[0]) ? words[0] : null;
}

module.exports = { SPLIT, ELSEWHERE, stemOf, splitOf };
