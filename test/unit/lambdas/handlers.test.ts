import { placementOf, zoneSpread, type Topology } from '../../../core';
import { createCommitMigrationHandler } from '../../../lambdas/commit-migration';
import { createCompleteLifecycleHandler } from '../../../lambdas/complete-lifecycle';
import { createKeepAliveHandler } from '../../../lambdas/keep-alive';
import { MigrationNotOwnedError } from '../../../lambdas/errors';
import { createPlanMigrationHandler } from '../../../lambdas/plan-migration';
import { createRecordFailureHandler } from '../../../lambdas/record-failure';
import { createReleaseLockHandler } from '../../../lambdas/release-lock';
import type { LockRecord } from '../../../lambdas/ports';
import type { WorkflowRequest } from '../../../lambdas/request';
import { createRestoreTopologyHandler } from '../../../lambdas/restore-topology';
import { createTakeLockHandler } from '../../../lambdas/take-lock';

const now = new Date('2025-01-01T00:00:00Z');
const request = (executionId = 'me', over: Partial<WorkflowRequest> = {}): WorkflowRequest => ({
  cluster: 'c',
  executionId,
  action: 'resync',
  source: 'manual',
  ...over,
});
const topo = (servers: string[], extra: Partial<Topology> = {}): Topology => ({
  cluster: 'c',
  epoch: 5,
  vbuckets: 16,
  replicas: 2,
  servers: servers.map((id, i) => ({ id, address: `10.0.0.${i + 1}:11211` })),
  ...extra,
});
function memoryLocks(initial?: LockRecord) {
  const state = { lock: initial };
  return {
    state,
    create: async (_c: string, l: LockRecord) => (state.lock ? false : ((state.lock = l), true)),
    read: async () => state.lock,
    replaceStale: async (_c: string, _s: LockRecord, f: LockRecord) => ((state.lock = f), true),
    release: async (_c: string, owner: string) =>
      state.lock?.owner === owner ? ((state.lock = undefined), true) : false,
  };
}

describe('take-lock', () => {
  const other: LockRecord = {
    owner: 'other',
    acquiredAt: '2024-12-31T23:59:00Z',
    expiresAt: '2025-01-01T06:00:00Z',
  };
  const handler = (locks: ReturnType<typeof memoryLocks>, running: string[]) =>
    createTakeLockHandler({
      locks,
      executions: { isRunning: async (id) => running.includes(id) },
      clock: { now: () => now },
      lockTtlSeconds: 60,
    });

  test('given a free lock, when taken, then this execution holds it until now + TTL', async () => {
    const locks = memoryLocks();
    expect(await handler(locks, [])({ request: request() })).toEqual({ acquired: true, owner: 'me' });
    expect(locks.state.lock).toEqual({
      owner: 'me',
      acquiredAt: now.toISOString(),
      expiresAt: '2025-01-01T00:01:00.000Z',
    });
  });
  test('given a live owner, when taken, then it is not acquired and the lock is untouched', async () => {
    const locks = memoryLocks(other);
    expect(await handler(locks, ['other'])({ request: request() })).toEqual({
      acquired: false,
      owner: 'other',
    });
    expect(locks.state.lock).toBe(other);
  });
  test('given an owner that has ended, when taken, then the lock is broken and acquired', async () => {
    const locks = memoryLocks(other);
    expect(await handler(locks, [])({ request: request() })).toEqual({
      acquired: true,
      owner: 'me',
      broke: 'other',
    });
  });
  test('given an expired lock of a running owner, when taken, then it is broken', async () => {
    const locks = memoryLocks({ ...other, expiresAt: '2024-12-31T23:59:59Z' });
    expect((await handler(locks, ['other'])({ request: request() })).acquired).toBe(true);
  });
  test('given this execution already holds it (a retried invocation), when taken, then it is acquired', async () => {
    const locks = memoryLocks({ ...other, owner: 'me' });
    expect((await handler(locks, [])({ request: request() })).acquired).toBe(true);
  });
});

describe('release-lock', () => {
  const held = (owner: string): LockRecord => ({
    owner,
    acquiredAt: now.toISOString(),
    expiresAt: now.toISOString(),
  });
  test('given this execution holds the lock, when released, then it is gone', async () => {
    const locks = memoryLocks(held('me'));
    expect(await createReleaseLockHandler({ locks })({ request: request() })).toEqual({ released: true });
    expect(locks.state.lock).toBeUndefined();
  });
  test('given another execution holds the lock (this one was broken), when released, then it is kept', async () => {
    const locks = memoryLocks(held('other'));
    expect(await createReleaseLockHandler({ locks })({ request: request() })).toEqual({ released: false });
    expect(locks.state.lock?.owner).toBe('other');
  });
});

describe('plan-migration', () => {
  const ports = (t: Topology, members: [string, string][], written: Topology[]) => ({
    topology: { read: async () => t, write: async (x: Topology) => void written.push(x) },
    group: {
      list: async () => members.map(([instanceId, lifecycleState]) => ({ instanceId, lifecycleState })),
    },
    addresses: {
      privateIps: async (ids: readonly string[]) => new Map(ids.map((id) => [id, `10.1.0.${id.slice(-1)}`])),
    },
    clock: { now: () => now },
    autoScalingGroupName: 'g',
    memcachedPort: 11211,
  });
  test('given a pending instance, when planned, then newServers adds it with its address and it has pulls', async () => {
    const written: Topology[] = [];
    const t = topo(['i-1', 'i-2']);
    const p = ports(
      {
        ...t,
        servers: [
          { id: 'i-1', address: '10.1.0.1:11211' },
          { id: 'i-2', address: '10.1.0.2:11211' },
        ],
      },
      [
        ['i-1', 'InService'],
        ['i-2', 'InService'],
        ['i-3', 'Pending:Wait'],
      ],
      written,
    );
    const plan = await createPlanMigrationHandler(p)({ request: request() });
    expect(plan).toMatchObject({ changed: true, epoch: 6, added: ['i-3'], removed: [] });
    expect(plan.pulls.map((x) => x.node)).toEqual(['i-3']);
    // Both old nodes give vbuckets to the new one and delete them once it commits.
    expect(plan.cleanups.map((x) => x.node)).toEqual(['i-1', 'i-2']);
    expect(plan.cleanups.every((x) => x.vbuckets > 0 && x.address.startsWith('10.1.0.'))).toBe(true);
    expect(written[0]!.newServers!.map((s) => s.address)).toEqual([
      '10.1.0.1:11211',
      '10.1.0.2:11211',
      '10.1.0.3:11211',
    ]);
    expect(written[0]!.migration).toEqual({ executionId: 'me', startedAt: now.toISOString() });
  });
  test('given a history budget too small for the migration, when planned, then it fails before writing, naming the events it needs', async () => {
    const written: Topology[] = [];
    const t = {
      ...topo([]),
      servers: ['1', '2'].map((n) => ({ id: `i-${n}`, address: `10.1.0.${n}:11211` })),
    };
    const members: [string, string][] = [
      ['i-1', 'InService'],
      ['i-2', 'InService'],
      ['i-3', 'Pending:Wait'],
    ];
    // One pull (i-3) and two cleanups, one added instance: 8 x (1 + 2) + 36 = 60 events.
    const tight = { ...ports(t, members, written), historyEventBudget: 59 };
    await expect(createPlanMigrationHandler(tight)({ request: request() })).rejects.toMatchObject({
      name: 'MigrationTooLargeError',
      message: expect.stringMatching(/needs 60 .*history events.*only 59/),
    });
    expect(written).toEqual([]);
    const enough = { ...ports(t, members, written), historyEventBudget: 60 };
    expect(await createPlanMigrationHandler(enough)({ request: request() })).toMatchObject({ changed: true });
  });

  test('given a scale-in whose leaving node pushes, when planned, then its push commands count against the history budget', async () => {
    const t = {
      ...topo([]),
      servers: ['1', '2', '3', '4', '5'].map((n) => ({ id: `i-${n}`, address: `10.1.0.${n}:11211` })),
    };
    const members: [string, string][] = [
      ['i-1', 'InService'],
      ['i-2', 'InService'],
      ['i-3', 'InService'],
      ['i-4', 'InService'],
      ['i-5', 'Terminating:Wait'],
    ];
    const planned = await createPlanMigrationHandler({ ...ports(t, members, []), historyEventBudget: 1e6 })({
      request: request(),
    });
    expect(planned.pushes.length).toBeGreaterThan(0);
    // Receivers' commands, then the cleanups (or, on a rollback, one per receiver), and the pushes: 8 each.
    const needed =
      8 *
      (planned.pulls.length +
        Math.max(planned.cleanups.length, planned.pulls.length) +
        planned.pushes.length);
    const tight = { ...ports(t, members, []), historyEventBudget: needed - 1 };
    await expect(createPlanMigrationHandler(tight)({ request: request() })).rejects.toMatchObject({
      name: 'MigrationTooLargeError',
    });
    const enough = { ...ports(t, members, []), historyEventBudget: needed };
    expect(await createPlanMigrationHandler(enough)({ request: request() })).toMatchObject({ changed: true });
  });

  test('given zones from EC2, when planned, then every server carries its zone and the new map keeps replicas in distinct zones', async () => {
    const written: Topology[] = [];
    const t = {
      ...topo([]),
      servers: ['1', '2', '3'].map((n) => ({ id: `i-${n}`, address: `10.1.0.${n}:11211` })),
    };
    const zoneOf = (id: string) => `eu-west-1${'abc'[Number(id.slice(-1)) % 3]}`;
    const p = {
      ...ports(
        t,
        ['1', '2', '3', '4', '5', '6'].map((n): [string, string] => [
          `i-${n}`,
          n < '4' ? 'InService' : 'Pending:Wait',
        ]),
        written,
      ),
    };
    p.addresses = {
      ...p.addresses,
      zones: async (ids: readonly string[]) => new Map(ids.map((id) => [id, zoneOf(id)])),
    } as typeof p.addresses;
    const plan = await createPlanMigrationHandler(p)({ request: request() });
    expect(plan.added).toEqual(['i-4', 'i-5', 'i-6']);
    const begun = written[0]!;
    // Staying members keep their place and learn their zone.
    expect(begun.newServers!.map((s) => `${s.id}:${s.zone}`)).toEqual(
      ['i-1', 'i-2', 'i-3', 'i-4', 'i-5', 'i-6'].map((id) => `${id}:${zoneOf(id)}`),
    );
    expect(zoneSpread(placementOf(begun, 'newServers'), begun.newServers!).vbucketsSharingAZone).toBe(0);
  });
  test('given the terminating instance and one in Terminating:Wait, when planned, then neither is a target member', async () => {
    const written: Topology[] = [];
    const t = {
      ...topo([]),
      servers: ['1', '2', '3', '4'].map((n) => ({ id: `i-${n}`, address: `10.1.0.${n}:11211` })),
    };
    const plan = await createPlanMigrationHandler(
      ports(
        t,
        [
          ['i-1', 'InService'],
          ['i-2', 'InService'],
          ['i-3', 'Terminating:Wait'],
          ['i-4', 'Terminating:Wait'],
        ],
        written,
      ),
    )({
      request: request('me', {
        action: 'terminate',
        lifecycle: { autoScalingGroupName: 'g', lifecycleHookName: 'h', instanceId: 'i-4' },
      }),
    });
    expect(plan.newServers).toEqual(['i-1', 'i-2']);
    expect(plan.removed).toEqual(['i-3', 'i-4']);
  });

  test.each([
    ['terminate', 'InService', /terminate event for i-4, which is InService, not Terminating:Wait/],
    ['terminate', undefined, /terminate event for i-4, which is not in the group/],
    ['launch', 'InService', /launch event for i-4, which is InService, not Pending:Wait/],
  ])(
    'given a %s event whose instance is %s, when planned, then nothing is written and the plan says it was ignored',
    async (action, state, reason) => {
      const written: Topology[] = [];
      const t = {
        ...topo([]),
        servers: ['1', '2', '3', '4'].map((n) => ({ id: `i-${n}`, address: `10.1.0.${n}:11211` })),
      };
      const members: [string, string][] = [
        ['i-1', 'InService'],
        ['i-2', 'InService'],
        ['i-3', 'InService'],
      ];
      if (state) members.push(['i-4', state]);
      const plan = await createPlanMigrationHandler(ports(t, members, written))({
        request: request('me', {
          action: action as 'launch' | 'terminate',
          lifecycle: { autoScalingGroupName: 'g', lifecycleHookName: 'h', instanceId: 'i-4' },
        }),
      });
      expect(plan.changed).toBe(false);
      expect(plan.ignored).toMatch(reason);
      expect(written).toEqual([]);
    },
  );

  test('given an empty cluster, when its first members join, then each still gets an agent run with nothing to pull (it proves its memcached and marks it complete)', async () => {
    const written: Topology[] = [];
    const plan = await createPlanMigrationHandler(
      ports(
        topo([]),
        [
          ['i-1', 'InService'],
          ['i-2', 'InService'],
        ],
        written,
      ),
    )({ request: request('me') });
    expect(plan.pulls.map((p) => [p.node, p.vbuckets])).toEqual([
      ['i-1', 0],
      ['i-2', 0],
    ]);
  });

  test('given a server missing from the group, when a resync is planned, then the migration records it gone and counts the vbuckets it alone held', async () => {
    const written: Topology[] = [];
    const t = {
      ...topo([]),
      replicas: 1,
      servers: ['1', '2', '3'].map((n) => ({ id: `i-${n}`, address: `10.1.0.${n}:11211` })),
    };
    const plan = await createPlanMigrationHandler(
      ports(
        t,
        [
          ['i-1', 'InService'],
          ['i-2', 'InService'],
        ],
        written,
      ),
    )({ request: request('me') });
    expect(plan.gone).toEqual(['i-3']);
    expect(plan.vbucketsLost).toBeGreaterThan(0);
    expect(written[0].migration?.gone).toEqual(['i-3']);
  });
  test('given members that already match, when planned, then nothing is written', async () => {
    const written: Topology[] = [];
    const t = { ...topo([]), servers: [{ id: 'i-1', address: '10.1.0.1:11211' }] };
    expect(
      await createPlanMigrationHandler(ports(t, [['i-1', 'InService']], written))({ request: request() }),
    ).toMatchObject({ changed: false, pulls: [], cleanups: [] });
    expect(written).toEqual([]);
  });
});

describe('commit-migration', () => {
  test("given another execution's migration, when committing, then MigrationNotOwnedError and nothing is written", async () => {
    const writes: Topology[] = [];
    const t = topo(['a'], {
      newServers: [
        { id: 'a', address: '10.0.0.1:11211' },
        { id: 'b', address: '10.0.0.2:11211' },
      ],
      migration: { executionId: 'other', startedAt: now.toISOString() },
    });
    const handler = createCommitMigrationHandler({
      topology: { read: async () => t, write: async (x) => void writes.push(x) },
    });
    await expect(handler({ request: request(), newServers: ['a', 'b'] })).rejects.toThrow(
      MigrationNotOwnedError,
    );
    expect(writes).toEqual([]);
  });
  test('given our migration, when committing, then servers := newServers, epoch + 1 (the lock stays: the cleanup comes first)', async () => {
    const writes: Topology[] = [];
    const t = topo(['a'], {
      newServers: [
        { id: 'a', address: '10.0.0.1:11211' },
        { id: 'b', address: '10.0.0.2:11211' },
      ],
      migration: { executionId: 'me', startedAt: now.toISOString() },
    });
    const out = await createCommitMigrationHandler({
      topology: { read: async () => t, write: async (x) => void writes.push(x) },
    })({ request: request(), newServers: ['a', 'b'] });
    expect(out).toEqual({ epoch: 6, servers: ['a', 'b'], alreadyCommitted: false });
    expect(writes[0]!.servers.map((s) => s.id)).toEqual(['a', 'b']);
    expect(writes[0]!.newServers).toBeUndefined();
  });
});

describe('record-failure', () => {
  test('given a failed cleanup, when recorded, then CleanupFailed is counted, not MigrationFailed', async () => {
    const counted: string[] = [];
    const handler = createRecordFailureHandler({
      metrics: { count: async (_c, n) => void counted.push(n) },
      cluster: 'c',
    });
    const error = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    await handler({ executionId: 'x', failed: 'cleanup', error: { Error: 'CleanupFailed', Cause: 'down' } });
    await handler({ executionId: 'x', error: { Error: 'ResyncFailed', Cause: 'no source' } });
    expect(error.mock.calls[0]![0]).toMatch(/cleanup after commit failed/);
    error.mockRestore();
    expect(counted).toEqual(['CleanupFailed', 'MigrationFailed']);
  });
});

describe('restore-topology', () => {
  test("given another execution's migration, when restoring, then it is not touched and nothing is to clean", async () => {
    const writes: Topology[] = [];
    const t = topo(['a'], {
      newServers: [{ id: 'b', address: '10.0.0.2:11211' }],
      migration: { executionId: 'other', startedAt: now.toISOString() },
    });
    expect(
      await createRestoreTopologyHandler({
        topology: { read: async () => t, write: async (x) => void writes.push(x) },
      })({ request: request() }),
    ).toEqual({ restored: false, cleanups: [] });
    expect(writes).toEqual([]);
  });

  test('given its own scale-in, when restoring, then the old servers come back and the staying ones that pulled are named for the rollback cleanup', async () => {
    const writes: Topology[] = [];
    const t = topo(['a', 'b', 'c'], {
      newServers: topo(['a', 'b']).servers,
      migration: { executionId: 'me', startedAt: now.toISOString() },
    });
    const result = await createRestoreTopologyHandler({
      topology: { read: async () => t, write: async (x) => void writes.push(x) },
    })({ request: request() });
    expect(writes).toEqual([topo(['a', 'b', 'c'], { epoch: 6 })]);
    // 16 vbuckets, 2 replicas, 3 -> 2 servers: a and b each gain what c held with the other.
    expect(result).toEqual({
      restored: true,
      epoch: 6,
      cleanups: [
        { node: 'a', address: '10.0.0.1:11211', vbuckets: expect.any(Number) },
        { node: 'b', address: '10.0.0.2:11211', vbuckets: expect.any(Number) },
      ],
    });
    expect(result.cleanups.every((c) => c.vbuckets > 0)).toBe(true);
  });

  test('given its own scale-out, when restoring, then nobody cleans up (only the new node pulled)', async () => {
    const t = topo(['a', 'b'], {
      newServers: topo(['a', 'b', 'c']).servers,
      migration: { executionId: 'me', startedAt: now.toISOString() },
    });
    expect(
      await createRestoreTopologyHandler({
        topology: { read: async () => t, write: async () => undefined },
      })({ request: request() }),
    ).toEqual({ restored: true, epoch: 6, cleanups: [] });
  });
});

describe('complete-lifecycle', () => {
  const lifecycle = { autoScalingGroupName: 'g', lifecycleHookName: 'h', instanceId: 'i-1' };
  test('given an action that is gone, when completing, then it is not an error and the miss is counted', async () => {
    const counted: string[] = [];
    const handler = createCompleteLifecycleHandler({
      lifecycle: { complete: async () => 'gone', heartbeat: async () => 'gone' },
      metrics: { count: async (_c, n) => void counted.push(n) },
    });
    expect(
      await handler({ request: request('me', { action: 'launch', lifecycle }), result: 'CONTINUE' }),
    ).toEqual({ result: 'CONTINUE', outcome: 'gone' });
    expect(counted).toEqual(['LifecycleActionGone']);
  });
  test('given a resync (no action), when completing, then nothing is called', async () => {
    const handler = createCompleteLifecycleHandler({
      lifecycle: {
        complete: async () => {
          throw new Error('called');
        },
        heartbeat: async () => 'done',
      },
      metrics: { count: async () => undefined },
    });
    expect(await handler({ request: request(), result: 'CONTINUE' })).toEqual({
      result: 'CONTINUE',
      outcome: 'none',
    });
  });
});

describe('keep-alive: the execution age for the long-migration alarm', () => {
  test('given an execution started 95 s ago, when it heartbeats, then it puts MigrationSeconds 95 for its cluster', async () => {
    const put: [string, string, number][] = [];
    const handler = createKeepAliveHandler({
      topology: { read: async () => topo(['i-1']), write: async () => undefined },
      lifecycle: { complete: async () => 'done', heartbeat: async () => 'done' },
      gauges: { seconds: async (c, n, v) => void put.push([c, n, v]) },
      clock: { now: () => new Date(now.getTime() + 95_000) },
    });
    expect(await handler({ request: request(), startedAt: now.toISOString() })).toEqual({
      migrating: false,
      lifecycle: 'none',
    });
    expect(put).toEqual([['c', 'MigrationSeconds', 95]]);
  });

  test('given CloudWatch failing, when it heartbeats, then the heartbeat still succeeds', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const handler = createKeepAliveHandler({
      topology: { read: async () => topo(['i-1']), write: async () => undefined },
      lifecycle: { complete: async () => 'done', heartbeat: async () => 'done' },
      gauges: {
        seconds: async () => {
          throw new Error('throttled');
        },
      },
    });
    await expect(handler({ request: request(), startedAt: now.toISOString() })).resolves.toMatchObject({
      lifecycle: 'none',
    });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('could not put the migration age'));
    warn.mockRestore();
  });
});
