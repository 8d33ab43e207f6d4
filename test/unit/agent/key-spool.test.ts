import { existsSync, readdirSync, rmSync } from 'node:fs';
import { KeySpool } from '../../../agent/key-spool';
import { tempDir } from '../../support/temp-dirs';

function drain(spool: KeySpool): [string, number][] {
  const out: [string, number][] = [];
  while (spool.shift()) out.push([spool.buf.toString('latin1', spool.start, spool.end), spool.num]);
  return out;
}

describe('KeySpool', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('spool-test-');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('given keys that fit in memory, when drained, then they come back in order with their numbers and nothing is spilled', () => {
    const spool = new KeySpool({ spillDir: dir });
    spool.push(Buffer.from('a'), 1);
    spool.push(Buffer.from(''), 0);
    spool.push(Buffer.from('xyz:abc'), 2 ** 53 - 1, 4, 7);
    spool.push(Buffer.from([0, 13, 10, 255]), -1.5);
    expect(spool.length).toBe(4);
    expect(drain(spool)).toEqual([
      ['a', 1],
      ['', 0],
      ['abc', 2 ** 53 - 1],
      ['\u0000\r\n\u00ff', -1.5],
    ]);
    expect(spool.length).toBe(0);
    expect(spool.shift()).toBe(false);
    expect(spool.spilledBytes).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('given far more keys than its memory, when filled then drained, then every key comes back in order through the spill file', () => {
    const spool = new KeySpool({ spillDir: dir, chunkBytes: 1024, memoryBytes: 4096 });
    const n = 20000;
    for (let i = 0; i < n; i++) spool.push(Buffer.from(`key:${i}`), i * 4 + (i % 4));
    expect(spool.spilledBytes).toBeGreaterThan(100000);
    expect(readdirSync(dir)).toHaveLength(1);
    const out = drain(spool);
    expect(out).toHaveLength(n);
    expect(out.every(([k, v], i) => k === `key:${i}` && v === i * 4 + (i % 4))).toBe(true);
    spool.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('given pushes and shifts interleaved at random around the spill threshold, then the order is exactly FIFO', () => {
    const spool = new KeySpool({ spillDir: dir, chunkBytes: 1024, memoryBytes: 2048 });
    const expected: string[] = [];
    let next = 0;
    let seed = 7;
    const rand = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const got: string[] = [];
    for (let round = 0; round < 3000; round++) {
      const pushes = Math.floor(rand() * 40);
      for (let i = 0; i < pushes; i++) {
        const key = `k${next++}:${'x'.repeat(Math.floor(rand() * 60))}`;
        expected.push(key);
        spool.push(Buffer.from(key), next);
      }
      const shifts = Math.floor(rand() * 40);
      for (let i = 0; i < shifts && spool.shift(); i++)
        got.push(spool.buf.toString('latin1', spool.start, spool.end));
    }
    for (const [k] of drain(spool)) got.push(k);
    expect(spool.spilledBytes).toBeGreaterThan(0);
    expect(got.length).toBe(expected.length);
    expect(got).toEqual(expected);
    spool.close();
  });

  it('given a key longer than 65535 bytes, then push refuses it', () => {
    const spool = new KeySpool({ spillDir: dir });
    expect(() => spool.push(Buffer.alloc(70000), 1)).toThrow(RangeError);
  });

  it('given a spool that never spilled, then close removes nothing and leaves no file', () => {
    const spool = new KeySpool({ spillDir: dir });
    spool.push(Buffer.from('k'), 1);
    spool.close();
    expect(existsSync(dir)).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });
});
