import { describe, expect, it } from 'vitest';
import { parseShellAssignments } from '../../src/boot/shell-vars.js';

describe('parseShellAssignments', () => {
  it('reads the quoting forms /etc/default/grub uses', () => {
    const vars = parseShellAssignments(
      [
        '# comment GRUB_CMDLINE_LINUX="no"',
        'GRUB_DEFAULT=0',
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"',
        "GRUB_CMDLINE_LINUX='console=ttyS0,115200 \"x\"'",
        'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT intel_iommu=on" # appended',
        'export GRUB_DISABLE_OS_PROBER=true',
        'GRUB_TIMEOUT=5 # trailing comment',
        'GRUB_X="a \\"b\\" \\$c ${GRUB_TIMEOUT}"',
        'if [ -x /usr/bin/foo ]; then GRUB_Y=1; fi',
      ].join('\n'),
    );
    expect(vars.GRUB_DEFAULT).toBe('0');
    expect(vars.GRUB_CMDLINE_LINUX_DEFAULT).toBe('quiet splash intel_iommu=on');
    expect(vars.GRUB_CMDLINE_LINUX).toBe('console=ttyS0,115200 "x"');
    expect(vars.GRUB_DISABLE_OS_PROBER).toBe('true');
    expect(vars.GRUB_TIMEOUT).toBe('5');
    expect(vars.GRUB_X).toBe('a "b" $c 5');
    expect(vars.GRUB_Y).toBeUndefined();
  });

  it('ignores an assignment with an unterminated quote or a command substitution', () => {
    const vars = parseShellAssignments('A="open\nB=$(uname -r)\nC=`id`\nD=ok');
    expect(vars).toEqual({ D: 'ok' });
  });
});
