import {
  abortMigration,
  beginMigration,
  commitMigration,
  emptyTopology,
  isMigrating,
  isValidClusterName,
  isValidServerId,
  parameterName,
  parameterTier,
  parseAddress,
  parseTopology,
  serializeTopology,
  Topology,
  TopologyValidationError,
} from '../../../core';

const servers = [
  { id: 'i-0a1b2c3d4e5f60001', address: '10.0.1.10:11211' },
  { id: 'i-0a1b2c3d4e5f60002', address: '10.0.1.11:11211' },
];
const valid = { cluster: 'sessions', epoch: 4, vbuckets: 1024, replicas: 2, servers };

function errorOf(input: unknown): TopologyValidationError {
  try {
    parseTopology(input, '/astaire/sessions/topology');
  } catch (e) {
    if (e instanceof TopologyValidationError) return e;
    throw e;
  }
  throw new Error('expected a TopologyValidationError');
}

describe('parseTopology', () => {
  it('given a valid document as JSON text, then it returns it', () => {
    expect(parseTopology(JSON.stringify(valid), 'file.json')).toEqual(valid);
  });

  it('given no vbuckets or replicas, then the defaults 16384 and 2 apply', () => {
    const t = parseTopology({ cluster: 'c', epoch: 0, servers: [] }, 'x');
    expect(t.vbuckets).toBe(16384);
    expect(t.replicas).toBe(2);
  });

  it('given unknown fields, then they are ignored (an older reader survives a newer writer)', () => {
    expect(parseTopology({ ...valid, futureField: 1 }, 'x')).toEqual(valid);
  });

  it.each([
    ['{not json', 'document', 'is not valid JSON'],
    [[1], 'document', 'must be a JSON object'],
    [null, 'document', 'must be a JSON object'],
    [{ ...valid, cluster: '' }, 'cluster', 'must be 1-64'],
    [{ ...valid, cluster: 'a/b' }, 'cluster', 'must be 1-64'],
    [{ ...valid, epoch: -1 }, 'epoch', 'non-negative integer'],
    [{ ...valid, epoch: 1.5 }, 'epoch', 'non-negative integer'],
    [{ ...valid, vbuckets: 1000 }, 'vbuckets', 'power of two'],
    [{ ...valid, vbuckets: 131072 }, 'vbuckets', 'power of two'],
    [{ ...valid, replicas: 0 }, 'replicas', 'from 1 to 8'],
    [{ ...valid, servers: 'a,b' }, 'servers', 'must be an array'],
    [{ ...valid, servers: [42] }, 'servers[0]', 'must be an object'],
    [{ ...valid, servers: [{ id: 'a b', address: 'h:1' }] }, 'servers[0].id', 'must be 1-64'],
    [{ ...valid, servers: [{ id: 'a', address: 'h' }] }, 'servers[0].address', 'host:port'],
    [{ ...valid, servers: [{ id: 'a', address: 'h:0' }] }, 'servers[0].address', 'host:port'],
    [{ ...valid, servers: [{ id: 'a', address: 'h:65536' }] }, 'servers[0].address', 'host:port'],
    [{ ...valid, servers: [{ id: 'a', address: 'bad_host!:1' }] }, 'servers[0].address', 'host:port'],
    [
      { ...valid, servers: [servers[0], { ...servers[1], id: servers[0].id }] },
      'servers[1].id',
      'listed twice',
    ],
    [
      { ...valid, servers: [servers[0], { ...servers[1], address: servers[0].address }] },
      'servers[1].address',
      'listed twice',
    ],
    [{ ...valid, newServers: {} }, 'newServers', 'must be an array'],
    [{ ...valid, servers: [{ ...servers[0], zone: '' }] }, 'servers[0].zone', 'must be 1-64'],
    [{ ...valid, servers: [{ ...servers[0], zone: 7 }] }, 'servers[0].zone', 'must be 1-64'],
    [{ ...valid, map: 42 }, 'map', 'must be a base64 string'],
    [{ ...valid, map: 'not base64!' }, 'map', 'is not base64'],
    [{ ...valid, map: 'AAAA' }, 'map', 'must hold 2048 slots of 1 bits (256 bytes), got 3 bytes'],
    [{ ...valid, map: Buffer.alloc(256).toString('base64') }, 'map', 'vbucket 0 lists server 0 twice'],
    [
      { ...valid, vbuckets: 1, replicas: 1, servers: [...servers, { id: 'c', address: 'h:3' }], map: 'Aw==' },
      'map',
      'slot 0 names server 3, beyond the 3 listed',
    ],
    [{ ...valid, newMap: 'AA==' }, 'newMap', 'must come with newServers'],
    [{ ...valid, newServers: servers, newMap: 'AA==' }, 'newMap', 'must hold 2048 slots'],
    [{ ...valid, newServers: servers, migration: 'x' }, 'migration', 'must be an object'],
    [
      { ...valid, newServers: servers, migration: { executionId: '', startedAt: '2026-01-01T00:00:00Z' } },
      'migration.executionId',
      '1-256',
    ],
    [
      { ...valid, newServers: servers, migration: { executionId: 'e', startedAt: 'yesterday' } },
      'migration.startedAt',
      'ISO 8601',
    ],
    [
      { ...valid, migration: { executionId: 'e', startedAt: '2026-01-01T00:00:00Z' } },
      'newServers',
      'while a migration runs',
    ],
    [
      {
        ...valid,
        newServers: servers,
        migration: { executionId: 'e', startedAt: '2026-01-01T00:00:00Z', gone: ['not-a-server'] },
      },
      'migration.gone',
      'ids from servers',
    ],
    [
      {
        ...valid,
        newServers: servers,
        migration: { executionId: 'e', startedAt: '2026-01-01T00:00:00Z', gone: 'x' },
      },
      'migration.gone',
      'ids from servers',
    ],
  ])('given %j, then the error names %s', (input, field, reason) => {
    const error = errorOf(input);
    expect(error.field).toBe(field);
    expect(error.message).toContain(reason);
    expect(error.message).toMatch(/^\/astaire\/sessions\/topology: /);
    expect(error.name).toBe('TopologyValidationError');
  });

  it('given a bad value, then the message shows the value it got', () => {
    expect(errorOf({ ...valid, vbuckets: 1000 }).message).toContain('(got 1000)');
    expect(errorOf({ ...valid, servers: [{ id: 'a', address: 'h' }] }).message).toContain('(got "h")');
    expect(errorOf({ ...valid, cluster: undefined }).message).toContain('(got nothing)');
  });

  it('given a migration, then servers, newServers and migration round-trip', () => {
    const doc = {
      ...valid,
      newServers: servers.slice(0, 1),
      migration: { executionId: 'exec-1', startedAt: '2026-11-23T10:00:00Z' },
    };
    expect(parseTopology(serializeTopology(parseTopology(doc, 'x')), 'x')).toEqual(doc);
  });

  it('given a migration with servers gone from the group, then gone round-trips, and an empty list is dropped', () => {
    const migration = { executionId: 'exec-1', startedAt: '2026-11-23T10:00:00Z' };
    const doc = {
      ...valid,
      newServers: servers.slice(0, 1),
      migration: { ...migration, gone: [servers[1].id] },
    };
    expect(parseTopology(serializeTopology(parseTopology(doc, 'x')), 'x')).toEqual(doc);
    const empty = parseTopology({ ...doc, migration: { ...migration, gone: [] } }, 'x');
    expect(empty.migration).toEqual(migration);
    expect(serializeTopology({ ...empty, migration: { ...migration, gone: [] } })).not.toContain('gone');
  });
});

describe('parseAddress', () => {
  it.each([
    ['127.0.0.1:11211', { host: '127.0.0.1', port: 11211 }],
    ['cache-1.internal:1', { host: 'cache-1.internal', port: 1 }],
    ['[::1]:11211', { host: '::1', port: 11211 }],
    ['localhost', undefined],
    [':11211', undefined],
    ['h:port', undefined],
    ['h:123456', undefined],
  ])('given %s, then %j', (address, expected) => {
    expect(parseAddress(address)).toEqual(expected);
  });
});

describe('names', () => {
  it('given a cluster, then its parameter is /astaire/<cluster>/topology', () => {
    expect(parameterName('sessions')).toBe('/astaire/sessions/topology');
  });
  it('given names, then only safe ones are valid', () => {
    expect(isValidClusterName('prod-eu.1')).toBe(true);
    expect(isValidClusterName('x;rm -rf')).toBe(false);
    expect(isValidServerId('i-0123456789abcdef0')).toBe(true);
    expect(isValidServerId('$(reboot)')).toBe(false);
  });
});

describe('serializeTopology and the Parameter Store size limits', () => {
  // Longest EC2 ids and longest dotted-quad addresses, so the limits below hold for any VPC.
  const ec2 = (i: number) => ({
    id: `i-0123456789abc${i.toString(16).padStart(4, '0')}`,
    address: `10.${100 + ((i >> 8) & 127)}.${100 + (i & 127)}.${200 + (i % 50)}:11211`,
  });
  const migrating = (n: number): Topology => ({
    cluster: 'production-sessions',
    epoch: 123456,
    vbuckets: 16384,
    replicas: 2,
    servers: Array.from({ length: n }, (_, i) => ec2(i)),
    newServers: Array.from({ length: n + 1 }, (_, i) => ec2(i)),
    migration: {
      executionId:
        'arn:aws:states:eu-west-1:123456789012:execution:AstaireWorkflowABCDEF12-GhIjKlMnOpQr:8f3a6c1e-4b2d-4e7f-9a1b-2c3d4e5f6a7b',
      startedAt: '2026-11-23T10:00:00.000Z',
    },
  });

  it('given 30 servers migrating to 31 with EC2 ids, then it fits a standard parameter, and 31 to 32 does not', () => {
    expect(parameterTier(serializeTopology(migrating(30)))).toBe('Standard');
    expect(parameterTier(serializeTopology(migrating(31)))).toBe('Advanced');
  });

  it('given 63 servers migrating to 64 with EC2 ids, then it fits an advanced parameter', () => {
    const json = serializeTopology(migrating(63));
    expect(parameterTier(json)).toBe('Advanced');
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(8192);
  });

  it('given 64 servers migrating to 65, then the document is over one advanced parameter (it goes in parts)', () => {
    expect(Buffer.byteLength(serializeTopology(migrating(64)))).toBeGreaterThan(8192);
  });

  it('given a document, then fields come in a fixed order with no extra ones', () => {
    const extra = {
      ...valid,
      servers: [{ ...servers[0], rack: 'r1', zone: 'a' }],
      newServers: [{ ...servers[1], zone: 'b' }],
      migration: { executionId: 'e', startedAt: '2026-11-23T10:00:00Z' },
      map: 'AA==',
      newMap: 'AQ==',
    } as unknown as Topology;
    expect(serializeTopology(extra)).toBe(
      '{"cluster":"sessions","epoch":4,"vbuckets":1024,"replicas":2,"servers":[{"id":"i-0a1b2c3d4e5f60001","address":"10.0.1.10:11211","zone":"a"}],"map":"AA==","newServers":[{"id":"i-0a1b2c3d4e5f60002","address":"10.0.1.11:11211","zone":"b"}],"newMap":"AQ==","migration":{"executionId":"e","startedAt":"2026-11-23T10:00:00Z"}}',
    );
  });
});

describe('migration lifecycle', () => {
  const migration = { executionId: 'exec-9', startedAt: '2026-11-23T10:00:00Z' };
  const target = [...servers, { id: 'i-0a1b2c3d4e5f60003', address: '10.0.1.12:11211' }];

  it('given an empty cluster, then it has epoch 0 and no servers', () => {
    expect(emptyTopology('c')).toEqual({ cluster: 'c', epoch: 0, vbuckets: 16384, replicas: 2, servers: [] });
    expect(emptyTopology('c', { vbuckets: 64, replicas: 3 })).toMatchObject({ vbuckets: 64, replicas: 3 });
  });

  it('given a stable topology, when a migration begins, then newServers and the owner appear and the epoch moves', () => {
    const t = beginMigration(valid, target, migration);
    expect(isMigrating(valid)).toBe(false);
    expect(isMigrating(t)).toBe(true);
    expect(t).toMatchObject({ epoch: 5, servers, newServers: target, migration });
  });

  it('given a bad target, when a migration begins, then it is rejected', () => {
    expect(() => beginMigration(valid, [{ id: 'x', address: 'nope' }], migration)).toThrow(
      TopologyValidationError,
    );
  });

  it('given a migration, when it commits, then servers become newServers, placed by newMap, at the next epoch', () => {
    const begun = beginMigration(valid, target, migration);
    expect(begun.newMap).toEqual(expect.any(String));
    expect(commitMigration(begun)).toEqual({ ...valid, epoch: 6, servers: target, map: begun.newMap });
  });

  it('given a migration from a mapped topology, when it aborts, then the old map stays', () => {
    const committed = commitMigration(beginMigration(valid, target, migration));
    const aborted = abortMigration(beginMigration(committed, servers, migration));
    expect(aborted).toEqual({ ...committed, epoch: 8 });
  });

  it('given a migration to no servers, then there is no newMap', () => {
    expect(beginMigration(valid, [], migration).newMap).toBeUndefined();
  });

  it('given a migration, when it aborts, then the old servers stay at the next epoch', () => {
    expect(abortMigration(beginMigration(valid, target, migration))).toEqual({ ...valid, epoch: 6 });
  });

  it('given no migration, then commit and abort change nothing', () => {
    expect(commitMigration(valid)).toBe(valid);
    expect(abortMigration(valid)).toBe(valid);
  });
});
