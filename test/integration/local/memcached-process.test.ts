import { Socket } from 'node:net';
import {
  largePagesAvailable,
  memcachedBinary,
  MemcachedProcess,
  MemcachedUnavailableError,
} from '../../../local/memcached-process';
import { MemcachedCluster } from '../../support/memcached';

function roundTrip(address: string, request: string): Promise<string> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let reply = '';
    socket.setTimeout(2000, () => reject(new Error(`no answer from ${address}`)));
    socket.once('error', reject);
    socket.connect(Number(port), host, () => socket.write(request));
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      if (/(END|STORED|ERROR)\r\n$/.test(reply)) {
        socket.destroy();
        resolve(reply);
      }
    });
  });
}

describe('memcached test harness', () => {
  let cluster: MemcachedCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it('given the kernel THP setting, then -L is used only where memcached accepts it', () => {
    const reading = (text: string) => () => text;
    expect(largePagesAvailable('x', reading('always [madvise] never\n'))).toBe(true);
    expect(largePagesAvailable('x', reading('[always] madvise never\n'))).toBe(true);
    expect(largePagesAvailable('x', reading('always madvise [never]\n'))).toBe(false);
    expect(largePagesAvailable('/nonexistent/thp/enabled')).toBe(false);
  });

  it('given largePages, when started, then memcached runs (with -L where the kernel allows it) and stores values', async () => {
    const node = await MemcachedProcess.start({ memoryMb: 64, largePages: true });
    try {
      const settings = await roundTrip(node.address, 'stats settings\r\n');
      // memcached 1.6.18 has no setting that names -L; a preallocated cache has its slab pages up front.
      const slabs = await roundTrip(node.address, 'stats slabs\r\n');
      expect(settings).toContain('STAT maxbytes 67108864');
      if (largePagesAvailable()) expect(slabs).toMatch(/STAT \d+:total_pages 1\r\n/);
      expect(await roundTrip(node.address, 'set k 0 0 2\r\nhi\r\n')).toBe('STORED\r\n');
    } finally {
      await node.stop();
    }
  });

  it('given three nodes, when started, then each is a separate server that stores and returns values', async () => {
    cluster = await MemcachedCluster.start(3);
    const addresses = cluster.servers().map((s) => s.address);
    expect(new Set(addresses).size).toBe(3);
    for (const a of addresses) expect(a).toMatch(/^127\.0\.0\.1:\d+$/);
    await roundTrip(addresses[0], 'set k 5 0 2\r\nhi\r\n');
    expect(await roundTrip(addresses[0], 'get k\r\n')).toBe('VALUE k 5 2\r\nhi\r\nEND\r\n');
    expect(await roundTrip(addresses[1], 'get k\r\n')).toBe('END\r\n');
  });

  it('given a running node, when stopped, then its port refuses connections, and a restart comes back empty', async () => {
    cluster = await MemcachedCluster.start(1);
    const node = cluster.nodes[0];
    await roundTrip(node.address, 'set k 0 0 1\r\nx\r\n');
    await node.kill();
    expect(node.running).toBe(false);
    await expect(roundTrip(node.address, 'get k\r\n')).rejects.toThrow();
    await node.restart();
    expect(await roundTrip(node.address, 'get k\r\n')).toBe('END\r\n');
  });

  it('given no memcached on the search path, when starting, then it fails fast with the install instruction', async () => {
    const nowhere = ['/nonexistent-astaire-test'];
    expect(() => memcachedBinary(nowhere)).toThrow(MemcachedUnavailableError);
    await expect(MemcachedProcess.start({ searchPath: nowhere })).rejects.toThrow(
      /apt-get install -y memcached/,
    );
    expect(memcachedBinary()).toMatch(/\/memcached$/);
  });
});
