import { AstaireClient, InMemoryTopologySource } from '../client';
import { MemcachedProcess } from '../local/memcached-process';

/**
 * Rough loopback throughput of AstaireClient: N items of SIZE bytes set (to 2 replicas
 * of 3 servers) in windows of WINDOW concurrent requests, then read back with getMulti.
 * `node dist/bench/client.js [N] [SIZE] [WINDOW]`
 */
export async function runClientBench(count = 200_000, size = 100, window = 5000): Promise<void> {
  const nodes = await Promise.all([1, 2, 3].map(() => MemcachedProcess.start({ memoryMb: 256 })));
  const source = new InMemoryTopologySource({
    cluster: 'bench',
    epoch: 1,
    replicas: 2,
    servers: nodes.map((n, i) => ({ id: `node-${i + 1}`, address: n.address })),
  });
  const client = await AstaireClient.open({ source, pollIntervalMs: 0 });
  try {
    const value = Buffer.alloc(size, 'x');
    const keys = Array.from({ length: count }, (_, i) => `bench:${i}`);
    let start = process.hrtime.bigint();
    for (let i = 0; i < count; i += window)
      await client.setMulti(keys.slice(i, i + window).map((key) => ({ key, value, flags: 7 })));
    let ms = Number(process.hrtime.bigint() - start) / 1e6;
    console.log(
      `set      ${count} x ${size} B: ${ms.toFixed(0)} ms, ${Math.round((count / ms) * 1000)} keys/s (2 replicas each)`,
    );
    start = process.hrtime.bigint();
    let hits = 0;
    for (let i = 0; i < count; i += window)
      for (const item of await client.getMulti(keys.slice(i, i + window))) if (item) hits++;
    ms = Number(process.hrtime.bigint() - start) / 1e6;
    console.log(
      `getMulti ${count} keys: ${ms.toFixed(0)} ms, ${Math.round((count / ms) * 1000)} keys/s, ${hits} hits`,
    );
  } finally {
    await client.close();
    await Promise.all(nodes.map((n) => n.stop()));
  }
}

if (require.main === module) {
  const [n, size, window] = process.argv.slice(2).map(Number);
  runClientBench(n || undefined, size || undefined, window || undefined).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
