import {
  DeleteParametersCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import {
  encodePlacementMap,
  MAX_TOPOLOGY_PARTS,
  parseTopology,
  Placement,
  Server,
  Topology,
  TopologySourceError,
  TopologyTooLargeError,
} from '../../../../core';
import { topologyFromParameter } from '../../../../agent/topology-source';
import { ParameterStoreTopologySource } from '../../../../client/parameter-store-source';
import { readTopologyJson } from '../../../../client/ssm-topology-reader';
import { SsmTopologyStore } from '../../../../lambdas/adapters/ssm-parameters';
import { instanceIds } from '../../../support/ids';

const ssm = mockClient(SSMClient);
const HEAD = '/astaire/big/topology';

/** Parameter Store in memory: names to values, with the size limits of advanced parameters. */
let params: Map<string, string>;
beforeEach(() => {
  params = new Map();
  ssm.reset();
  ssm.on(GetParameterCommand).callsFake(({ Name }) => {
    if (!params.has(Name)) throw new ParameterNotFound({ message: Name, $metadata: {} });
    return { Parameter: { Name, Value: params.get(Name) } };
  });
  ssm.on(GetParametersCommand).callsFake(({ Names }: { Names: string[] }) => {
    if (Names.length > 10) throw new Error('GetParameters takes at most 10 names');
    return {
      Parameters: Names.filter((n) => params.has(n)).map((n) => ({ Name: n, Value: params.get(n) })),
      InvalidParameters: Names.filter((n) => !params.has(n)),
    };
  });
  ssm.on(PutParameterCommand).callsFake(({ Name, Value, Tier }) => {
    if (Value.length > (Tier === 'Advanced' ? 8192 : 4096) && Tier !== 'Intelligent-Tiering')
      throw new Error(`${Name}: value too large for tier ${Tier}`);
    if (Value.length > 8192) throw new Error(`${Name}: value over 8192 characters`);
    params.set(Name, Value);
    return {};
  });
  ssm.on(GetParametersByPathCommand).callsFake(({ Path, NextToken }) => {
    const names = [...params.keys()].filter((n) => n.startsWith(`${Path}/`));
    const start = Number(NextToken ?? 0);
    return {
      Parameters: names.slice(start, start + 10).map((Name) => ({ Name })),
      NextToken: start + 10 < names.length ? String(start + 10) : undefined,
    };
  });
  ssm.on(DeleteParametersCommand).callsFake(({ Names }: { Names: string[] }) => {
    if (Names.length > 10) throw new Error('DeleteParameters takes at most 10 names');
    for (const n of Names) params.delete(n);
    return { DeletedParameters: Names };
  });
});

/** A pseudo-random map (it compresses like a real one) of `servers`, 2 distinct replicas per vbucket. */
function randomMap(servers: readonly Server[], vbuckets: number, seed: number): string {
  let state = seed;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % servers.length;
  };
  const table = new Uint16Array(vbuckets * 2);
  for (let v = 0; v < vbuckets; v++) {
    table[2 * v] = next();
    do table[2 * v + 1] = next();
    while (table[2 * v + 1] === table[2 * v]);
  }
  const ids = servers.map((s) => s.id);
  return encodePlacementMap(new Placement(ids, vbuckets, 2, table), servers);
}

/** A cluster of `n` EC2 servers in 3 zones migrating to n + 1, with both maps: the largest form. */
function migrating(n: number, epoch = 7): Topology {
  const all = instanceIds(n + 1).map((id, i) => ({
    id,
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:11211`,
    zone: `eu-west-1${'abc'[i % 3]}`,
  }));
  const servers = all.slice(0, n);
  return parseTopology(
    {
      cluster: 'big',
      epoch,
      vbuckets: 16384,
      replicas: 2,
      servers,
      map: randomMap(servers, 16384, 1),
      newServers: all,
      newMap: randomMap(all, 16384, 2),
      migration: {
        executionId:
          'arn:aws:states:eu-west-1:123456789012:execution:AstaireWorkflowABCDEF12-GhIjKlMnOpQr:8f3a6c1e-4b2d-4e7f-9a1b-2c3d4e5f6a7b',
        startedAt: '2026-11-23T10:00:00.000Z',
      },
    },
    'test',
  );
}

const store = () => new SsmTopologyStore(new SSMClient({}), () => HEAD);
const parts = () => [...params.keys()].filter((n) => n !== HEAD);

describe('SsmTopologyStore with a topology larger than one parameter', () => {
  it('given 10,000 servers migrating to 10,001 (the largest cluster documented), then it is written in parts and reads back equal', async () => {
    const big = migrating(10_000);
    await store().write(big);
    const head = JSON.parse(params.get(HEAD)!);
    expect(head).toMatchObject({ cluster: 'big', epoch: 7, encoding: 'gzip+base64' });
    expect(head.parts.length).toBeLessThanOrEqual(MAX_TOPOLOGY_PARTS);
    expect(parts()).toEqual(head.parts);
    expect(await store().read('big')).toEqual(big);
    // Ten names at most per GetParameters call.
    expect(ssm.commandCalls(GetParametersCommand).length).toBe(Math.ceil(head.parts.length / 10));
  });

  it('given 20,000 servers migrating, then the write fails with TopologyTooLargeError before writing anything', async () => {
    await expect(store().write(migrating(20_000))).rejects.toThrow(TopologyTooLargeError);
    await expect(store().write(migrating(20_000))).rejects.toThrow(/over the 819200-byte limit of 100 parts/);
    expect(params.size).toBe(0);
  });

  it('given a small document, then it stays inline in the head parameter, as before', async () => {
    const small = parseTopology({ cluster: 'big', epoch: 1, servers: [{ id: 'a', address: 'h:1' }] }, 't');
    await store().write(small);
    expect(JSON.parse(params.get(HEAD)!)).toEqual(small);
    expect(params.size).toBe(1);
    expect(await store().read('big')).toEqual(small);
  });

  it('given three successive large writes, then the parts of the replaced version stay and older ones go', async () => {
    await store().write(migrating(1000, 1));
    const first = parts();
    await store().write(migrating(1000, 2));
    const second = parts().filter((n) => !first.includes(n));
    expect(parts()).toEqual([...first, ...second]);
    await store().write(migrating(1000, 3));
    expect(parts().some((n) => first.includes(n))).toBe(false);
    expect(parts().filter((n) => second.includes(n))).toEqual(second);
    // Going back inline retires the large versions in turn.
    const small = parseTopology({ cluster: 'big', epoch: 4, servers: [{ id: 'a', address: 'h:1' }] }, 't');
    await store().write(small);
    await store().write({ ...small, epoch: 5 });
    expect(parts()).toEqual([]);
  });

  it('given a head switched between the reader reading it and reading the parts, then the reader re-reads the head and gets one whole epoch', async () => {
    await store().write(migrating(1000, 1));
    const oldHead = params.get(HEAD)!;
    // The reader's view: the old head, then parts that are gone (two writes happened meanwhile).
    await store().write(migrating(1000, 2));
    await store().write(migrating(1000, 3));
    let heads = 0;
    ssm.on(GetParameterCommand).callsFake(({ Name }) => ({
      Parameter: { Name, Value: heads++ === 0 ? oldHead : params.get(Name) },
    }));
    const json = await readTopologyJson(new SSMClient({}), HEAD);
    expect(heads).toBe(2);
    expect(parseTopology(json!, 't').epoch).toBe(3);
  });

  it('given a part missing twice, then the reader fails naming the part, and a corrupt part fails the hash', async () => {
    await store().write(migrating(1000, 1));
    const head = JSON.parse(params.get(HEAD)!);
    const last = head.parts[head.parts.length - 1];
    const value = params.get(last)!;
    params.delete(last);
    await expect(store().read('big')).rejects.toThrow(
      new RegExp(`parameter ${HEAD}: part ${last} of epoch 1 is missing, twice`),
    );
    params.set(last, value);
    params.set(HEAD, JSON.stringify({ ...head, sha256: '0'.repeat(64) }));
    await expect(store().read('big')).rejects.toThrow(/sha256 does not match the parts/);
    params.set(head.parts[0], 'AAAA');
    await expect(store().read('big')).rejects.toThrow(/parts do not decode/);
  });

  it('given a head naming no parts or a bad encoding, then the error names the field', async () => {
    params.set(HEAD, JSON.stringify({ parts: [] }));
    await expect(store().read('big')).rejects.toThrow(/parts must be a non-empty list/);
    params.set(HEAD, JSON.stringify({ parts: Array.from({ length: 101 }, (_, i) => `p${i}`) }));
    await expect(store().read('big')).rejects.toThrow(/parts must name at most 100/);
    params.set(HEAD, JSON.stringify({ parts: ['p'], encoding: 'zstd' }));
    await expect(store().read('big')).rejects.toThrow(/encoding must be "gzip\+base64"/);
    params.set(HEAD, JSON.stringify({ parts: ['p'], encoding: 'gzip+base64', sha256: 'x' }));
    await expect(store().read('big')).rejects.toThrow(/sha256 must be 64 hex digits/);
  });

  it('given Parameter Store throttling part writes, then the store backs off and the write succeeds', async () => {
    let throttled = 0;
    const put = ssm.commandCalls(PutParameterCommand).length;
    ssm.on(PutParameterCommand).callsFake(({ Name, Value }) => {
      if (throttled++ % 2 === 0)
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      params.set(Name, Value);
      return {};
    });
    await store().write(migrating(100));
    expect(ssm.commandCalls(PutParameterCommand).length - put).toBe(2 * parts().length + 2);
    expect(await store().read('big')).toEqual(migrating(100));
    ssm
      .on(PutParameterCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    await expect(store().write(migrating(100, 8))).rejects.toThrow('denied');
  });

  it('given the old parts cannot be listed, then the write still succeeds and warns', async () => {
    ssm
      .on(GetParametersByPathCommand)
      .rejects(Object.assign(new Error('no'), { name: 'AccessDeniedException' }));
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    await store().write(migrating(100));
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('old topology parts not deleted'));
    warn.mockRestore();
    expect(await store().read('big')).toEqual(migrating(100));
  });
});

describe('the agent and the client read a topology in parts', () => {
  it('given 1000 servers migrating in parts, then the agent and the client read the same document the store wrote', async () => {
    const big = migrating(1000);
    await store().write(big);
    expect(await topologyFromParameter(new SSMClient({}), HEAD)).toEqual(big);
    expect(
      await new ParameterStoreTopologySource({ ssm: new SSMClient({}), parameter: HEAD }).read(),
    ).toEqual(big);
  });

  it('given a client polling an unchanged head, then it reads the parts once; after a new write, again', async () => {
    await store().write(migrating(1000, 1));
    const source = new ParameterStoreTopologySource({ ssm: new SSMClient({}), parameter: HEAD });
    const before = ssm.commandCalls(GetParametersCommand).length;
    const first = await source.read();
    const once = ssm.commandCalls(GetParametersCommand).length - before;
    expect(once).toBeGreaterThan(0);
    expect(await source.read()).toEqual(first);
    expect(ssm.commandCalls(GetParametersCommand).length - before).toBe(once);
    await store().write(migrating(1000, 2));
    expect((await source.read()).epoch).toBe(2);
    expect(ssm.commandCalls(GetParametersCommand).length - before).toBeGreaterThan(once);
  });

  it('given the agent re-reading an unchanged head with its cache, then it reads the parts once; after a new write, again', async () => {
    await store().write(migrating(1000, 1));
    const cache = {};
    const before = ssm.commandCalls(GetParametersCommand).length;
    const first = await topologyFromParameter(new SSMClient({}), HEAD, cache);
    const once = ssm.commandCalls(GetParametersCommand).length - before;
    expect(once).toBeGreaterThan(0);
    expect(await topologyFromParameter(new SSMClient({}), HEAD, cache)).toEqual(first);
    expect(ssm.commandCalls(GetParametersCommand).length - before).toBe(once);
    await store().write(migrating(1000, 2));
    expect((await topologyFromParameter(new SSMClient({}), HEAD, cache)).epoch).toBe(2);
    expect(ssm.commandCalls(GetParametersCommand).length - before).toBe(2 * once);
  });

  it('given a part missing twice, then both report a TopologySourceError naming the head parameter', async () => {
    await store().write(migrating(1000));
    params.delete(JSON.parse(params.get(HEAD)!).parts[0]);
    await expect(topologyFromParameter(new SSMClient({}), HEAD)).rejects.toThrow(TopologySourceError);
    await expect(
      new ParameterStoreTopologySource({ ssm: new SSMClient({}), parameter: HEAD }).read(),
    ).rejects.toThrow(/parameter \/astaire\/big\/topology: part .* is missing/);
  });
});
