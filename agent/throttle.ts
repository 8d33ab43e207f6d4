/**
 * Keeps the copy under `bytesPerSec` on average: when the bytes copied so far
 * are ahead of schedule, the pump waits out the difference. Bytes in flight are
 * bounded by the pipeline windows, so the overshoot is too. The rate can change
 * (the adaptive throttle sets it): the schedule then starts again from that moment.
 */
export class Throttle {
  private startedAt: number;
  private startBytes = 0;

  constructor(
    private bytesPerSec: number | undefined,
    private readonly copiedBytes: () => number,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
  }

  /** A new cap (undefined: none), from now on. */
  setRate(bytesPerSec: number | undefined): void {
    this.bytesPerSec = bytesPerSec;
    this.startedAt = this.now();
    this.startBytes = this.copiedBytes();
  }

  /** Milliseconds to wait before asking for more; 0 when under the limit or unlimited. */
  delayMs(): number {
    if (!this.bytesPerSec) return 0;
    const due = this.startedAt + ((this.copiedBytes() - this.startBytes) / this.bytesPerSec) * 1000;
    return Math.max(0, Math.ceil(due - this.now()));
  }
}
