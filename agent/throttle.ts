/**
 * Keeps the copy under `bytesPerSec` on average: when the bytes copied so far
 * are ahead of schedule, the pump waits out the difference. Bytes in flight are
 * bounded by the pipeline windows, so the overshoot is too.
 */
export class Throttle {
  private readonly startedAt: number;

  constructor(
    private readonly bytesPerSec: number | undefined,
    private readonly copiedBytes: () => number,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
  }

  /** Milliseconds to wait before asking for more; 0 when under the limit or unlimited. */
  delayMs(): number {
    if (!this.bytesPerSec) return 0;
    const due = this.startedAt + (this.copiedBytes() / this.bytesPerSec) * 1000;
    return Math.max(0, Math.ceil(due - this.now()));
  }
}
