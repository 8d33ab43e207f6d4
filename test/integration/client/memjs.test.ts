import * as memjs from 'memjs';
import { InMemoryTopologySource } from '../../../client';
import { FlushRefusedError } from '../../../client/errors';
import { Client } from '../../../client/memjs';
import { MemcachedCluster } from '../../support/memcached';
import { metaRaw } from './support';

// The same application code against real memjs on one memcached and against astaire-aws/memjs on
// a cluster of three: every result an application sees must be the same.

type Log = unknown[];

/** Callback form to a promise of the callback's arguments after `err`. */
function viaCallback(start: (done: (err: Error | null, ...results: unknown[]) => void) => void) {
  return new Promise<unknown[]>((resolve) =>
    start((err, ...results) => resolve(err ? ['error'] : results.map(show))),
  );
}

function show(value: unknown): unknown {
  return Buffer.isBuffer(value) ? `buffer:${value.toString('hex')}` : value;
}

async function scenario(c: Client, prefix: string): Promise<Log> {
  const k = (name: string) => `${prefix}${name}`;
  const log: Log = [];
  const got = async (name: string) => {
    const { value, flags } = await c.get(k(name));
    return { value: show(value), flags: show(flags) };
  };
  log.push(['get missing', await got('a')]);
  log.push(['set', await c.set(k('a'), 'one')]);
  log.push(['get', await got('a')]);
  log.push(['add existing', await c.add(k('a'), 'x')]);
  log.push(['add new', await c.add(k('b'), Buffer.from([0, 1, 2, 255]), { expires: 300 })]);
  log.push(['get binary', await got('b')]);
  log.push(['replace missing', await c.replace(k('c'), 'x')]);
  log.push(['replace', await c.replace(k('a'), 'uno', { expires: 300 })]);
  log.push(['get replaced', await got('a')]);
  log.push(['delete', await c.delete(k('b'))]);
  log.push(['delete again', await c.delete(k('b'))]);
  log.push(['get deleted', await got('b')]);
  log.push(['touch', await c.touch(k('a'), 100)]);
  log.push(['touch missing', await c.touch(k('zz'), 100)]);
  // memjs 1.3.2 throws on a promise-form decrement without options: the scenario always passes some.
  log.push(['increment missing with initial', await c.increment(k('n'), 5, { initial: 10 })]);
  log.push(['increment', await c.increment(k('n'), 5, {})]);
  log.push(['decrement below zero', await c.decrement(k('n'), 20, {})]);
  log.push(['increment from zero', await c.increment(k('n'), 7, {})]);
  log.push(['increment a string', await c.increment(k('a'), 1, {}).catch(() => 'error')]);
  log.push(['set expiring', await c.set(k('e'), 'short', { expires: 1 })]);
  log.push(['get callback', await viaCallback((done) => c.get(k('a'), done))]);
  log.push(['set callback', await viaCallback((done) => c.set(k('f'), 'cb', { expires: 60 }, done))]);
  log.push(['add callback', await viaCallback((done) => c.add(k('f'), 'cb', done))]);
  log.push(['delete callback', await viaCallback((done) => c.delete(k('f'), done))]);
  log.push(['touch callback', await viaCallback((done) => c.touch(k('a'), 50, done))]);
  log.push(['increment callback', await viaCallback((done) => c.increment(k('n'), 3, done))]);
  log.push(['decrement callback', await viaCallback((done) => c.decrement(k('n'), 1, {}, done))]);
  // memcached's clock ticks once a second: 2.1 s after a 1 s expiry the item is gone.
  await new Promise((r) => setTimeout(r, 2100));
  log.push(['get expired', await got('e')]);
  return log;
}

describe('astaire-aws/memjs against real memjs', () => {
  let single: MemcachedCluster;
  let cluster: MemcachedCluster;
  let reference: memjs.Client;
  let dropIn: Client;

  beforeAll(async () => {
    [single, cluster] = await Promise.all([MemcachedCluster.start(1), MemcachedCluster.start(3)]);
    reference = memjs.Client.create(single.nodes[0].address, { logger: { log: () => undefined } });
    dropIn = Client.create(undefined, {
      source: new InMemoryTopologySource({
        cluster: 'memjs',
        epoch: 1,
        vbuckets: 1024,
        replicas: 2,
        servers: cluster.servers(),
      } as never),
      pollIntervalMs: 0,
    });
  });
  afterAll(async () => {
    reference?.close();
    dropIn?.close();
    await Promise.all([single?.stop(), cluster?.stop()]);
  });

  test('given the same application calls, when run on memjs and on the drop-in, then every result is the same', async () => {
    const [expected, actual] = await Promise.all([
      scenario(reference as unknown as Client, 'ref:'),
      scenario(dropIn, 'ref:'),
    ]);
    expect(actual).toEqual(expected);
    // Not vacuous: memjs itself saw hits, misses and counters.
    expect(expected).toContainEqual(['get replaced', { value: 'buffer:756e6f', flags: 'buffer:00000000' }]);
    expect(expected).toContainEqual(['increment', { success: true, value: 15 }]);
  }, 30_000);

  test('given the drop-in, when it writes, then the item is on its two replicas of the three nodes', async () => {
    await dropIn.set('spread', 'everywhere');
    const holders = await Promise.all(cluster.nodes.map((n) => metaRaw(n.address, 'mg spread v\r\n')));
    expect(holders.filter((r) => r.toString().startsWith('VA ')).length).toBe(2);
  });

  test('given flush, when called, then the drop-in refuses it with a clear error and the data stays', async () => {
    await dropIn.set('kept', 'yes');
    await expect(dropIn.flush()).rejects.toThrow(FlushRefusedError);
    const [err] = await new Promise<[Error | null]>((resolve) => dropIn.flush((e) => resolve([e])));
    expect(err?.message).toMatch(/flush is refused: it would empty every node of the cluster/);
    expect((await dropIn.get('kept')).value?.toString()).toBe('yes');
  });
});
