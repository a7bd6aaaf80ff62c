import { describe, expect, it } from 'vitest';
import { compareAddress, isFullAddress, parseAddress, tryParseAddress } from '../../src/pci/address.js';
import { GpuvirtError } from '../../src/errors.js';

describe('parseAddress', () => {
  it.each([
    ['0b:00.0', '0000:0b:00.0', '0000:0b:00'],
    ['0000:0b:00.1', '0000:0b:00.1', '0000:0b:00'],
    ['0001:AF:1f.7', '0001:af:1f.7', '0001:af:1f'],
  ])('accepts %s as %s', (text, full, slot) => {
    const a = parseAddress(text);
    expect(a.full).toBe(full);
    expect(a.slot).toBe(slot);
  });

  it.each(['', '0b:00', '0b:00.8', '0b:20.0', 'b:00.0', '0000:0b:00.0/../..', '../0b:00.0', '0000:0b:00.0 ', 'zz:00.0', '00000:0b:00.0'])(
    'rejects %j with a usage error that names it',
    (text) => {
      expect(tryParseAddress(text)).toBeNull();
      let err: unknown;
      try {
        parseAddress(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GpuvirtError);
      expect((err as GpuvirtError).exitCode).toBe(2);
      expect((err as GpuvirtError).message).toContain(JSON.stringify(text));
    },
  );

  it.each(['0000:0b:00.0', '0001:af:1f.7', '0b:00.0', '0000:0B:00.0', '0000:0b:20.0', '0000:0b:00.8', '0000:0b:00.0\n', 'devices'])(
    'isFullAddress(%j) is whether it parses to itself',
    (text) => {
      expect(isFullAddress(text)).toBe(tryParseAddress(text)?.full === text);
    },
  );

  it('orders addresses as lspci does', () => {
    const sorted = ['0000:0b:00.0', '0000:00:1f.3', '0001:00:00.0', '0000:00:02.0'].sort(compareAddress);
    expect(sorted).toEqual(['0000:00:02.0', '0000:00:1f.3', '0000:0b:00.0', '0001:00:00.0']);
  });
});
