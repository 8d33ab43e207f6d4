import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { beginMigration, emptyTopology, serializeTopology } from '../../../core';
import { readNodeState, writeMarker } from '../../../agent/marker';
import { createLocalResyncTask, type LocalAgentTask } from '../../../local/agent-runner';
import { agentScript } from '../../../local/runtime';
import { MemcachedCluster } from '../../support/memcached';
import { tempDir } from '../../support/temp-dirs';

// The SSM task's local stand-in under local/asl: the agent's progress lines are its heartbeats
// (HeartbeatSeconds is enforced), and a task that ends (timeout, a failed sibling) stops the agent.
jest.setTimeout(60_000);
const ITEMS = 20_000;
let cluster: MemcachedCluster;
let topologyFile: string;

/** Writes `count` items to a memcached, pipelined on one connection (bounded: count items, 20 s). */
async function fill(address: string, count: number): Promise<void> {
  const [host, port] = address.split(':') as [string, string];
  const socket = connect(Number(port), host);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('fill timed out')), 20_000);
    let stored = 0;
    let buffer = '';
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\r\n');
      buffer = lines.pop()!;
      stored += lines.filter((l) => l === 'STORED').length;
      if (stored === count) {
        clearTimeout(timer);
        resolve();
      }
    });
    let batch = '';
    for (let i = 0; i < count; i++) batch += `set key-${i} 0 0 5\r\nvalue\r\n`;
    socket.write(batch);
  });
  socket.end();
}

beforeAll(async () => {
  cluster = await MemcachedCluster.start(2);
  const [first, second] = cluster.nodes.map((n, i) => ({
    id: `i-0000000000000000${i + 1}`,
    address: n.address,
  }));
  const base = { ...emptyTopology('local', { vbuckets: 64, replicas: 1 }), servers: [first!] };
  const migrating = beginMigration(base, [first!, second!], {
    executionId: 'arn:aws:states:local:000000000000:execution:astaire-local:agent-runner',
    startedAt: new Date().toISOString(),
  });
  topologyFile = join(tempDir('astaire-agent-runner-'), 'topology.json');
  writeFileSync(topologyFile, serializeTopology(migrating));
  await fill(first!.address, ITEMS);
  // The source must prove itself a complete replica (as after its own resync) or the agent refuses it.
  const state = await readNodeState(first!.address);
  expect(await writeMarker(first!.address, state.identity, { cluster: 'local', node: first!.id })).toBe(true);
});
afterAll(() => cluster?.stop());

const run = (task: LocalAgentTask, onProgress: () => void) =>
  createLocalResyncTask({
    agentScript: agentScript(),
    topologyFile: () => topologyFile,
    addressOf: () => cluster.nodes[1]!.address,
    progressIntervalMs: 1,
    onProgress,
  })(
    {
      InstanceIds: ['i-00000000000000002'],
      Parameters: { cluster: ['local'], node: ['i-00000000000000002'], epoch: ['1'], mode: ['resync'] },
    },
    task,
  );

describe('the local SSM task (createLocalResyncTask) under local/asl', () => {
  test('given a node that pulls items, when its agent reports progress, then every progress line is a heartbeat of its task', async () => {
    let beats = 0;
    let progress = 0;
    const report = await run({ heartbeat: () => beats++ }, () => progress++);
    expect(report.status).toBe('succeeded');
    expect(progress).toBeGreaterThan(1);
    // Every progress line of the agent beats; the last progress shown is the report's counters (no beat).
    expect(beats).toBe(progress - 1);
  });

  test('given a task whose signal aborts (timeout, failed sibling), when its agent runs, then the agent is stopped and the task fails', async () => {
    const controller = new AbortController();
    const running = run({ signal: controller.signal }, () => undefined);
    controller.abort();
    await expect(running).rejects.toMatchObject({
      name: 'ResyncFailed',
      message: expect.stringContaining('SIGTERM'),
    });
  });
});
