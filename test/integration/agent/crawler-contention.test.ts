import { Socket } from 'node:net';
import { Server, Topology, parseTopology, planMigration, vbucketOf } from '../../../core';
import { runResync } from '../../../agent';
import { MemcachedCluster } from '../../support/memcached';
import { load, readAll } from './support';

const VBUCKETS = 1024;
const REPLICAS = 2;
const MEMCACHED = { memoryMb: 128, threads: 2 };

function topology(servers: Server[], newServers: Server[]): Topology {
  return parseTopology(
    { cluster: 'itest', epoch: 3, vbuckets: VBUCKETS, replicas: REPLICAS, servers, newServers },
    'test',
  );
}

/**
 * What a second agent does to a source while ours crawls it: asks for `lru_crawler metadump all`,
 * reads the answer to its end (BUSY, or a whole dump), and asks again soon after BUSY, later after a
 * dump, on `connections` sockets at once.
 * Bounded by `stop()`, `maxRequests` and `maxMs`. Resolves with how many requests got an answer.
 */
async function rivalCrawls(
  address: string,
  stop: () => boolean,
  connections: number,
  maxRequests: number,
  maxMs: number,
): Promise<{ answered: number; stuck: number }> {
  const [host, port] = address.split(':');
  const deadline = Date.now() + maxMs;
  let answered = 0;
  let stuck = 0;
  let requests = 0;
  let crawled = false;
  const one = () =>
    new Promise<void>((resolve) => {
      const s = new Socket();
      let tail = '';
      // A request the source never answers is what this test is about: give up on it after 5 s.
      const timer = setTimeout(() => {
        stuck++;
        s.destroy();
        resolve();
      }, 5000);
      const done = () => {
        clearTimeout(timer);
        s.destroy();
        resolve();
      };
      s.on('error', done);
      s.on('data', (d: Buffer) => {
        tail = (tail + d.toString('latin1')).slice(-64);
        const end = /(^|\n)(END|BUSY[^\n]*|ERROR[^\n]*)\r\n$/.exec(tail);
        if (end) {
          answered++;
          crawled = end[2] === 'END';
          done();
        }
      });
      s.connect(Number(port), host, () => s.write('lru_crawler metadump all\r\n'));
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (!stop() && requests < maxRequests && Date.now() < deadline) {
        requests++;
        crawled = false;
        await one();
        // Like an agent: after a whole dump, work on it for a while; after BUSY, ask again soon.
        await new Promise((r) => setTimeout(r, crawled ? 500 : 20));
      }
    }),
  );
  return { answered, stuck };
}

describe('astaire-agent resync while other agents crawl the same sources', () => {
  jest.setTimeout(90000);
  let cluster: MemcachedCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  // memcached 1.6.18: while the crawler waits on a dump client that stopped reading, a second
  // `lru_crawler metadump` blocks the worker thread that received it (no BUSY), and with it every
  // connection on that thread. An agent that paused its own dump for backpressure while waiting for
  // answers on such a thread deadlocked until a timeout named the source failed.
  it('when rivals keep asking for crawls, then the resync neither stalls nor loses a source', async () => {
    // Many small items: each source's dump (~13 MB) is far more than the loopback socket buffers hold.
    const value = Buffer.alloc(10, 0x76);
    const items = Array.from({ length: 200000 }, (_, i) => ({
      key: Buffer.from(`rival:${i}`),
      value,
      flags: i,
      ttl: 0,
    }));
    cluster = await MemcachedCluster.start(3, MEMCACHED);
    const old = cluster.servers();
    const t0 = Date.now();
    await load(old, VBUCKETS, REPLICAS, items);
    process.stdout.write(`loaded in ${Date.now() - t0} ms\n`);
    await cluster.add(1, MEMCACHED);
    const t = topology(old, cluster.servers());
    const pull = planMigration(t).pulls[0];

    // Bounded: 1 connection per source, at most 3000 requests each, 40 s, or until the resync ends.
    let stop = false;
    const rivals = old.map((s) => rivalCrawls(s.address, () => stop, 1, 3000, 40000));
    const report = await runResync({
      topology: t,
      node: pull.node,
      local: pull.address,
      // Small windows and a throttle: the enumeration runs far ahead of the copy, as on a loaded node.
      windows: { inflightGets: 50 },
      maxBytesPerSec: 600 * 1024,
      ioTimeoutMs: 3000,
      progressIntervalMs: 1000,
      log: (line) => process.stdout.write(`agent: ${line}\n`),
    });
    stop = true;
    process.stdout.write(
      `contention test: resync ${report.seconds} s, passes ${JSON.stringify(report.passes)}\n`,
    );
    const rivalResults = await Promise.all(rivals);

    expect(report).toMatchObject({ status: 'succeeded' });
    expect(report.failedSources).toBeUndefined();
    // The rivals were really there, and the sources kept answering them.
    expect(rivalResults.reduce((n, r) => n + r.answered, 0)).toBeGreaterThanOrEqual(3);
    expect(rivalResults.map((r) => r.stuck)).toEqual([0, 0, 0]);
    const wanted = new Set(pull.vbuckets.map((v) => v.vbucket));
    const gained = items.filter((i) => wanted.has(vbucketOf(i.key, VBUCKETS)));
    const got = await readAll(
      pull.address,
      gained.map((i) => i.key),
    );
    expect(got.filter((g) => g === undefined).length).toBe(0);
  });
});
