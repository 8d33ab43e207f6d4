/**
 * The adaptive throttle's decisions, kept free of clocks and sockets so they can be tested as plain data.
 *
 * The signal is a source's latency as the agent sees it: the round trip of a tiny request (`mn`) sent on a
 * connection of its own, every few tens of milliseconds, from a thread that does nothing else (so the copy's
 * own work on the main thread does not delay it). That request waits behind whatever the source is busy
 * with (our meta gets, its crawler, its clients, the CPU the machine lends it), as a client's request does.
 *
 * The control is AIMD (as TCP's congestion control): each window of probes whose high percentile exceeds
 * the bound halves the rate the copy actually achieved (unless it barely copied: then the latency is
 * someone else's); a window well under the bound raises the rate by a
 * quarter; in between, the rate holds. A decrease acts on the achieved rate, not the allowed one, so a
 * limit far above what the copy can do never hides a breach.
 */
export interface LatencyControlOptions {
  /** Latency the probes' high percentile may reach, in ms. */
  readonly boundMs: number;
  /** The rate never drops below this (the copy must end), in bytes/s. @default 1 MiB/s */
  readonly minBytesPerSec?: number;
}

/** Below this share of the bound, a window counts as headroom and the rate may grow. */
export const HEADROOM = 0.7;
export const DECREASE = 0.5;
export const INCREASE = 1.25;
export const DEFAULT_MIN_BYTES_PER_SEC = 1024 * 1024;

/** The default bound: twice the source's latency before the copy, and never under 1 ms. */
export const DEFAULT_LATENCY_FACTOR = 2;
export const MIN_BOUND_MS = 1;

export function defaultBoundMs(baselineMs: number): number {
  return Math.max(MIN_BOUND_MS, DEFAULT_LATENCY_FACTOR * baselineMs);
}

export class LatencyController {
  /** Allowed bytes/s; Infinity until the first breach. */
  private rate = Infinity;
  private readonly min: number;

  constructor(private readonly o: LatencyControlOptions) {
    if (!(o.boundMs > 0)) throw new RangeError(`boundMs must be positive, got ${o.boundMs}`);
    this.min = o.minBytesPerSec ?? DEFAULT_MIN_BYTES_PER_SEC;
  }

  get bytesPerSec(): number {
    return this.rate;
  }

  get boundMs(): number {
    return this.o.boundMs;
  }

  /**
   * One window's verdict: `latencyMs` is the probes' high percentile in it, `achieved` the bytes/s the copy
   * moved from this source in it. Returns the new allowed rate (Infinity: unlimited).
   */
  update(latencyMs: number, achieved: number): number {
    if (latencyMs > this.o.boundMs) {
      // Barely copying (a crawl, a pause): the latency is not ours to cut, and cutting would only slow the rest.
      if (achieved < this.min) return this.rate;
      const from = Math.min(this.rate, Math.max(achieved, this.min));
      this.rate = Math.max(this.min, from * DECREASE);
    } else if (latencyMs < this.o.boundMs * HEADROOM && this.rate !== Infinity) {
      // Grow from what is allowed; once far above what the copy achieves, the limit no longer binds: lift it.
      this.rate = this.rate * INCREASE;
      if (achieved > 0 && this.rate > 4 * achieved) this.rate = Infinity;
    }
    return this.rate;
  }
}

/** The q-quantile (0..1) of `xs` (nearest rank); NaN when empty. Sorts a copy. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
