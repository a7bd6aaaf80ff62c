import { describe, expect, it } from 'vitest';
import { editAssignment, planGrubEdit } from '../../src/setup/grub.js';
import { parseShellAssignments } from '../../src/boot/shell-vars.js';
import { FsHost } from '../../src/host/fs-host.js';
import { makeTree } from '../helpers/tree.js';

const on = { add: [{ key: 'intel_iommu', value: 'on' }], remove: [] };
const V = 'GRUB_CMDLINE_LINUX_DEFAULT';

describe('editAssignment', () => {
  it('a double-quoted value continued over several lines keeps every word, and sh reads the result the same', () => {
    const text = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet splash \\\n  a=1 b=2 \\\n  c d"\nGRUB_CMDLINE_LINUX=""\n';
    const out = editAssignment(text, V, on)!;
    expect(out.match(/GRUB_CMDLINE_LINUX_DEFAULT=/g)).toHaveLength(1);
    expect(parseShellAssignments(out)[V]!.split(/\s+/)).toEqual(['quiet', 'splash', 'a=1', 'b=2', 'c', 'd', 'intel_iommu=on']);
    expect(parseShellAssignments(out).GRUB_DEFAULT).toBe('0');
    expect(parseShellAssignments(out).GRUB_CMDLINE_LINUX).toBe('');
  });

  it('a value it cannot follow (single quotes over lines, a quote never closed) is refused, never overridden', () => {
    expect(() => editAssignment("GRUB_CMDLINE_LINUX_DEFAULT='quiet \\\n splash'\n", V, on)).toThrow();
    expect(() => editAssignment('GRUB_CMDLINE_LINUX_DEFAULT="quiet splash\n', V, on)).toThrow();
  });

  it('appends inside double quotes and leaves every other byte alone', () => {
    const text = '# If you change this file, run update-grub\nGRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet splash"   # desktop\nGRUB_CMDLINE_LINUX=""\n';
    const out = editAssignment(text, V, on)!;
    expect(out).toBe(text.replace('"quiet splash"', '"quiet splash intel_iommu=on"'));
    expect(parseShellAssignments(out)[V]).toBe('quiet splash intel_iommu=on');
  });

  it('keeps single quotes, and bare words become quoted only when they must', () => {
    expect(editAssignment("GRUB_CMDLINE_LINUX_DEFAULT='quiet'\n", V, on)).toBe("GRUB_CMDLINE_LINUX_DEFAULT='quiet intel_iommu=on'\n");
    expect(editAssignment('GRUB_CMDLINE_LINUX_DEFAULT=quiet\n', V, on)).toBe('GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"\n');
    expect(editAssignment('GRUB_CMDLINE_LINUX_DEFAULT=\n', V, on)).toBe('GRUB_CMDLINE_LINUX_DEFAULT=intel_iommu=on\n');
  });

  it('is idempotent and replaces a value in place', () => {
    expect(editAssignment('GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"\n', V, on)).toBeNull();
    expect(editAssignment('GRUB_CMDLINE_LINUX_DEFAULT="intel_iommu=off quiet"\n', V, on)).toBe('GRUB_CMDLINE_LINUX_DEFAULT="intel_iommu=on quiet"\n');
  });

  it('keeps $VAR expansions and edits the last assignment, which is the one that counts', () => {
    const text = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT splash"\n';
    const out = editAssignment(text, V, on)!;
    expect(out.split('\n')[0]).toBe('GRUB_CMDLINE_LINUX_DEFAULT="quiet"');
    expect(parseShellAssignments(out)[V]).toBe('quiet splash intel_iommu=on');
  });

  it('removes a parameter, and only that value when one is given', () => {
    expect(editAssignment('GRUB_CMDLINE_LINUX_DEFAULT="quiet amd_iommu=on iommu=pt"\n', V, { add: [], remove: ['amd_iommu'] })).toBe('GRUB_CMDLINE_LINUX_DEFAULT="quiet iommu=pt"\n');
    expect(editAssignment('GRUB_CMDLINE_LINUX_DEFAULT="iommu=pt"\n', V, { add: [], remove: ['iommu=nopt'] })).toBeNull();
  });

  it('adds the variable when it is missing, without touching the rest', () => {
    expect(editAssignment('GRUB_TIMEOUT=5', V, on)).toBe('GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT="intel_iommu=on"\n');
  });

});

describe('planGrubEdit', () => {
  it('a drop-in that overrides the main file is where the change goes', () => {
    const host = new FsHost(makeTree({
      'etc/default/grub': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\n',
      'etc/default/grub.d/50-cloudimg-settings.cfg': 'GRUB_CMDLINE_LINUX_DEFAULT="console=tty1 console=ttyS0"\n',
    }));
    const changes = planGrubEdit(host, V, on);
    expect(changes.map((c) => c.path)).toEqual(['/etc/default/grub.d/50-cloudimg-settings.cfg']);
    expect(changes[0]!.after).toBe('GRUB_CMDLINE_LINUX_DEFAULT="console=tty1 console=ttyS0 intel_iommu=on"\n');
  });

  it('both variables set: add to the chosen one, and the key leaves the other', () => {
    const host = new FsHost(makeTree({ 'etc/default/grub': 'GRUB_CMDLINE_LINUX="rhgb intel_iommu=off"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n' }));
    const [c] = planGrubEdit(host, V, on);
    expect(c!.after).toBe('GRUB_CMDLINE_LINUX="rhgb"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"\n');
  });
});
