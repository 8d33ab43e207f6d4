import { isReservedKey, RESERVED_KEY_PREFIX } from '../../../core';

describe('isReservedKey', () => {
  const bytes = (s: string) => Buffer.from(s, 'utf8');

  it('matches keys that start with the reserved prefix', () => {
    expect(RESERVED_KEY_PREFIX).toBe('astaire:');
    expect(isReservedKey(bytes('astaire:complete'))).toBe(true);
    expect(isReservedKey(bytes('astaire:'))).toBe(true);
  });

  it('leaves application keys alone, however close', () => {
    expect(isReservedKey(bytes('astaire'))).toBe(false);
    expect(isReservedKey(bytes('astairE:x'))).toBe(false);
    expect(isReservedKey(bytes('user:astaire:x'))).toBe(false);
    expect(isReservedKey(bytes(''))).toBe(false);
  });

  it('looks only at the first `length` bytes of a scratch buffer', () => {
    const scratch = bytes('astaire:complete-and-more');
    expect(isReservedKey(scratch, 8)).toBe(true);
    expect(isReservedKey(scratch, 7)).toBe(false);
  });
});
