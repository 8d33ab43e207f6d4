import { rmSync } from 'node:fs';
import { isComplete, readNodeState } from '../../agent/marker';
import { synthesizeWorkflowDefinition } from '../../cdk/definition';
import { AstaireClient, FileTopologySource } from '../../client';
import { keyOf, flagsOf, ttlOf, valueOf } from '../../local/dataset';
import { HealWatcher } from '../../local/heal-watcher';
import { MemcachedProcess } from '../../local/memcached-process';
import { agentScript, LocalRuntime } from '../../local/runtime';
import { load } from '../../local/traffic';
import { placementOf, Topology, vbucketOf } from '../../core';
import { readAll } from '../integration/agent/support';
import { tempDir } from '../support/temp-dirs';

// A node whose memcached restarts empty while it is a member (no scaling event), in local mode with real
// memcached nodes, real agents and the synthesized workflow: it must never serve as a complete source, and
// the local runtime's heal watcher must refill it.
jest.setTimeout(240_000);

const ITEMS = 12_000;
const VBUCKETS = 1024;
/** The suite's operations that copy items (a scale-out, two heals, a scale-in, a scale-out): a chain at most this long. */
const COPYING_OPERATIONS = 5;

/**
 * Every problem with the loaded items on the replicas of the topology's placement (`servers`): a key
 * missing, or a value, flags or TTL that differ from what was loaded. `skip` names nodes not checked.
 */
async function problems(topology: Topology, skip: readonly string[] = []): Promise<string[]> {
  const placement = placementOf(topology);
  const out: string[] = [];
  const loadedAt = Date.now() / 1000;
  for (const server of topology.servers) {
    if (skip.includes(server.id)) continue;
    const indices = [...Array(ITEMS).keys()].filter((i) =>
      placement.replicasOf(vbucketOf(keyOf(i), topology.vbuckets)).includes(server.id),
    );
    const got = await readAll(
      server.address,
      indices.map((i) => Buffer.from(keyOf(i))),
    );
    indices.forEach((i, n) => {
      const g = got[n];
      const where = `${server.id} ${keyOf(i)}`;
      if (!g) return void out.push(`${where}: missing`);
      if (!g.value.equals(valueOf(i, 0))) out.push(`${where}: wrong value`);
      if (g.flags !== flagsOf(i)) out.push(`${where}: flags ${g.flags} vs ${flagsOf(i)}`);
      const ttl = ttlOf(i);
      // Loaded once at the start: the remaining TTL is the loaded one less the seconds since (generous slack),
      // and up to 1 s more than loaded (memcached's clock ticks once a second: it lags up to 1 s). Each copy
      // takes up to 2 s more off (1 s on purpose, so it never outlives its original, and up to 1 s of the two
      // clocks' phases), and an item can be copied once per operation of this suite that moves data.
      const lower = ttl - (loadedAt - started) - 5 - 2 * COPYING_OPERATIONS;
      if (ttl === 0 ? g.ttl !== -1 : !(g.ttl <= ttl + 1 && g.ttl >= lower))
        out.push(`${where}: ttl ${g.ttl} vs ${ttl}`);
    });
  }
  return out;
}
let started = 0;

describe('a member whose memcached restarted empty (local mode)', () => {
  let runtime: LocalRuntime;
  let client: AstaireClient;
  const restarted: MemcachedProcess[] = [];
  let watcher: HealWatcher | undefined;
  const stateDir = tempDir('astaire-e2e-restart-');

  beforeAll(async () => {
    runtime = await LocalRuntime.create({
      stateDir,
      definition: synthesizeWorkflowDefinition({ clusterName: 'local' }),
      vbuckets: VBUCKETS,
      memoryMb: 64,
      waitMs: 50,
    });
    const boot = await runtime.bootstrap(3);
    expect(boot.status).toBe('SUCCEEDED');
    client = await AstaireClient.open({
      source: new FileTopologySource(runtime.topologyFile),
      pollIntervalMs: 100,
    });
    started = Date.now() / 1000;
    await load(client, 0, ITEMS);
  });

  afterAll(async () => {
    await watcher?.stop();
    await client?.close();
    await runtime?.stop();
    await Promise.all(restarted.map((p) => p.stop()));
    rmSync(stateDir, { recursive: true, force: true });
  });

  /** SIGKILLs the memcached of `id` and starts an empty one on its address, as systemd would. */
  async function restartEmpty(id: string): Promise<void> {
    const instance = runtime.group.snapshot().instances.find((i) => i.id === id)!;
    process.kill(instance.pid!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    restarted.push(
      await MemcachedProcess.start({ host: instance.ip, port: runtime.group.port, memoryMb: 64 }),
    );
  }

  const inService = () => runtime.group.members().filter((m) => m.lifecycleState === 'InService');

  it('given the first members, when the cluster is bootstrapped, then each is marked a complete replica', async () => {
    const topology = await runtime.readTopology();
    for (const s of topology.servers)
      expect(isComplete(await readNodeState(s.address), topology.cluster, s.id)).toBe(true);
  });

  it('given a node restarted empty, when the cluster scales out before any heal, then no key is lost on the complete replicas and the restarted node is not marked', async () => {
    const [, second] = inService();
    await restartEmpty(second.id);
    const [event] = await runtime.group.launch(1);

    const outcome = await runtime.execute(event);

    expect(outcome.status).toBe('SUCCEEDED');
    const topology = await runtime.readTopology();
    expect(topology.servers).toHaveLength(4);
    expect(await problems(topology, [second.id])).toEqual([]);
    const state = await readNodeState(runtime.group.address(second.id));
    expect(isComplete(state, topology.cluster, second.id)).toBe(false);
  });

  /** Polls every member's marker until all are complete or 60 s passed; resolves with the seconds it took. */
  async function allComplete(): Promise<number> {
    const since = Date.now();
    const topology = await runtime.readTopology();
    while (Date.now() - since < 60_000) {
      const states = await Promise.all(
        topology.servers.map(async (s) => isComplete(await readNodeState(s.address), topology.cluster, s.id)),
      );
      if (states.every(Boolean)) return (Date.now() - since) / 1000;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error('some member is still not a complete replica after 60 s');
  }

  it('given the heal watcher, when it starts, then the node left unhealed is refilled with exact values, flags and TTLs', async () => {
    const healed: string[] = [];
    watcher = new HealWatcher({
      topologyFile: runtime.topologyFile,
      agentScript: agentScript(),
      intervalMs: 500,
      onHeal: (o) => healed.push(`${o.node}:${o.status}`),
    });
    watcher.start();

    const seconds = await allComplete();
    // The marker lands before the agent exits and the watcher hears of it: let that heal finish.
    await watcher.checkOnce();

    process.stdout.write(
      `heal of the node restarted earlier: ${seconds.toFixed(1)} s (${healed.join(', ')})\n`,
    );
    expect(healed).toEqual([expect.stringMatching(/:succeeded$/)]);
    expect(await problems(await runtime.readTopology())).toEqual([]);
  });

  it('given the heal watcher running, when a node restarts empty, then within 60 s it holds every item of its vbuckets again', async () => {
    const [, , third] = inService();
    await restartEmpty(third.id);

    const seconds = await allComplete();

    process.stdout.write(`heal after a restart: every member complete ${seconds.toFixed(1)} s later\n`);
    expect(await problems(await runtime.readTopology())).toEqual([]);
  });

  it('given a terminate event for an InService node (replayed or forged), when it runs, then nothing changes and no action completes', async () => {
    const before = await runtime.readTopology();
    const [victim] = inService();
    const forged = {
      version: '0',
      id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
      'detail-type': 'EC2 Instance-terminate Lifecycle Action',
      source: 'aws.autoscaling',
      account: '000000000000',
      time: new Date().toISOString(),
      region: 'local',
      resources: [],
      detail: {
        LifecycleActionToken: '87654321-4321-4321-4321-210987654321',
        AutoScalingGroupName: 'astaire-local',
        LifecycleHookName: 'astaire-terminate',
        EC2InstanceId: victim.id,
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      },
    };

    const outcome = await runtime.execute(forged);

    expect(outcome.status).toBe('SUCCEEDED');
    expect((outcome.output as { plan: { ignored?: string } }).plan.ignored).toMatch(
      /is InService, not Terminating:Wait/,
    );
    expect(await runtime.readTopology()).toEqual(before);
    expect(inService().map((m) => m.id)).toContain(victim.id);
    expect(await problems(before)).toEqual([]);
  });

  it('given the healed cluster, when it scales in and out again, then every key is on every replica', async () => {
    const [first] = inService();
    const [terminate] = runtime.group.terminate([first.id]);
    expect((await runtime.execute(terminate)).status).toBe('SUCCEEDED');
    expect(await problems(await runtime.readTopology())).toEqual([]);

    const [launch] = await runtime.group.launch(1);
    expect((await runtime.execute(launch)).status).toBe('SUCCEEDED');
    const topology = await runtime.readTopology();
    expect(topology.servers).toHaveLength(4);
    expect(await problems(topology)).toEqual([]);
  });
});
