import {
  ackKey,
  EPOCH_KEY,
  formatRoster,
  isClientId,
  isReservedKey,
  parseEpoch,
  parseRoster,
  pollOrder,
  ROSTER_KEY,
  TOPOLOGY_KEY,
} from '../../../core';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('cluster keys', () => {
  it('given the keys the workflow and clients share, then every one is reserved (the bulk paths skip them)', () => {
    for (const key of [TOPOLOGY_KEY, EPOCH_KEY, ROSTER_KEY, ackKey('app-1')])
      expect(isReservedKey(bytes(key))).toBe(true);
    expect(ackKey('app-1')).toBe('astaire:client:app-1');
  });

  it('given client ids, then only short ids of safe characters are accepted', () => {
    expect(isClientId('host-1.pid-42_x')).toBe(true);
    expect(isClientId('')).toBe(false);
    expect(isClientId('a b')).toBe(false);
    expect(isClientId('a\nb')).toBe(false);
    expect(isClientId('x'.repeat(121))).toBe(false);
  });

  it('given stored epochs, then decimals parse and anything else is absent', () => {
    expect(parseEpoch('42')).toBe(42);
    expect(parseEpoch('0')).toBe(0);
    expect(parseEpoch('-1')).toBeUndefined();
    expect(parseEpoch('4x')).toBeUndefined();
    expect(parseEpoch('')).toBeUndefined();
  });

  it('given a roster with repeats and garbage, then each id appears once in first-seen order, and a formatted roster parses back', () => {
    expect(parseRoster('b\na\nb\n\nnot an id\nc\n')).toEqual(['b', 'a', 'c']);
    expect(parseRoster(formatRoster(['x', 'y']))).toEqual(['x', 'y']);
    expect(formatRoster([])).toBe('');
  });

  it('given 1,000 clients over 10 members, then each member is polled by about a tenth, and the order does not depend on the list order', () => {
    const members = Array.from({ length: 10 }, (_, i) => ({ id: `i-${i}` }));
    const counts = new Map<string, number>();
    for (let c = 0; c < 1000; c++) {
      const first = pollOrder(`client-${c}`, members)[0]!.id;
      counts.set(first, (counts.get(first) ?? 0) + 1);
    }
    expect(counts.size).toBe(10);
    for (const n of counts.values()) expect(n).toBeGreaterThan(50);
    expect(pollOrder('c', [...members].reverse())).toEqual(pollOrder('c', members));
    expect(pollOrder('c', members)).toHaveLength(10);
  });

  it('given a member leaves, then clients that polled another member keep theirs', () => {
    const members = Array.from({ length: 5 }, (_, i) => ({ id: `i-${i}` }));
    for (let c = 0; c < 200; c++) {
      const before = pollOrder(`client-${c}`, members)[0]!.id;
      if (before === 'i-4') continue;
      expect(pollOrder(`client-${c}`, members.slice(0, 4))[0]!.id).toBe(before);
    }
  });

  it('given two members with the same score (the same id twice), then the order is still total', () => {
    expect(pollOrder('c', [{ id: 'a' }, { id: 'a' }])).toHaveLength(2);
  });
});
