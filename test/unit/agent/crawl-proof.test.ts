import {
  chooseCrawlWalk,
  CrawlCounters,
  hashWalkIsSafe,
  parseServerVersion,
  parseCrawlCounters,
  whyNotComplete,
} from '../../../agent/crawl-proof';

const before: CrawlCounters = {
  running: 0,
  starts: 4,
  currItems: 1000,
  totalItems: 1500,
  checked: 7000,
  movesToCold: 10,
  movesToWarm: 3,
  movesWithinLru: 2,
  slabsMoved: 0,
};
/** One crawl of ours that checked every item, and nothing else happened. */
const after: CrawlCounters = { ...before, starts: 5, checked: 8000, running: 1 };

describe('whyNotComplete: the verdict', () => {
  it('given one crawl that checked every linked item in a still window, then it is complete', () => {
    expect(whyNotComplete(before, after)).toBeUndefined();
  });

  it.each<[string, Partial<CrawlCounters>, Partial<CrawlCounters>]>([
    ['a crawl was already running before', { running: 1 }, {}],
    ['another crawl also started (its checks would count)', {}, { starts: 6 }],
    ['no crawl started (ours was refused)', {}, { starts: 4 }],
    ['the crawler skipped one item (locked at that instant)', {}, { checked: 7999 }],
    ['an item was linked (a set)', {}, { currItems: 1001, totalItems: 1501, checked: 8001 }],
    ['an item was replaced (a set of an existing key)', {}, { totalItems: 1501 }],
    ['an item was unlinked (a delete, an eviction, a reclaim)', {}, { currItems: 999, checked: 7999 }],
    ['an item moved to COLD', {}, { movesToCold: 11 }],
    ['an item moved to WARM', {}, { movesToWarm: 4 }],
    ['an item moved within its LRU', {}, { movesWithinLru: 3 }],
    ['the slab rebalancer moved a page', {}, { slabsMoved: 1 }],
  ])('given %s, then it is not complete', (_, b, a) => {
    expect(whyNotComplete({ ...before, ...b }, { ...after, ...a })).toEqual(expect.any(String));
  });
});

describe('whyNotComplete', () => {
  it('given a complete crawl, then there is no reason; otherwise the reason names what changed', () => {
    expect(whyNotComplete(before, after)).toBeUndefined();
    expect(whyNotComplete(before, { ...after, totalItems: 1503, movesToCold: 12 })).toBe(
      'items changed during the crawl (total_items +3, moves_to_cold +2)',
    );
    expect(whyNotComplete(before, { ...after, checked: 7990 })).toBe('the crawler checked 990 of 1000 items');
    expect(whyNotComplete(before, { ...after, starts: 7 })).toBe('3 crawls started, not 1');
    expect(whyNotComplete({ ...before, running: 1 }, after)).toBe('a crawl was already running');
  });
});

describe('parseCrawlCounters', () => {
  const stats = [
    'STAT pid 1',
    'STAT version 1.6.18',
    'STAT slabs_moved 2',
    'STAT lru_crawler_running 0',
    'STAT lru_crawler_starts 9',
    'STAT curr_items 42',
    'STAT total_items 50',
    'STAT crawler_items_checked 84',
    'STAT moves_to_cold 5',
    'STAT moves_to_warm 6',
    'STAT moves_within_lru 7',
    'END',
    '',
  ].join('\r\n');

  it('given a 1.6.18 stats answer, then it reads every counter', () => {
    expect(parseCrawlCounters(stats)).toEqual({
      running: 0,
      starts: 9,
      currItems: 42,
      totalItems: 50,
      checked: 84,
      movesToCold: 5,
      movesToWarm: 6,
      movesWithinLru: 7,
      slabsMoved: 2,
    });
  });

  it('given an answer without one of them (another version), then there is no reading, so no proof', () => {
    expect(parseCrawlCounters(stats.replace('STAT crawler_items_checked 84\r\n', ''))).toBeUndefined();
    expect(parseCrawlCounters('ERROR\r\n')).toBeUndefined();
  });
});

describe('hashWalkIsSafe', () => {
  it.each<[string, boolean]>([
    ['VERSION 1.6.18', false],
    ['VERSION 1.6.19', true],
    ['VERSION 1.6.38', true],
    ['1.6.19\r\n', true],
    ['VERSION 1.5.22', false],
    ['VERSION 1.7.0', true],
    ['VERSION 2.0.0', true],
    ['VERSION 1.6.9', false],
    ['VERSION 1.6', false],
    ['VERSION unknown', false],
    ['', false],
  ])('given %j, then the hash walk is safe: %s', (version, safe) => {
    expect(hashWalkIsSafe(version)).toBe(safe);
  });
});

describe('choosing the walk from a stats answer', () => {
  it('given stats of 1.6.18 and of 1.6.38, then auto walks the LRU lists of the first and the hash table of the second; a named walk stands', () => {
    const stats = (v: string) => `STAT pid 1\r\nSTAT version ${v}\r\nSTAT libevent 2.1.12-stable\r\nEND\r\n`;
    expect(parseServerVersion(stats('1.6.18'))).toBe('1.6.18');
    expect(chooseCrawlWalk('auto', parseServerVersion(stats('1.6.18')))).toBe('lru');
    expect(chooseCrawlWalk('auto', parseServerVersion(stats('1.6.38')))).toBe('hash');
    expect(chooseCrawlWalk('auto', parseServerVersion('STAT pid 1\r\nEND\r\n'))).toBe('lru');
    expect(chooseCrawlWalk('hash', '1.6.18')).toBe('hash');
    expect(chooseCrawlWalk('lru', '1.6.38')).toBe('lru');
  });
});
