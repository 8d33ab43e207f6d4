import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { Placement, Server, vbucketOf } from '../../../core';
import { MetaHandler, MetaResponseParser } from '../../../agent/meta-parser';

export interface Item {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly flags: number;
  /** Relative TTL in seconds; 0 = never expires. */
  readonly ttl: number;
}

/** A tiny deterministic PRNG so a failing run can be reproduced. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const THIRTY_DAYS = 2592000;

/**
 * `count` items: sizes skewed small (94% up to 1 KB, 5.8% up to 16 KB, 0.2% up to 500 KB)
 * plus a 0-byte and a near-1 MB one; flags over the whole 32 bits; TTLs none,
 * short, and above 30 days; keys with spaces, CR/LF, NUL, non-ASCII bytes.
 */
export function makeItems(count: number, seed = 1): Item[] {
  const r = rng(seed);
  const pool = randomBytes(600 * 1024);
  const items: Item[] = [];
  for (let i = 0; i < count; i++) {
    const p = r();
    const size =
      i === 0
        ? 0
        : i === 1
          ? 1000 * 1024
          : p < 0.94
            ? 1 + Math.floor(r() * 1000)
            : p < 0.998
              ? 1024 + Math.floor(r() * 15 * 1024)
              : 32 * 1024 + Math.floor(r() * 468 * 1024);
    const off = Math.floor(r() * (pool.length - Math.min(size, 500 * 1024)));
    const value = size > 500 * 1024 ? Buffer.alloc(size, i) : pool.subarray(off, off + size);
    const kind = i % 10;
    const key =
      kind === 0
        ? Buffer.concat([
            Buffer.from(`odd ${i} `),
            randomBytes(1 + (i % 7)),
            Buffer.from('\r\n\u00e9 \u6f22'),
          ])
        : Buffer.from(`k:${i}:${Math.floor(r() * 1e9)}`);
    const flags = i % 3 === 0 ? 0xffffffff - i : Math.floor(r() * 2 ** 32);
    const t = i % 4;
    const ttl = t === 0 ? 0 : t === 1 ? 300 + (i % 1000) : t === 2 ? THIRTY_DAYS + 86400 * (1 + (i % 30)) : 0;
    items.push({ key, value, flags, ttl });
  }
  return items;
}

/**
 * Pipelines commands on one socket and feeds the answers to a meta parser until
 * it reports `MN` (values may contain any bytes, so the end is found by parsing).
 */
export function pipeline(
  address: string,
  chunks: Buffer[],
  handler: Omit<MetaHandler, 'status'> & { status?: MetaHandler['status'] },
  timeoutMs = 30000,
): Promise<void> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const s = new Socket();
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`pipeline to ${address} timed out`));
    }, timeoutMs);
    const finish = (error?: Error) => {
      clearTimeout(timer);
      s.destroy();
      if (error) reject(error);
      else resolve();
    };
    const parser = new MetaResponseParser({
      value: handler.value,
      error: handler.error,
      status: (st) => {
        if (st === 'MN') finish();
        else handler.status?.(st);
      },
    });
    s.on('error', finish);
    s.on('data', (d: Buffer) => {
      try {
        parser.feed(d);
      } catch (e) {
        finish(e as Error);
      }
    });
    s.connect(Number(port), host, () => {
      for (const c of chunks) s.write(c);
      s.write('mn\r\n');
    });
  });
}

function absoluteTtl(ttl: number): number {
  return ttl > THIRTY_DAYS ? Math.floor(Date.now() / 1000) + ttl : ttl;
}

export function setCommand(item: Item, mode = ''): Buffer {
  return Buffer.concat([
    Buffer.from(
      `ms ${item.key.toString('base64')} ${item.value.length} b F${item.flags} T${absoluteTtl(item.ttl)}${mode} q\r\n`,
    ),
    item.value,
    Buffer.from('\r\n'),
  ]);
}

/**
 * Marks each server a complete replica of cluster `cluster`, as a finished resync or heal (or the first
 * commit of an empty cluster) leaves it: the key `astaire:complete` names the cluster and the node.
 * Written raw here, so tests state the wire contract rather than borrow the agent's code.
 */
export async function markComplete(servers: readonly Server[], cluster = 'itest'): Promise<void> {
  const fail = (what: unknown) => {
    throw new Error(`marking answered ${String(what)}`);
  };
  await Promise.all(
    servers.map((s) => {
      const value = Buffer.from(JSON.stringify({ cluster, node: s.id }));
      const cmd = Buffer.concat([
        Buffer.from(`ms astaire:complete ${value.length} T0 q\r\n`),
        value,
        Buffer.from('\r\n'),
      ]);
      return pipeline(s.address, [cmd], { value: fail, error: fail, status: fail });
    }),
  );
}

/**
 * Writes every item to each of its replicas under `servers`, as a client would, then marks every
 * server a complete replica of `cluster` (they hold everything: they were loaded from the start).
 */
export async function load(
  servers: readonly Server[],
  vbuckets: number,
  replicas: number,
  items: readonly Item[],
  cluster = 'itest',
): Promise<void> {
  const placement = new Placement(
    servers.map((s) => s.id),
    vbuckets,
    replicas,
  );
  const per = new Map<string, Buffer[]>(servers.map((s) => [s.id, []]));
  for (const item of items)
    for (const id of placement.replicasOf(vbucketOf(item.key, vbuckets))) per.get(id)!.push(setCommand(item));
  await Promise.all(
    servers.map(async (s) => {
      const fail = (what: string) => {
        throw new Error(`loading ${s.address} answered ${what}`);
      };
      await pipeline(s.address, per.get(s.id)!, { value: () => fail('a value'), error: fail, status: fail });
    }),
  );
  await markComplete(servers, cluster);
}

export interface Found {
  readonly value: Buffer;
  readonly flags: number;
  readonly ttl: number;
}

/** Reads `keys` from one server: undefined for a miss. */
export async function readAll(address: string, keys: readonly Buffer[]): Promise<(Found | undefined)[]> {
  const cmds = keys.map((k) => Buffer.from(`mg ${k.toString('base64')} b v f t\r\n`));
  const found: (Found | undefined)[] = [];
  await pipeline(address, cmds, {
    value: (data, flags, ttl) => found.push({ value: Buffer.from(data), flags, ttl }),
    status: (s) => {
      if (s === 'EN') found.push(undefined);
    },
    error: (line) => {
      throw new Error(line);
    },
  });
  if (found.length !== keys.length) throw new Error(`read ${found.length} answers for ${keys.length} keys`);
  return found;
}

/**
 * Every mismatch between `items` and what each of their replicas under `servers`
 * holds. Value and flags must equal what was written; a copied item's TTL must
 * be within `ttlSlackSec` of what the old primary replica (the agent's source
 * when none fails) reports now: the loader wrote the replicas seconds apart.
 */
export async function mismatches(
  servers: readonly Server[],
  oldServers: readonly Server[],
  vbuckets: number,
  replicas: number,
  items: readonly Item[],
  ttlSlackSec = 2,
): Promise<string[]> {
  const placement = new Placement(
    servers.map((s) => s.id),
    vbuckets,
    replicas,
  );
  const oldPlacement = new Placement(
    oldServers.map((s) => s.id),
    vbuckets,
    replicas,
  );
  const per = new Map<string, Item[]>(servers.map((s) => [s.id, []]));
  const reference = new Map<string, Item[]>(oldServers.map((s) => [s.id, []]));
  for (const item of items) {
    const vb = vbucketOf(item.key, vbuckets);
    for (const id of placement.replicasOf(vb)) per.get(id)!.push(item);
    reference.get(oldPlacement.replicasOf(vb)[0])!.push(item);
  }
  const sourceTtl = new Map<Item, number>();
  // The TTLs are read from the sources first, then from the targets: on a loaded box that takes
  // seconds, and every second between the two reads is a second of TTL difference.
  const readsStarted = Date.now();
  for (const s of oldServers) {
    const expected = reference.get(s.id)!;
    const got = await readAll(
      s.address,
      expected.map((i) => i.key),
    );
    expected.forEach((item, n) => sourceTtl.set(item, got[n]?.ttl ?? NaN));
  }
  const problems: string[] = [];
  const got = new Map<string, (Found | undefined)[]>();
  for (const s of servers)
    got.set(
      s.id,
      await readAll(
        s.address,
        per.get(s.id)!.map((i) => i.key),
      ),
    );
  const slack = ttlSlackSec + Math.ceil((Date.now() - readsStarted) / 1000);
  for (const s of servers) {
    const expected = per.get(s.id)!;
    const values = got.get(s.id)!;
    expected.forEach((item, n) => {
      const g = values[n];
      const name = `${s.id} key ${JSON.stringify(item.key.toString('latin1'))}`;
      if (!g) return void problems.push(`${name}: missing`);
      if (!g.value.equals(item.value))
        problems.push(`${name}: value differs (${g.value.length} vs ${item.value.length} bytes)`);
      if (g.flags !== item.flags) problems.push(`${name}: flags ${g.flags} vs ${item.flags}`);
      // A replica that was an old one kept its own copy; a copied item must match the replica it came from.
      const copied = !oldPlacement.replicasOf(vbucketOf(item.key, vbuckets)).includes(s.id);
      const want = copied ? (sourceTtl.get(item) as number) : item.ttl === 0 ? -1 : g.ttl;
      if (item.ttl === 0 ? g.ttl !== -1 : !(Math.abs(g.ttl - want) <= slack))
        problems.push(`${name}: ttl ${g.ttl} vs ${want} on the old replica`);
    });
  }
  return problems;
}

export function totalBytes(items: readonly Item[]): number {
  return items.reduce((n, i) => n + i.value.length, 0);
}
