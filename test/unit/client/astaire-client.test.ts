import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AstaireClient,
  ClientClosedError,
  FileTopologySource,
  InMemoryTopologySource,
  InvalidKeyError,
  InvalidOptionError,
  KeyTooLongError,
  NoServersError,
  ParameterStoreTopologySource,
  ValueTooLargeError,
} from '../../../client';
import { parseTopology, Topology, TopologyValidationError } from '../../../core';
import { LOCAL_CLIENT_PROPAGATION_MS } from '../../../local/runtime';

// No request here reaches a server: every case fails validation before any I/O,
// and the address is a reserved port nobody listens on.
const doc = (epoch: number, extra: object = {}) => ({
  cluster: 'c1',
  epoch,
  servers: [{ id: 'n1', address: '127.0.0.1:9' }],
  ...extra,
});

describe('AstaireClient topology', () => {
  let client: AstaireClient | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
    jest.useRealTimers();
  });

  it('given a source that does not parse, when opening, then it rejects with TopologyValidationError', async () => {
    await expect(
      AstaireClient.open({ source: new InMemoryTopologySource({ cluster: 'c1' }) }),
    ).rejects.toThrow(TopologyValidationError);
  });

  it('given an in-memory source, when a new epoch is set, then the client switches and emits topology', async () => {
    const source = new InMemoryTopologySource(doc(1));
    client = await AstaireClient.open({ source, pollIntervalMs: 0 });
    const seen = new Promise<[Topology, Topology]>((resolve) =>
      client!.once('topology', (t, p) => resolve([t, p])),
    );
    source.set(doc(2));
    const [topology, previous] = await seen;
    expect([topology.epoch, previous.epoch, client.topology.epoch]).toEqual([2, 1, 2]);
  });

  it('given a value that does not parse, when set, then the last good topology stays and topologyError reports it', async () => {
    const source = new InMemoryTopologySource(doc(1));
    client = await AstaireClient.open({ source, pollIntervalMs: 0 });
    const error = new Promise<Error>((resolve) => client!.once('topologyError', resolve));
    source.set({ ...doc(2), vbuckets: 3 });
    expect((await error).message).toMatch(/in-memory topology: vbuckets must be a power of two/);
    expect(client.topology.epoch).toBe(1);
  });

  it('given a server id with two addresses, when set, then it is refused and the last good topology stays', async () => {
    const source = new InMemoryTopologySource(doc(1));
    client = await AstaireClient.open({ source, pollIntervalMs: 0 });
    await expect(
      (source.set(doc(2, { newServers: [{ id: 'n1', address: '127.0.0.1:10' }] })), client.refreshTopology()),
    ).rejects.toThrow(/server n1 has address/);
    expect(client.topology.epoch).toBe(1);
  });

  it('given Parameter Store polled every 5 s, when the parameter gets a new epoch, then the client picks it up on the next poll', async () => {
    jest.useFakeTimers();
    const ssm = mockClient(SSMClient);
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: JSON.stringify(doc(1)) } });
    const source = new ParameterStoreTopologySource({ ssm: new SSMClient({}), cluster: 'c1' });
    client = await AstaireClient.open({ source });
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: JSON.stringify(doc(7)) } });
    await jest.advanceTimersByTimeAsync(4900);
    expect(client.topology.epoch).toBe(1);
    await jest.advanceTimersByTimeAsync(200);
    expect(client.topology.epoch).toBe(7);
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'not json' } });
    const errors: Error[] = [];
    client.on('topologyError', (e) => errors.push(e));
    await jest.advanceTimersByTimeAsync(5000);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/^parameter \/astaire\/c1\/topology: document is not valid JSON/),
    ]);
    expect(client.topology.epoch).toBe(7);
    ssm.restore();
  });
});

describe('AstaireClient default poll interval', () => {
  let client: AstaireClient | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
    jest.useRealTimers();
  });

  /** A source that states its own default poll interval, as FileTopologySource does. */
  const sourceWith = (defaultPollIntervalMs: number | undefined, epoch: { value: number }) => ({
    description: 'test source',
    defaultPollIntervalMs,
    read: async () => parseTopology(doc(epoch.value), 'test source'),
  });

  it('given a source with a default poll of 1 s and no pollIntervalMs, then a new epoch is seen within 1 s', async () => {
    jest.useFakeTimers();
    const epoch = { value: 1 };
    client = await AstaireClient.open({ source: sourceWith(1000, epoch) });
    epoch.value = 2;
    await jest.advanceTimersByTimeAsync(900);
    expect(client.topology.epoch).toBe(1);
    await jest.advanceTimersByTimeAsync(200);
    expect(client.topology.epoch).toBe(2);
  });

  it('given a source that states none, then the client polls every 5 s; an explicit pollIntervalMs wins over the source', async () => {
    jest.useFakeTimers();
    const epoch = { value: 1 };
    client = await AstaireClient.open({ source: sourceWith(undefined, epoch) });
    const explicit = await AstaireClient.open({ source: sourceWith(1000, epoch), pollIntervalMs: 3000 });
    try {
      epoch.value = 2;
      await jest.advanceTimersByTimeAsync(2900);
      expect([client.topology.epoch, explicit.topology.epoch]).toEqual([1, 1]);
      await jest.advanceTimersByTimeAsync(200);
      expect([client.topology.epoch, explicit.topology.epoch]).toEqual([1, 2]);
      await jest.advanceTimersByTimeAsync(2000);
      expect(client.topology.epoch).toBe(2);
    } finally {
      await explicit.close();
    }
  });

  it('given the defaults, then local mode waits at least twice the poll interval of a file client before agents start', () => {
    expect(LOCAL_CLIENT_PROPAGATION_MS).toBeGreaterThanOrEqual(
      2 * new FileTopologySource('/nonexistent').defaultPollIntervalMs,
    );
  });
});

describe('AstaireClient input validation', () => {
  let client: AstaireClient;
  beforeAll(async () => {
    client = await AstaireClient.open({
      source: new InMemoryTopologySource(doc(1)),
      pollIntervalMs: 0,
      maxValueBytes: 10,
    });
  });
  afterAll(() => client.close());

  it('given a key over 250 bytes, when reading or writing, then KeyTooLongError, before any request', async () => {
    const key = 'k'.repeat(251);
    await expect(client.get(key)).rejects.toThrow(KeyTooLongError);
    await expect(client.set(key, 'v')).rejects.toThrow(KeyTooLongError);
    await expect(client.delete(key)).rejects.toThrow(KeyTooLongError);
    await expect(client.getMulti(['ok', key])).rejects.toThrow(KeyTooLongError);
  });

  it('given an empty key, when reading, then InvalidKeyError', async () => {
    await expect(client.get('')).rejects.toThrow(InvalidKeyError);
  });

  it('given a value over maxValueBytes, when setting or adding, then ValueTooLargeError with size and limit', async () => {
    await expect(client.set('k', 'x'.repeat(11))).rejects.toThrow(new ValueTooLargeError(11, 10));
    await expect(client.add('k', Buffer.alloc(11))).rejects.toThrow(
      /11 bytes, over the 10-byte item size limit/,
    );
  });

  it('given the reserved tombstone flags or bad flags and TTLs, when setting, then InvalidOptionError says why', async () => {
    await expect(client.set('k', 'v', { flags: 0xffffffff })).rejects.toThrow(
      /reserved for Astaire tombstones/,
    );
    await expect(client.set('k', 'v', { flags: -1 })).rejects.toThrow(InvalidOptionError);
    await expect(client.set('k', 'v', { ttl: 1.5 })).rejects.toThrow(/ttl must be a whole number of seconds/);
    await expect(client.touch('k', -3)).rejects.toThrow(InvalidOptionError);
  });

  it('given bad client options, when opening, then InvalidOptionError names the option', async () => {
    const source = new InMemoryTopologySource(doc(1));
    await expect(AstaireClient.open({ source, requestTimeoutMs: 0 })).rejects.toThrow(
      /requestTimeoutMs must be/,
    );
    await expect(AstaireClient.open({ source, tombstoneTtlSeconds: 31 * 86400 })).rejects.toThrow(/30 days/);
    await expect(AstaireClient.open({ source, readRepair: 'yes' as unknown as boolean })).rejects.toThrow(
      /readRepair must be a boolean/,
    );
  });

  it('given a topology with no servers, when reading, then NoServersError names the cluster', async () => {
    const empty = await AstaireClient.open({
      source: new InMemoryTopologySource({ cluster: 'c1', epoch: 0, servers: [] }),
      pollIntervalMs: 0,
    });
    await expect(empty.get('k')).rejects.toThrow(new NoServersError('c1'));
    await empty.close();
  });

  it('given a closed client, when used, then ClientClosedError', async () => {
    const closed = await AstaireClient.open({
      source: new InMemoryTopologySource(doc(1)),
      pollIntervalMs: 0,
    });
    await closed.close();
    await expect(closed.get('k')).rejects.toThrow(ClientClosedError);
    await expect(closed.refreshTopology()).rejects.toThrow(ClientClosedError);
  });
});
