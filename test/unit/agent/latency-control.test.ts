import {
  DECREASE,
  DEFAULT_MIN_BYTES_PER_SEC,
  defaultBoundMs,
  INCREASE,
  LatencyController,
  quantile,
} from '../../../agent/latency-control';
import { PROBE_INTERVAL_MS, PROBES_PER_WINDOW, SourceGuard } from '../../../agent/latency-probe';
import { Throttle } from '../../../agent/throttle';

const MB = 1e6;

describe('LatencyController (the adaptive throttle)', () => {
  it('given latency within the bound, when windows pass, then the copy stays unlimited', () => {
    const c = new LatencyController({ boundMs: 2 });
    for (let i = 0; i < 10; i++) expect(c.update(1.9, 100 * MB)).toBe(Infinity);
  });

  it('given a breach while copying, when the window ends, then the rate halves from what the copy achieved', () => {
    const c = new LatencyController({ boundMs: 2 });
    expect(c.update(5, 80 * MB)).toBe(80 * MB * DECREASE);
    // Still over: halves again, from the lower of allowed and achieved.
    expect(c.update(5, 100 * MB)).toBe(80 * MB * DECREASE * DECREASE);
    expect(c.update(5, 10 * MB)).toBe(10 * MB * DECREASE);
  });

  it('given repeated breaches, when the rate falls, then it never goes under the floor (the copy must end)', () => {
    const c = new LatencyController({ boundMs: 1, minBytesPerSec: 2 * MB });
    let rate = Infinity;
    for (let i = 0; i < 50; i++) rate = c.update(10, Math.min(rate, 100 * MB));
    expect(rate).toBe(2 * MB);
  });

  it('given a breach while the copy barely moves (a crawl, a pause), when the window ends, then the rate holds', () => {
    const c = new LatencyController({ boundMs: 2 });
    expect(c.update(50, DEFAULT_MIN_BYTES_PER_SEC / 2)).toBe(Infinity);
    c.update(5, 40 * MB);
    expect(c.update(50, 0)).toBe(20 * MB);
  });

  it('given headroom after a cut, when windows pass, then the rate grows by a quarter each, and holds near the bound', () => {
    const c = new LatencyController({ boundMs: 2 });
    c.update(3, 40 * MB); // 20 MB/s
    expect(c.update(1, 20 * MB)).toBe(20 * MB * INCREASE);
    // Between 70% of the bound and the bound: hold.
    expect(c.update(1.8, 25 * MB)).toBe(20 * MB * INCREASE);
  });

  it('given headroom and a limit far above what the copy achieves, when the window ends, then the limit is lifted', () => {
    const c = new LatencyController({ boundMs: 2 });
    c.update(3, 40 * MB); // 20 MB/s allowed
    expect(c.update(0.5, 4 * MB)).toBe(Infinity);
  });

  it('given a non-positive bound, when constructed, then it is refused', () => {
    expect(() => new LatencyController({ boundMs: 0 })).toThrow(RangeError);
  });

  it('given a baseline, when the default bound is taken, then it is twice the baseline and at least 1 ms', () => {
    expect(defaultBoundMs(0.2)).toBe(1);
    expect(defaultBoundMs(3)).toBe(6);
  });

  it('given samples, when a quantile is taken, then it is the nearest rank', () => {
    expect(quantile([5, 1, 4, 2, 3, 6, 7, 8, 9, 10], 0.9)).toBe(9);
    expect(quantile([3], 0.99)).toBe(3);
    expect(quantile([], 0.5)).toBeNaN();
  });
});

describe('Throttle', () => {
  it('given a rate set mid-copy, when asked, then the schedule starts again from that moment', () => {
    let now = 0;
    let bytes = 0;
    const t = new Throttle(
      undefined,
      () => bytes,
      () => now,
    );
    bytes = 50 * MB;
    expect(t.delayMs()).toBe(0);
    t.setRate(10 * MB);
    bytes += 10 * MB; // one second's worth, at once
    expect(t.delayMs()).toBe(1000);
    now = 600;
    expect(t.delayMs()).toBe(400);
    t.setRate(undefined);
    expect(t.delayMs()).toBe(0);
  });
});

describe('SourceGuard (one source of the adaptive throttle, fed probe round trips)', () => {
  function guard(boundMs?: number) {
    let now = 0;
    const lines: string[] = [];
    const g = new SourceGuard('127.0.0.1:1', { boundMs, now: () => now, log: (l) => lines.push(l) });
    const probes = (ms: number, n: number) => {
      for (let i = 0; i < n; i++) {
        now += PROBE_INTERVAL_MS;
        g.probe(ms);
      }
    };
    return { g, probes, lines, advance: (ms: number) => (now += ms) };
  }

  it('given a baseline, when the source slows past twice it while copying, then the copy from it is paced', () => {
    const { g, probes, lines } = guard();
    probes(0.5, 5); // baseline 0.5 ms: bound 1 ms
    expect(g.ready).toBe(true);
    expect(lines[0]).toMatch(/under 1\.00 ms/);
    g.add(20 * MB); // 20 MB in one window of 200 ms: 100 MB/s achieved
    probes(3, PROBES_PER_WINDOW);
    expect(g.breaches).toBe(1);
    expect(g.lowestRate).toBeCloseTo(50 * MB, -3);
    g.add(10 * MB);
    expect(g.delayMs()).toBeGreaterThan(0);
  });

  it('given latency back under the bound, when windows pass, then the pace is lifted', () => {
    const { g, probes } = guard(2);
    probes(0.5, 5);
    g.add(20 * MB);
    probes(5, PROBES_PER_WINDOW); // cut to 50 MB/s
    for (let i = 0; i < 20; i++) {
      g.add(1 * MB); // the copy now barely uses its allowance: 5 MB/s
      probes(0.5, PROBES_PER_WINDOW);
    }
    g.add(10 * MB);
    expect(g.delayMs()).toBe(0);
  });

  it('given an explicit bound, when the baseline is taken, then the bound is the one given', () => {
    const { lines, probes } = guard(7);
    probes(0.1, 5);
    expect(lines[0]).toMatch(/under 7\.00 ms/);
  });
});
