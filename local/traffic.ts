import type { AstaireClient } from '../client';
import { flagsOf, keyOf, ttlOf, valueOf } from './dataset';

/**
 * What the application wrote, and therefore what must read back: item `i` at version
 * `versions.get(i) ?? 0`, for i in [0, count).
 */
export class Ledger {
  readonly versions = new Map<number, number>();
  constructor(public count: number) {}

  version(index: number): number {
    return this.versions.get(index) ?? 0;
  }
}

export interface TrafficStats {
  reads: number;
  writes: number;
  /** Reads that found nothing (or something else) for a key that was written before. */
  readMisses: number;
  writeErrors: number;
  readErrors: number;
  firstError?: string;
  /** The first read that missed: key, expected version and what came back. */
  firstMiss?: string;
}

/**
 * Application traffic during a scaling phase: reads of known keys, overwrites and new keys,
 * through the client, checking every read. Bounded in operations and time.
 */
export async function runTraffic(
  client: AstaireClient,
  ledger: Ledger,
  until: Promise<unknown>,
  limits: {
    maxOps: number;
    maxMs: number;
    concurrency?: number;
    /** Called with the counters so far every 500 ms while it runs, and once at the end (a report's chart). */
    onSample?: (stats: TrafficStats) => void;
  },
): Promise<TrafficStats> {
  const stats: TrafficStats = { reads: 0, writes: 0, readMisses: 0, writeErrors: 0, readErrors: 0 };
  const sampler = limits.onSample && setInterval(() => limits.onSample!({ ...stats }), 500);
  let stop = false;
  void until.finally(() => (stop = true));
  const deadline = Date.now() + limits.maxMs;
  const inFlight = new Set<number>();
  let ops = 0;
  let seed = 0x2545f491;
  const random = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const worker = async () => {
    while (!stop && ops < limits.maxOps && Date.now() < deadline) {
      ops++;
      const dice = random(10);
      if (dice < 2) {
        const index = ledger.count++;
        await write(index, 0);
        continue;
      }
      const index = random(ledger.count);
      if (inFlight.has(index)) continue;
      if (dice < 6) await write(index, ledger.version(index) + 1);
      else await read(index);
    }
  };
  const write = async (index: number, version: number) => {
    inFlight.add(index);
    try {
      await client.set(keyOf(index), valueOf(index, version), { flags: flagsOf(index), ttl: ttlOf(index) });
      ledger.versions.set(index, version);
      stats.writes++;
    } catch (error) {
      stats.writeErrors++;
      stats.firstError ??= `write ${keyOf(index)}: ${(error as Error).message}`;
    } finally {
      inFlight.delete(index);
    }
  };
  // A read holds its key like a write does: a write to the same key landing between the read and the
  // ledger update would otherwise make a correct answer look like a miss.
  const read = async (index: number) => {
    inFlight.add(index);
    try {
      const item = await client.get(keyOf(index));
      stats.reads++;
      const expected = ledger.version(index);
      if (!item || !item.value.equals(valueOf(index, expected)) || item.flags !== flagsOf(index)) {
        stats.readMisses++;
        stats.firstMiss ??= `${keyOf(index)} (version ${expected}): ${!item ? 'not found' : `got ${item.value.subarray(0, 16).toString('latin1')}... flags ${item.flags}`}`;
      }
    } catch (error) {
      stats.readErrors++;
      stats.firstError ??= `read ${keyOf(index)}: ${(error as Error).message}`;
    } finally {
      inFlight.delete(index);
    }
  };
  try {
    await Promise.all(Array.from({ length: limits.concurrency ?? 16 }, worker));
  } finally {
    if (sampler) clearInterval(sampler);
  }
  limits.onSample?.({ ...stats });
  return stats;
}

/** Loads items [from, to) at version 0 in pipelined batches. */
export async function load(
  client: AstaireClient,
  from: number,
  to: number,
  onBatch?: (done: number) => void,
): Promise<number> {
  const batch = 1000;
  let bytes = 0;
  for (let start = from; start < to; start += batch) {
    const items = [];
    for (let i = start; i < Math.min(to, start + batch); i++) {
      const value = valueOf(i, 0);
      bytes += value.length;
      items.push({ key: keyOf(i), value, flags: flagsOf(i), ttl: ttlOf(i) });
    }
    await client.setMulti(items);
    onBatch?.(Math.min(to, start + batch) - from);
  }
  return bytes;
}

export interface VerifyResult {
  checked: number;
  misses: number;
  wrongValue: number;
  wrongFlags: number;
  examples: string[];
}

/** Reads every key the ledger knows and compares value and flags. */
export async function verify(client: AstaireClient, ledger: Ledger): Promise<VerifyResult> {
  const result: VerifyResult = { checked: 0, misses: 0, wrongValue: 0, wrongFlags: 0, examples: [] };
  const batch = 1000;
  for (let start = 0; start < ledger.count; start += batch) {
    const indices = Array.from({ length: Math.min(batch, ledger.count - start) }, (_, k) => start + k);
    const items = await client.getMulti(indices.map(keyOf));
    indices.forEach((index, k) => {
      result.checked++;
      const item = items[k];
      const problem = !item
        ? (result.misses++, 'missing')
        : !item.value.equals(valueOf(index, ledger.version(index)))
          ? (result.wrongValue++, 'wrong value')
          : item.flags !== flagsOf(index)
            ? (result.wrongFlags++, 'wrong flags')
            : undefined;
      if (problem && result.examples.length < 5) result.examples.push(`${keyOf(index)}: ${problem}`);
    });
  }
  return result;
}
