import { InvalidKeyError, KeyTooLongError } from '../../../client/errors';
import {
  deleteRequest,
  encodeKey,
  getRequest,
  maxTtl,
  repairTtl,
  setRequest,
  tombstoneRequest,
  touchRequest,
  wireTtl,
} from '../../../client/meta-request';

const text = (parts: Buffer[]) => Buffer.concat(parts).toString('latin1');

describe('encodeKey', () => {
  it('given a printable or UTF-8 key, when encoded, then it is sent as its bytes without the b flag', () => {
    expect(encodeKey('user:42')).toEqual({ token: 'user:42', base64: false, display: 'user:42' });
    expect(encodeKey('café').token).toBe(Buffer.from('café').toString('latin1'));
  });

  it('given a key with a space or a control byte, when encoded, then it is base64 with the b flag', () => {
    expect(encodeKey('a b')).toMatchObject({ token: Buffer.from('a b').toString('base64'), base64: true });
    expect(encodeKey(Buffer.from([0x61, 0x00]))).toMatchObject({ base64: true, display: '0x6100' });
    expect(encodeKey(Buffer.from([0x7f])).base64).toBe(true);
  });

  it('given keys at and over 250 bytes, when encoded, then 250 passes and 251 is KeyTooLongError', () => {
    expect(encodeKey('k'.repeat(250)).token).toHaveLength(250);
    expect(() => encodeKey('k'.repeat(251))).toThrow(KeyTooLongError);
    expect(() => encodeKey('k'.repeat(251))).toThrow('key is 251 bytes, over the 250-byte limit');
  });

  it('given a base64-sent key at and over 186 bytes, when encoded, then 186 passes and 187 explains why', () => {
    expect(encodeKey(' '.repeat(186)).token).toHaveLength(248);
    expect(() => encodeKey(' '.repeat(187))).toThrow(
      /187 bytes, over the 186-byte limit \(a key with spaces/,
    );
  });

  it('given an empty key, when encoded, then it is InvalidKeyError', () => {
    expect(() => encodeKey('')).toThrow(InvalidKeyError);
  });
});

describe('requests', () => {
  const plain = encodeKey('k1');
  const b64 = encodeKey('k 1');

  it('given a key, when building get, delete and touch, then the meta commands carry the right flags', () => {
    expect(text(getRequest(plain))).toBe('mg k1 v f t\r\n');
    expect(text(getRequest(b64))).toBe('mg ayAx v f t b\r\n');
    expect(text(deleteRequest(b64))).toBe('md ayAx b\r\n');
    expect(text(touchRequest(plain, 30))).toBe('mg k1 T30 f s c\r\n');
  });

  it('given a value, when building set, add and a CAS set, then the mode, flags, TTL and length are right', () => {
    expect(text(setRequest(plain, Buffer.from('hi'), 5, 60, 'set'))).toBe('ms k1 2 F5 T60 MS\r\nhi\r\n');
    expect(text(setRequest(b64, Buffer.from('hi'), 0, 0, 'add'))).toBe('ms ayAx 2 F0 T0 ME b\r\nhi\r\n');
    expect(text(setRequest(plain, Buffer.from(''), 0, 0, 'set', '77'))).toBe('ms k1 0 F0 T0 MS C77\r\n\r\n');
  });

  it('given a key, when building its tombstone, then it is a set of the reserved flags and value', () => {
    expect(text(tombstoneRequest(plain, 600))).toBe('ms k1 17 F4294967295 T600 MS\r\nastaire:tombstone\r\n');
  });
});

describe('wireTtl', () => {
  it('given TTLs up to 30 days, when converted, then they are sent as they are (0 never expires)', () => {
    expect(wireTtl(0, 1_700_000_000)).toBe(0);
    expect(wireTtl(2_592_000, 1_700_000_000)).toBe(2_592_000);
  });

  it('given a TTL over 30 days, when converted, then it is sent as an absolute unix time', () => {
    expect(wireTtl(2_592_001, 1_700_000_000.7)).toBe(1_700_000_000 + 2_592_001);
    expect(maxTtl(1_700_000_000)).toBe(0x7fffffff - 1_700_000_000);
  });
});

describe('repairTtl', () => {
  it('given a read that never expires, when copied, then it is sent as T0', () => {
    expect(repairTtl(-1, 1_700_000_000)).toBe(0);
  });

  it('given remaining seconds up to 30 days, when copied, then they are sent as they are', () => {
    expect(repairTtl(2, 1_700_000_000)).toBe(2);
    expect(repairTtl(3600, 1_700_000_000)).toBe(3600);
    expect(repairTtl(2_592_000, 1_700_000_000)).toBe(2_592_000);
  });

  it('given over 30 days left, when copied, then an absolute time on the given clock', () => {
    expect(repairTtl(40 * 86400, 1_700_000_000.9)).toBe(1_700_000_000 + 40 * 86400);
  });

  it('given an item about to expire or a TTL that does not parse, when copied, then it is skipped', () => {
    expect(repairTtl(0, 1_700_000_000)).toBeUndefined();
    expect(repairTtl(1, 1_700_000_000)).toBeUndefined();
    expect(repairTtl(-2, 1_700_000_000)).toBeUndefined();
    expect(repairTtl(Number.NaN, 1_700_000_000)).toBeUndefined();
  });
});
