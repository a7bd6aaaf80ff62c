// The name-based mdev UUIDs: SHA-1 of our own must agree with node:crypto's for every input.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nameUuid, sha1 } from '../../src/mdev/uuid.js';
import { derivedUuid } from '../../src/profiles/resolve.js';
import { mdevUuid } from '../../src/hostconfig/vgpu.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const nodeSha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');

describe('sha1', () => {
  it('matches the standard test vectors', () => {
    expect(hex(sha1(new Uint8Array()))).toBe('da39a3ee5e6b4b0d3255bfef95601890afd80709');
    expect(hex(sha1(new TextEncoder().encode('abc')))).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
    expect(hex(sha1(new TextEncoder().encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe('84983e441c3bd26ebaae4aa1f95129e5e54670f1');
  });

  it('agrees with node:crypto at every length around the padding boundaries', () => {
    for (let n = 0; n <= 200; n++) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n) & 0xff);
      expect(hex(sha1(data)), `length ${n}`).toBe(nodeSha1(data));
    }
  });

  it('agrees with node:crypto on random input', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 5000 }), (data) => hex(sha1(data)) === nodeSha1(data)), { numRuns: 300 });
  });
});

describe('nameUuid', () => {
  /** The layout as node:crypto gives it: the first 16 bytes, version 5, RFC 4122 variant. */
  const reference = (name: string) => {
    const h = createHash('sha1').update(name, 'utf8').digest();
    h[6] = (h[6]! & 0x0f) | 0x50;
    h[8] = (h[8]! & 0x3f) | 0x80;
    const x = h.subarray(0, 16).toString('hex');
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  };

  it('is the version 5 layout of the UTF-8 name, for any name', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (name) => nameUuid(name) === reference(name)), { numRuns: 300 });
    expect(nameUuid('gpuvirt')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('keeps the UUIDs profiles and host configs already derived', () => {
    // Values written by earlier releases (node:crypto), which running VMs and mdevctl definitions use.
    expect(derivedUuid('vdi-01', 0)).toBe(reference('gpuvirt/v1 mdev vdi-01 0'));
    expect(mdevUuid('0000:00:02.0', 'i915-GVTg_V5_4', 1)).toBe(reference('gpuvirt host config mdev\x000000:00:02.0\x00i915-GVTg_V5_4\x001'));
  });
});
