import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { AstaireClient, ClusterTopologySource, FileTopologySource } from '../../client';
import { synthesizeWorkflowDefinition } from '../../cdk/definition';
import { LocalRuntime } from '../../local/runtime';
import { tempDir } from '../support/temp-dirs';

// Issue 15: migrations wait for every live client. The workflow publishes the migration's topology on
// the nodes and starts the agents only when every client that acknowledges on them uses it. Real
// memcached nodes, real agents, the synthesized state machine run locally.
jest.setTimeout(240_000);
const KEYS = 1500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An application process: a client at its defaults except a long acknowledgement TTL (so that, frozen,
 * it stays "live" for the whole test), writing every key `frozen:i` to `r<round>` when told `W <round>`.
 */
const CHILD = `
const { AstaireClient, ClusterTopologySource, FileTopologySource } = require(${JSON.stringify(resolve(__dirname, '..', '..', 'dist', 'client'))});
(async () => {
  const source = new ClusterTopologySource({ bootstrap: new FileTopologySource(process.argv[1]), clientId: 'frozen-app', ackTtlSeconds: 120, leaseMs: 2000 });
  const client = await AstaireClient.open({ source });
  console.log('ready');
  for await (const line of require('node:readline').createInterface({ input: process.stdin })) {
    const round = line.split(' ')[1];
    try {
      for (let i = 0; i < ${KEYS}; i += 100)
        await Promise.all(Array.from({ length: 100 }, (_, j) => client.set('frozen:' + (i + j), 'r' + round)));
      console.log('ok ' + round);
    } catch (e) { console.log('err ' + e.message); }
  }
  await client.close();
})();
`;

describe('AwaitClients (local mode, real memcached)', () => {
  const stateDir = tempDir('astaire-await-clients-');
  let runtime: LocalRuntime;
  let child: ChildProcessWithoutNullStreams | undefined;
  let lines: AsyncIterator<string>;

  beforeAll(async () => {
    runtime = await LocalRuntime.create({
      stateDir,
      definition: synthesizeWorkflowDefinition({ clusterName: 'local' }),
      memoryMb: 64,
      vbuckets: 1024,
      awaitClientsTimeoutMs: 15_000,
    });
    expect((await runtime.bootstrap(3)).status).toBe('SUCCEEDED');
  });

  afterAll(async () => {
    if (child?.pid && child.exitCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGTERM');
    }
    await runtime?.stop();
  });

  const next = async (): Promise<string> => (await lines.next()).value as string;
  const write = async (round: number): Promise<void> => {
    child!.stdin.write(`W ${round}\n`);
    expect(await next()).toBe(`ok ${round}`);
  };
  /** Keys whose value is not `r<round>` (the child's last write), read through a fresh client. */
  const stale = async (round: number): Promise<number> => {
    const reader = await AstaireClient.open({
      source: new FileTopologySource(runtime.topologyFile),
      pollIntervalMs: 0,
    });
    try {
      const keys = Array.from({ length: KEYS }, (_, i) => `frozen:${i}`);
      const items = await reader.getMulti(keys);
      return items.filter((item) => item?.value.toString() !== `r${round}`).length;
    } finally {
      await reader.close();
    }
  };

  it('given a client frozen (SIGSTOP) during a 3 -> 4, then the workflow times out naming it and rolls back with nothing lost; resumed, the retry succeeds with 0 stale values', async () => {
    child = spawn(process.execPath, ['-e', CHILD, runtime.topologyFile], { stdio: ['pipe', 'pipe', 'pipe'] });
    lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    expect(await next()).toBe('ready');
    await write(1);
    child.kill('SIGSTOP');

    const [launch] = await runtime.group.launch(1);
    const frozen = await runtime.execute(launch);
    expect(frozen.status).toBe('FAILED');
    expect(frozen.error).toMatch(
      /ClientsNotSwitched: 1 client\(s\) did not switch to epoch \d+ .*frozen-app/,
    );
    expect(frozen.reports).toEqual([]); // no agent started
    const restored = await runtime.readTopology();
    expect([restored.servers.length, restored.newServers]).toEqual([3, undefined]);
    expect(await stale(1)).toBe(0);

    // Resumed: its lease ran out while frozen, so it polls before writing, and acknowledges.
    child.kill('SIGCONT');
    await write(2);
    const [relaunch] = await runtime.group.launch(1);
    const retry = runtime.execute(relaunch);
    let round = 2;
    let done = false;
    void retry.then(() => (done = true));
    for (const until = Date.now() + 120_000; !done && Date.now() < until && round < 500;)
      await write(++round);
    const outcome = await retry;
    expect([outcome.status, outcome.error]).toEqual(['SUCCEEDED', undefined]);
    expect(round).toBeGreaterThan(2);
    expect((await runtime.readTopology()).servers).toHaveLength(4);
    expect(await stale(round)).toBe(0);
  });

  it('given a client that polls only every 8 s, writing and deleting during a scale-out by one, then the agents wait for it and no value is stale', async () => {
    const source = new ClusterTopologySource({
      bootstrap: new FileTopologySource(runtime.topologyFile),
      leaseMs: 9000,
    });
    const client = await AstaireClient.open({ source, pollIntervalMs: 8000 });
    const last = new Map<string, string | null>();
    const key = (i: number) => `slow:${i}`;
    const members = (await runtime.readTopology()).servers.length;
    try {
      for (let i = 0; i < KEYS; i++) {
        await client.set(key(i), 'v0');
        last.set(key(i), 'v0');
      }
      await sleep(100);
      const [launch] = await runtime.group.launch(1);
      const run = runtime.execute(launch);
      let done = false;
      void run.then(() => (done = true));
      for (let round = 1, until = Date.now() + 120_000; !done && Date.now() < until; round++)
        for (let i = 0; i < KEYS; i += 100)
          await Promise.all(
            Array.from({ length: 100 }, async (_, j) => {
              const k = key(i + j);
              if ((round + i + j) % 3 === 0) {
                await client.delete(k);
                last.set(k, null);
              } else {
                await client.set(k, `v${round}`);
                last.set(k, `v${round}`);
              }
            }),
          );
      const outcome = await run;
      expect([outcome.status, outcome.error]).toEqual(['SUCCEEDED', undefined]);
    } finally {
      await client.close();
    }
    const reader = await AstaireClient.open({
      source: new FileTopologySource(runtime.topologyFile),
      pollIntervalMs: 0,
    });
    let staleValues = 0;
    let resurrected = 0;
    try {
      expect(reader.topology.servers).toHaveLength(members + 1);
      for (const [k, want] of last) {
        const got = await reader.get(k);
        if (want === null && got) resurrected++;
        else if (want !== null && got?.value.toString() !== want) staleValues++;
      }
    } finally {
      await reader.close();
    }
    expect({ staleValues, resurrected }).toEqual({ staleValues: 0, resurrected: 0 });
  });
});
