import {
  isTombstone,
  isWritableFlags,
  MAX_CLIENT_FLAGS,
  TOMBSTONE_FLAGS,
  TOMBSTONE_VALUE,
} from '../../../core';

describe('tombstones', () => {
  it('given the reserved flags and value, when checked, then it is a tombstone (by value or by size)', () => {
    expect(isTombstone(TOMBSTONE_FLAGS, TOMBSTONE_VALUE)).toBe(true);
    expect(isTombstone(TOMBSTONE_FLAGS, TOMBSTONE_VALUE.length)).toBe(true);
  });

  it('given other flags, or the reserved flags with another value, when checked, then it is a value', () => {
    expect(isTombstone(0, TOMBSTONE_VALUE)).toBe(false);
    expect(isTombstone(TOMBSTONE_FLAGS, new TextEncoder().encode('astaire:tombstonE'))).toBe(false);
    expect(isTombstone(TOMBSTONE_FLAGS, new Uint8Array(3))).toBe(false);
    expect(isTombstone(TOMBSTONE_FLAGS, 3)).toBe(false);
  });

  it('given client flags, when checked for writing, then 0..0xFFFFFFFE pass and the reserved or invalid fail', () => {
    expect([0, 1, MAX_CLIENT_FLAGS].map(isWritableFlags)).toEqual([true, true, true]);
    expect([TOMBSTONE_FLAGS, -1, 1.5, '3', undefined].map(isWritableFlags)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
