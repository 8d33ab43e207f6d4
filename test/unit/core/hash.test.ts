import { crc32, crc32Utf8, keyBytes, murmur3Uint32, placementScore, vbucketOf } from '../../../core';

const bytes = (s: string) => new TextEncoder().encode(s);

// Vectors computed independently with Python's zlib.crc32 and a reference MurmurHash3_x86_32;
// README.md ("Hashing") lists the same table for clients in other languages.
describe('key -> vbucket (CRC-32 modulo vbuckets)', () => {
  it.each([
    ['', 0x00000000, 0],
    ['foo', 0x8c736521, 9505],
    ['hello world', 0x0d4a1185, 4485],
    ['123456789', 0xcbf43926, 14630],
    ['café', 0x98ad42b5, 693],
    ['user:1001:session', 0x47bff1e1, 12769],
  ])('given key %j, then CRC-32 is %i and the vbucket of 16384 is %i', (key, crc, vbucket) => {
    expect(crc32(bytes(key))).toBe(crc);
    expect(vbucketOf(key, 16384)).toBe(vbucket);
  });

  it('given a range of a larger buffer, when hashed, then only those bytes count', () => {
    const buf = new Uint8Array([0x41, ...bytes('123456789'), 0x42, 0x43]);
    expect(crc32(buf, 1, 10)).toBe(0xcbf43926);
    expect(crc32(buf, 1, 1)).toBe(crc32(new Uint8Array(0)));
  });

  it('given raw bytes that are not UTF-8, when hashed, then the bytes themselves are hashed', () => {
    const key = new Uint8Array([0x00, 0xff, 0x20, 0x0a]);
    expect(crc32(key)).toBe(0xea8d264d);
    expect(vbucketOf(key, 16384)).toBe(9805);
    expect(vbucketOf(key, 1024)).toBe(589);
  });

  it.each([
    ['ascii'],
    ['é ü ß'],
    ['日本語キー'],
    ['emoji 😀 key'],
    ['lone \ud800 high'],
    ['lone \udc00 low'],
    ['end \ud83d'],
  ])('given %j, then hashing the string equals hashing its UTF-8 bytes', (text) => {
    expect(crc32Utf8(text)).toBe(crc32(bytes(text)));
  });

  it('given a string key, then it hashes like its UTF-8 bytes', () => {
    expect(keyBytes('café')).toEqual(bytes('café'));
    expect(vbucketOf('café', 4096)).toBe(vbucketOf(bytes('café'), 4096));
  });
});

describe('placement score (MurmurHash3_x86_32 of the vbucket, seeded with CRC-32 of the id)', () => {
  it.each([
    [0, 'i-0123456789abcdef0', 4058366845],
    [1, 'i-0123456789abcdef0', 980462482],
    [16383, 'i-0123456789abcdef0', 23748741],
    [42, 'node-1', 1786234526],
    [42, 'node-2', 386088898],
    [42, 'node-3', 3657246256],
  ])('given vbucket %i and server %s, then the score is %i', (vbucket, id, score) => {
    expect(placementScore(vbucket, id)).toBe(score);
  });

  it('given the well-known MurmurHash3 vector, then it matches', () => {
    // MurmurHash3_x86_32 of the 4 bytes 21 43 65 87 with seed 0 is 0xF55B516B (SMHasher test vectors).
    expect(murmur3Uint32(0x87654321, 0)).toBe(0xf55b516b);
  });
});
