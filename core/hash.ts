/**
 * The portable hashes every Astaire client must reproduce bit for bit.
 *
 * - key -> vbucket: CRC-32 (IEEE 802.3, the zlib/PNG one) of the key's bytes,
 *   modulo the vbucket count. String keys are encoded as UTF-8.
 * - placement score: MurmurHash3_x86_32 of the vbucket number as a 4-byte
 *   little-endian block, seeded with the CRC-32 of the server id's UTF-8 bytes.
 *
 * Test vectors are in README.md ("Hashing") and test/unit/core/hash.test.ts.
 */

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

const utf8 = new TextEncoder();
// Bound once: a global lookup of `Math` per call is ~60x slower inside vm contexts (jest, REPLs).
const imul = Math.imul;

/** Keys are strings (UTF-8 encoded) or raw bytes. */
export type Key = string | Uint8Array;

export function keyBytes(key: Key): Uint8Array {
  return typeof key === 'string' ? utf8.encode(key) : key;
}

/** CRC-32 of `bytes[start..end)` (the whole array by default). */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32 of a string's UTF-8 bytes, encoded on the fly: no allocation on the client's per-key path. */
export function crc32Utf8(text: string): number {
  let c = 0xffffffff;
  const byte = (b: number) => {
    c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  };
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp < 0x80) {
      c = CRC_TABLE[(c ^ cp) & 0xff] ^ (c >>> 8);
      continue;
    }
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    // Lone surrogates become U+FFFD, as TextEncoder does.
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp < 0x800) {
      byte(0xc0 | (cp >> 6));
    } else if (cp < 0x10000) {
      byte(0xe0 | (cp >> 12));
      byte(0x80 | ((cp >> 6) & 0x3f));
    } else {
      byte(0xf0 | (cp >> 18));
      byte(0x80 | ((cp >> 12) & 0x3f));
      byte(0x80 | ((cp >> 6) & 0x3f));
    }
    byte(0x80 | (cp & 0x3f));
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** The vbucket a key belongs to, in [0, vbuckets). */
export function vbucketOf(key: Key, vbuckets: number): number {
  return (typeof key === 'string' ? crc32Utf8(key) : crc32(key)) % vbuckets;
}

/** The part of MurmurHash3_x86_32 that depends only on the 4-byte block: computed once per vbucket. */
export function murmurBlock(value: number): number {
  let k = imul(value >>> 0, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return imul(k, 0x1b873593);
}

/** MurmurHash3_x86_32 of one 4-byte block whose `murmurBlock` is given, with `seed`. */
export function murmurFinish(block: number, seed: number): number {
  let h = seed ^ block;
  h = (h << 13) | (h >>> 19);
  h = (imul(h, 5) + 0xe6546b64) | 0;
  h ^= 4;
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3_x86_32 of `value` as a 4-byte little-endian block. */
export function murmur3Uint32(value: number, seed: number): number {
  return murmurFinish(murmurBlock(value), seed >>> 0);
}

/** The rendezvous score of server `id` for `vbucket`: higher wins. */
export function placementScore(vbucket: number, id: string): number {
  return murmur3Uint32(vbucket, crc32(utf8.encode(id)));
}
