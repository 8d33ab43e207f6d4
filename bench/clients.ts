import { Socket } from 'node:net';
import { ClusterTopologySource } from '../client';
import { ClusterAdmin } from '../client/cluster-admin';
import { parseAddress, Topology } from '../core';
import { MemcachedProcess } from '../local/memcached-process';

/** memcached's `stats` counters of one node. */
function stats(address: string): Promise<Map<string, number>> {
  const { host, port } = parseAddress(address)!;
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`stats from ${address}: no answer in 2 s`));
    }, 2000);
    socket.once('error', reject);
    socket.connect(port, host, () => socket.write('stats\r\n'));
    socket.on('data', (d: Buffer) => {
      text += d.toString();
      if (!text.endsWith('END\r\n')) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(
        new Map(
          text
            .split('\r\n')
            .filter((l) => l.startsWith('STAT '))
            .map((l) => l.split(' '))
            .map(([, k, v]) => [k!, Number(v)] as [string, number]),
        ),
      );
    });
  });
}

const requests = (s: Map<string, number>) =>
  (s.get('cmd_get') ?? 0) + (s.get('cmd_set') ?? 0) + (s.get('cmd_touch') ?? 0);

/**
 * `npm run bench -- clients`: CLIENTS simulated clients (each its own ClusterTopologySource and sockets,
 * as separate processes would have) poll NODES memcached nodes on loopback every second for SECONDS
 * seconds; prints the requests per second each node serves for topology and acknowledgements, and how
 * long after a publish every client has acknowledged the new epoch. Bounded: CLIENTS x SECONDS polls.
 */
export async function runClientsBench(clients = 1000, nodeCount = 4, seconds = 10): Promise<void> {
  const nodes = await Promise.all(
    Array.from({ length: nodeCount }, () => MemcachedProcess.start({ memoryMb: 64 })),
  );
  const admin = new ClusterAdmin();
  const sources: ClusterTopologySource[] = [];
  try {
    let topology: Topology = {
      cluster: 'bench',
      epoch: 1,
      vbuckets: 16384,
      replicas: 2,
      servers: nodes.map((n, i) => ({ id: `i-${String(i).padStart(17, '0')}`, address: n.address })),
    };
    await admin.publish(topology);
    for (let i = 0; i < clients; i++)
      sources.push(
        new ClusterTopologySource({ seeds: [nodes[i % nodeCount]!.address], clientId: `bench-${i}` }),
      );
    const epochs = new Map<ClusterTopologySource, number>();
    for (let i = 0; i < clients; i += 100)
      await Promise.all(sources.slice(i, i + 100).map(async (s) => epochs.set(s, (await s.read()).epoch)));
    let stop = false;
    let polls = 0;
    let failures = 0;
    // Each client polls once a second, spread over the second (as independent processes would be).
    const loops = sources.map(async (s, i) => {
      await new Promise((r) => setTimeout(r, (i * 1000) / clients));
      while (!stop) {
        const started = Date.now();
        try {
          epochs.set(s, (await s.poll(epochs.get(s)!)).epoch);
          polls++;
        } catch {
          failures++;
        }
        await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - started))));
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    const before = await Promise.all(nodes.map((n) => stats(n.address)));
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, (seconds * 1000) / 2));
    const after = await Promise.all(nodes.map((n) => stats(n.address)));
    const window = (Date.now() - t0) / 1000;
    const perNode = after.map((s, i) => (requests(s) - requests(before[i]!)) / window);

    // A migration's publish: how long until the awaiter sees every client at the new epoch.
    topology = { ...topology, epoch: 2 };
    const published = Date.now();
    const awaited = await admin.awaitClients(topology, { timeoutMs: seconds * 1000, minWaitMs: 0 });
    const ackSeconds = (Date.now() - published) / 1000;
    stop = true;
    await Promise.all(loops);

    const mean = perNode.reduce((a, b) => a + b, 0) / nodeCount;
    const perClient = (mean * nodeCount) / clients;
    console.log(
      `clients: ${clients} simulated clients polling ${nodeCount} memcached nodes every second on loopback (${polls} polls, ${failures} failed)`,
    );
    console.log(
      `clients: per node ${perNode.map((r) => r.toFixed(0)).join(', ')} requests/s (mean ${mean.toFixed(0)}; ${perClient.toFixed(2)} requests/s per client, one round trip a poll)`,
    );
    console.log(
      `clients: after a publish, all ${awaited.clients} clients acknowledged epoch ${topology.epoch} in ${ackSeconds.toFixed(2)} s`,
    );
    console.log(
      `clients: at that rate, 10,000 clients over 100 nodes cost each node about ${((perClient * 10_000) / 100).toFixed(0)} requests/s`,
    );
  } finally {
    await Promise.allSettled(sources.map((s) => s.close()));
    await admin.close();
    await Promise.all(nodes.map((n) => n.stop()));
  }
}
