import { rmSync } from 'node:fs';
import { synthesizeWorkflowDefinition } from '../../cdk/definition';
import { AstaireClient, FileTopologySource } from '../../client';
import { placementOf, Topology, vbucketOf, zoneSpread } from '../../core';
import { keyOf } from '../../local/dataset';
import { LocalRuntime } from '../../local/runtime';
import { load } from '../../local/traffic';
import { readAll } from '../integration/agent/support';
import { tempDir } from '../support/temp-dirs';

// Zones in local mode, with real memcached nodes, real agents and the synthesized workflow: nodes are
// spread over the zones given, and every vbucket's replicas stay in distinct zones through scale-out
// and scale-in, with every loaded key on each of its replicas.
jest.setTimeout(240_000);

const ITEMS = 6000;
const VBUCKETS = 1024;

describe('a local cluster in 3 zones', () => {
  let runtime: LocalRuntime;
  let client: AstaireClient;
  const stateDir = tempDir('astaire-e2e-zones-');

  beforeAll(async () => {
    runtime = await LocalRuntime.create({
      stateDir,
      definition: synthesizeWorkflowDefinition({ clusterName: 'local' }),
      vbuckets: VBUCKETS,
      memoryMb: 64,
      waitMs: 50,
      zones: ['a', 'b', 'c'],
    });
    expect((await runtime.bootstrap(4)).status).toBe('SUCCEEDED');
    client = await AstaireClient.open({
      source: new FileTopologySource(runtime.topologyFile),
      pollIntervalMs: 100,
    });
    await load(client, 0, ITEMS);
  });

  afterAll(async () => {
    await client?.close();
    await runtime?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  /** Keys missing from a replica the topology's placement gives them. */
  async function missing(topology: Topology): Promise<number> {
    const placement = placementOf(topology);
    let absent = 0;
    for (const server of topology.servers) {
      const keys = [...Array(ITEMS).keys()]
        .map(keyOf)
        .filter((k) => placement.replicasOf(vbucketOf(k, VBUCKETS)).includes(server.id));
      const got = await readAll(
        server.address,
        keys.map((k) => Buffer.from(k)),
      );
      absent += got.filter((g) => !g).length;
    }
    return absent;
  }

  async function check(members: number): Promise<void> {
    const topology = await runtime.readTopology();
    expect(topology.servers).toHaveLength(members);
    expect(topology.servers.every((s) => ['a', 'b', 'c'].includes(s.zone!))).toBe(true);
    expect(new Set(topology.servers.map((s) => s.zone)).size).toBe(3);
    expect(zoneSpread(placementOf(topology), topology.servers).vbucketsSharingAZone).toBe(0);
    expect(await missing(topology)).toBe(0);
  }

  it('given 4 nodes started over zones a, b, c, then the zones are recorded and replicas are in distinct zones', async () => {
    expect(runtime.group.snapshot().zones).toEqual(['a', 'b', 'c']);
    expect(runtime.group.snapshot().instances.map((i) => i.zone)).toEqual(['a', 'b', 'c', 'a']);
    await check(4);
  });

  it('given one more node, when it launches, then it goes to the least populated zone and the rule holds', async () => {
    const [event] = await runtime.group.launch(1);
    expect((await runtime.execute(event)).status).toBe('SUCCEEDED');
    expect(runtime.group.snapshot().instances.at(-1)!.zone).toBe('b');
    await check(5);
  });

  it('given a node of zone a, when it terminates, then the rule still holds and no key is lost', async () => {
    const victim = runtime.group.snapshot().instances.find((i) => i.zone === 'a')!;
    const [event] = runtime.group.terminate([victim.id]);
    expect((await runtime.execute(event)).status).toBe('SUCCEEDED');
    await check(4);
  });
});
