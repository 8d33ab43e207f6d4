import { MemcachedConnection } from '../../../agent/connection';
import { ConnectionTimeoutError } from '../../../agent/errors';
import { MemcachedCluster } from '../../support/memcached';

const IO_TIMEOUT_MS = 300;

describe('MemcachedConnection against a real memcached that stops answering', () => {
  jest.setTimeout(20000);
  let cluster: MemcachedCluster | undefined;
  afterEach(async () => {
    for (const n of cluster?.nodes ?? []) if (n.pid) process.kill(n.pid, 'SIGCONT');
    await cluster?.stop();
    cluster = undefined;
  });

  test('given the I/O timeout passed while we had paused reading, when we resume and the peer stays silent, then the connection fails within the timeout', async () => {
    cluster = await MemcachedCluster.start(1);
    const node = cluster.nodes[0];
    const conn = await MemcachedConnection.connect(node.address, { ioTimeoutMs: IO_TIMEOUT_MS });
    const failed = new Promise<Error>((resolve) => conn.onFail(resolve));
    conn.onData(() => undefined);
    // Paused by us (the copy does so while its local writes catch up): silence is ours, not a failure.
    conn.pause();
    process.kill(node.pid!, 'SIGSTOP');
    conn.write('mn\r\n');
    await new Promise((r) => setTimeout(r, 3 * IO_TIMEOUT_MS));
    expect(conn.failed).toBeUndefined();

    const resumedAt = Date.now();
    conn.resume();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      failed,
      new Promise<'still waiting'>((r) => (timer = setTimeout(() => r('still waiting'), 10 * IO_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    expect(outcome).toBeInstanceOf(ConnectionTimeoutError);
    expect(Date.now() - resumedAt).toBeLessThan(10 * IO_TIMEOUT_MS);
    conn.close();
  });
});
