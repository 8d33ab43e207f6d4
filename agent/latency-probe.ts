import { Worker } from 'node:worker_threads';
import { LatencyController, defaultBoundMs, quantile } from './latency-control';
import { Throttle } from './throttle';

/** Probes per source per second: one `mn` round trip each. */
export const PROBE_INTERVAL_MS = 20;
/** Probes per control window (200 ms). */
export const PROBES_PER_WINDOW = 10;
/** Probes before the copy that give the baseline. */
const BASELINE_PROBES = 5;
/** The window's statistic compared with the bound. */
const WINDOW_QUANTILE = 0.9;

/**
 * Runs in a worker thread, so that the copy's work on the main thread (parsing a 256 KB chunk takes a
 * few ms) never delays a probe's answer. One connection per source, one `mn` in flight at a time; a
 * probe not answered within 1 s counts as 1 s. Posts each round trip in ms.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const { addresses, intervalMs } = workerData;
const sockets = addresses.map((address, index) => {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  const s = { sent: 0n, busy: false, text: '', sock: net.connect(port, host) };
  s.sock.setNoDelay(true);
  s.sock.on('error', () => { s.dead = true; });
  s.sock.on('data', (d) => {
    s.text += d.toString('latin1');
    if (!s.text.endsWith('MN\\r\\n')) return;
    s.text = '';
    s.busy = false;
    parentPort.postMessage({ index, ms: Number(process.hrtime.bigint() - s.sent) / 1e6 });
  });
  return s;
});
const timer = setInterval(() => {
  sockets.forEach((s, index) => {
    if (s.dead) return;
    if (s.busy) {
      const waited = Number(process.hrtime.bigint() - s.sent) / 1e6;
      if (waited > 1000) parentPort.postMessage({ index, ms: waited });
      return;
    }
    s.busy = true;
    s.sent = process.hrtime.bigint();
    s.sock.write('mn\\r\\n');
  });
}, intervalMs);
parentPort.on('message', () => { clearInterval(timer); for (const s of sockets) s.sock.destroy(); parentPort.close(); });
`;

export interface LatencyGuardOptions {
  /** Bound on each source's probe latency in ms; undefined: defaultBoundMs of the baseline. */
  readonly boundMs?: number;
  readonly log?: (line: string) => void;
  /** @default Date.now (tests inject a clock) */
  readonly now?: () => number;
}

/**
 * The adaptive throttle of one resync: probes every source from a worker thread and keeps, per source, a
 * LatencyController whose rate paces that source's copy (SourceGuard.delayMs). Close it when the copy ends.
 */
export class LatencyGuard {
  private readonly worker: Worker;
  private readonly guards: SourceGuard[];

  constructor(
    addresses: readonly string[],
    private readonly o: LatencyGuardOptions = {},
  ) {
    this.guards = addresses.map((a) => new SourceGuard(a, o));
    this.worker = new Worker(WORKER, {
      eval: true,
      workerData: { addresses: [...addresses], intervalMs: PROBE_INTERVAL_MS },
      resourceLimits: { maxOldGenerationSizeMb: 16 },
    });
    this.worker.unref();
    this.worker.on('message', (m: { index: number; ms: number }) => this.guards[m.index].probe(m.ms));
    this.worker.on('error', (e) => o.log?.(`latency probe failed: ${e.message}; copying unthrottled`));
  }

  /** Resolves once every source has its baseline (or after `maxMs`: a source that does not answer has none). */
  async ready(maxMs = 500): Promise<void> {
    const deadline = Date.now() + maxMs;
    while (Date.now() < deadline && this.guards.some((g) => !g.ready))
      await new Promise((r) => setTimeout(r, PROBE_INTERVAL_MS));
  }

  /** The guard of the source at `address` (as given to the constructor). */
  for(address: string): SourceGuard {
    const g = this.guards.find((x) => x.address === address);
    if (!g) throw new Error(`no latency guard for ${address}`);
    return g;
  }

  async close(): Promise<void> {
    this.worker.postMessage('stop');
    await this.worker.terminate();
    for (const g of this.guards)
      if (g.windows > 0)
        this.o.log?.(
          `source ${g.address}: adaptive throttle: ${g.breaches} of ${g.windows} windows over the bound, lowest rate ${g.lowestRate === Infinity ? 'unlimited' : `${(g.lowestRate / 1e6).toFixed(1)} MB/s`}`,
        );
  }
}

/** One source's controller, fed by the probes; paces the bytes copied from it. */
export class SourceGuard {
  private readonly baseline: number[] = [];
  private window: number[] = [];
  private controller: LatencyController | undefined;
  private copied = 0;
  private readonly now: () => number;
  private windowStart: number;
  private windowBytes = 0;
  private readonly pacer: Throttle;
  /** Windows, those over the bound, and the lowest rate set (for the log). */
  windows = 0;
  breaches = 0;
  lowestRate = Infinity;

  constructor(
    readonly address: string,
    private readonly o: LatencyGuardOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.windowStart = this.now();
    this.pacer = new Throttle(undefined, () => this.copied, this.now);
  }

  get ready(): boolean {
    return this.controller !== undefined;
  }

  /** Bytes copied from this source. */
  add(bytes: number): void {
    this.copied += bytes;
  }

  delayMs(): number {
    return this.pacer.delayMs();
  }

  probe(ms: number): void {
    if (!this.controller) {
      // The first probes (before the copy loads the source much) give the baseline.
      this.baseline.push(ms);
      if (this.baseline.length < BASELINE_PROBES) return;
      const base = quantile(this.baseline, WINDOW_QUANTILE);
      const boundMs = this.o.boundMs ?? defaultBoundMs(base);
      this.controller = new LatencyController({ boundMs });
      this.o.log?.(
        `source ${this.address}: latency before the copy ${base.toFixed(2)} ms (p90 of ${BASELINE_PROBES} probes); adaptive throttle keeps it under ${boundMs.toFixed(2)} ms`,
      );
      this.windowStart = this.now();
      this.windowBytes = this.copied;
      return;
    }
    this.window.push(ms);
    if (this.window.length < PROBES_PER_WINDOW) return;
    const now = this.now();
    const achieved = ((this.copied - this.windowBytes) / Math.max(1, now - this.windowStart)) * 1000;
    const latency = quantile(this.window, WINDOW_QUANTILE);
    const before = this.controller.bytesPerSec;
    const rate = this.controller.update(latency, achieved);
    this.windows++;
    if (latency > this.controller.boundMs) this.breaches++;
    this.lowestRate = Math.min(this.lowestRate, rate);
    if (rate !== before) this.pacer.setRate(rate === Infinity ? undefined : rate);
    this.window = [];
    this.windowStart = now;
    this.windowBytes = this.copied;
  }
}
