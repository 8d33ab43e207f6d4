import { synthesizeWorkflowDefinition, type AslDefinition } from '../../../cdk/definition';
import { FakeWorld, ipOf, lifecycleEvent, CLUSTER } from './fake-world';
import { runLocal } from './run-local';

let definition: AslDefinition;
beforeAll(() => {
  definition = synthesizeWorkflowDefinition({ clusterName: CLUSTER });
}, 120_000);

const A = 'i-0000000a';
const B = 'i-0000000b';
const C = 'i-0000000c';
const D = 'i-0000000d';
const E = 'i-0000000e';
const ids = (w: FakeWorld) => w.topology!.servers.map((s) => s.id);
const succeeded = expect.objectContaining({ status: 'SUCCEEDED' });
/** The index in the log of the first commit whose servers include `id`. */
const committedWith = (w: FakeWorld, id: string) =>
  w.log.findIndex(
    (l) =>
      /^topology@\d+ servers=/.test(l) &&
      !l.includes(' new=') &&
      l.split('servers=')[1]!.split(',').includes(id),
  );

describe('the synthesized workflow, run by local/asl over fake ports', () => {
  test('given 3 servers, when a 4th launches, then it pulls its data, the topology is committed, and only then its launch continues', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    const run = await runLocal(definition, world, lifecycleEvent('launch', D));
    expect(run).toEqual(succeeded);
    expect(ids(world)).toEqual([A, B, C, D]);
    expect(world.topology!.newServers).toBeUndefined();
    expect(world.topology!.epoch).toBe(3);
    expect(world.lock).toBeUndefined();
    expect(world.log.indexOf(`resynced ${D}@2`)).toBeGreaterThan(-1);
    expect(committedWith(world, D)).toBeGreaterThan(world.log.indexOf(`resynced ${D}@2`));
    expect(world.log.indexOf(`CONTINUE ${D}`)).toBeGreaterThan(committedWith(world, D));
    // The SSM task's resolved request: the document's parameters, each a one-element list.
    expect(
      world.sendCommands.find((c) => c.InstanceIds[0] === D && c.Parameters.mode[0] === 'receive'),
    ).toEqual({
      DocumentName: 'astaire-local-resync',
      InstanceIds: [D],
      Comment: 'astaire receive of local e2',
      TimeoutSeconds: 600,
      // The agent's output goes to CloudWatch Logs, where the runbook looks.
      CloudWatchOutputConfig: {
        CloudWatchLogGroupName: '/astaire/local/agent-commands',
        CloudWatchOutputEnabled: true,
      },
      Parameters: {
        taskToken: [expect.stringMatching(/^token-of-/)],
        cluster: ['local'],
        node: [D],
        epoch: ['2'],
        mode: ['receive'],
        // The readiness check: the agent fills and checks memcached on the address peers and clients use.
        address: [`${ipOf(D)}:11211`],
      },
    });
  });

  test('given 3 -> 4, then the publisher awaits the clients at the migration epoch before any agent, and publishes the committed epoch after the commit', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    expect(await runLocal(definition, world, lifecycleEvent('launch', D))).toEqual(succeeded);
    const awaited = world.log.indexOf(`await-clients@2 on ${A}`);
    expect(awaited).toBeGreaterThan(-1);
    expect(world.log.indexOf(`resynced ${D}@2`)).toBeGreaterThan(awaited);
    expect(world.log.indexOf('publish@3')).toBeGreaterThan(committedWith(world, D));
    expect(world.clientCommands.map((c) => [c.InstanceIds[0], c.Parameters.mode[0]])).toEqual([
      [A, 'await-clients'],
      [A, 'publish'],
    ]);
  });

  test('given a client that does not switch, when AwaitClients fails with ClientsNotSwitched, then no agent runs, the old topology is restored and published, the launch is ABANDONed and the execution fails naming the client', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    world.awaitClients = async () => {
      const error = new Error(
        '1 client(s) did not switch to epoch 2 within 120 s: app-7 (on i-0000000a, at epoch 1)',
      );
      error.name = 'ClientsNotSwitched';
      throw error;
    };
    const run = await runLocal(definition, world, lifecycleEvent('launch', D));
    expect(run).toEqual({
      status: 'FAILED',
      error: 'ClientsNotSwitched',
      cause: expect.stringContaining('app-7'),
    });
    expect(world.log.filter((l) => l.startsWith('resynced'))).toEqual([]);
    expect(ids(world)).toEqual([A, B, C]);
    expect(world.topology!.newServers).toBeUndefined();
    expect(world.log).toContain(`publish@${world.topology!.epoch}`);
    expect(world.log.indexOf(`ABANDON ${D}`)).toBeGreaterThan(-1);
    expect(world.lock).toBeUndefined();
  });

  test('given 3 -> 4, when the migration commits, then after CONTINUE each old node cleans up the vbuckets it lost, with the lock held until they are done', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    const run = await runLocal(definition, world, lifecycleEvent('launch', D));
    expect(run).toEqual(succeeded);
    const cleanups = world.sendCommands.filter((c) => c.Parameters.mode[0] === 'cleanup');
    expect(cleanups.map((c) => c.InstanceIds[0]).sort()).toEqual([A, B, C]);
    // Against the committed topology (epoch 3), never the migration's (epoch 2).
    expect(cleanups.map((c) => c.Parameters.epoch[0])).toEqual(['3', '3', '3']);
    expect(cleanups[0]!.Comment).toBe(`astaire cleanup of local e3`);
    for (const id of [A, B, C]) {
      expect(world.log).toContain(`cleaned ${id}@3 locked`);
      expect(world.log.indexOf(`cleaned ${id}@3 locked`)).toBeGreaterThan(world.log.indexOf(`CONTINUE ${D}`));
    }
    expect(world.lock).toBeUndefined();
    expect(world.metrics).toEqual([]);
  });

  test('given 4 -> 3, when the node leaves, then nobody cleans up (the others only gain)', async () => {
    const world = new FakeWorld([A, B, C, D]);
    world.terminate(D);
    expect(await runLocal(definition, world, lifecycleEvent('terminate', D))).toEqual(succeeded);
    expect(world.sendCommands.filter((c) => c.Parameters.mode[0] === 'cleanup')).toEqual([]);
    expect(world.lock).toBeUndefined();
  });

  test('given CONTINUE fails after the commit, then the cleanup still runs, the lock is released, nothing is rolled back or ABANDONed and the execution fails with that error', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    world.completeError = Object.assign(new Error('Auto Scaling is down'), { name: 'ServiceDown' });
    const run = await runLocal(definition, world, lifecycleEvent('launch', D));
    expect(run).toEqual({ status: 'FAILED', error: 'ServiceDown', cause: 'Auto Scaling is down' });
    expect(ids(world)).toEqual([A, B, C, D]);
    expect(world.log.filter((l) => l.startsWith('cleaned '))).toHaveLength(3);
    expect(world.completed).toEqual([]);
    expect(world.lock).toBeUndefined();
    expect(world.metrics).toEqual(['MigrationFailed']);
  });

  test('given a cleanup that fails after the commit, then the topology stays committed, the launch continues, the lock is released and the execution fails with CleanupFailed', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    world.cleanupAgent = async (req) => {
      if (req.Parameters.node[0] === B)
        throw Object.assign(new Error(`cleanup of ${B}: local memcached unreachable`), {
          name: 'CleanupFailed',
        });
      return world.succeedingCleanup(req);
    };
    const run = await runLocal(definition, world, lifecycleEvent('launch', D));
    expect(run).toEqual({
      status: 'FAILED',
      error: 'CleanupFailed',
      cause: `cleanup of ${B}: local memcached unreachable`,
    });
    expect(ids(world)).toEqual([A, B, C, D]);
    expect(world.topology!.newServers).toBeUndefined();
    expect(world.completed).toEqual([{ instanceId: D, result: 'CONTINUE' }]);
    expect(world.lock).toBeUndefined();
    expect(world.metrics).toEqual(['CleanupFailed']);
  });

  test('given 4 servers, when one terminates, then the others take its data before its termination continues', async () => {
    const world = new FakeWorld([A, B, C, D]);
    world.terminate(B);
    const run = await runLocal(definition, world, lifecycleEvent('terminate', B));
    expect(run).toEqual(succeeded);
    expect(ids(world)).toEqual([A, C, D]);
    expect(world.log.some((l) => l.startsWith('resynced '))).toBe(true);
    const lastResync = Math.max(...world.log.map((l, i) => (l.startsWith('resynced') ? i : -1)));
    expect(world.log.indexOf(`CONTINUE ${B}`)).toBeGreaterThan(lastResync);
    expect(world.completed).toEqual([{ instanceId: B, result: 'CONTINUE' }]);
    // The leaving node pushes its vbuckets to the others (one crawl of it, not one per receiver).
    expect(
      world.sendCommands.filter((c) => c.Parameters.mode[0] === 'push').map((c) => c.InstanceIds[0]),
    ).toEqual([B]);
  });

  test('given 4 servers, when one terminates and its push fails, then the migration still succeeds (the receivers pull instead)', async () => {
    const world = new FakeWorld([A, B, C, D]);
    world.terminate(B);
    world.pushAgent = async () => {
      throw Object.assign(new Error('lru_crawler stayed BUSY'), { name: 'PushFailed' });
    };
    const run = await runLocal(definition, world, lifecycleEvent('terminate', B));
    expect(run).toEqual(succeeded);
    expect(ids(world)).toEqual([A, C, D]);
    expect(world.sendCommands.some((c) => c.Parameters.mode[0] === 'push')).toBe(true);
    expect(world.completed).toEqual([{ instanceId: B, result: 'CONTINUE' }]);
  });

  test('given a group member missing from the topology, when an operator starts a manual resync, then it joins and no lifecycle action is touched', async () => {
    const world = new FakeWorld([A, B, C]);
    world.members.push({ instanceId: D, lifecycleState: 'InService' });
    const run = await runLocal(definition, world, { cluster: CLUSTER, action: 'resync' });
    expect(run).toEqual(succeeded);
    expect(ids(world)).toEqual([A, B, C, D]);
    expect(world.completed).toEqual([]);
  });

  test('given malformed input, when the execution runs, then it fails with MalformedInputError and nothing changes', async () => {
    const world = new FakeWorld([A, B, C]);
    const before = JSON.stringify(world.topology);
    const run = await runLocal(definition, world, { cluster: CLUSTER, action: 'rsync' });
    expect(run).toEqual({
      status: 'FAILED',
      error: 'MalformedInputError',
      cause: expect.stringContaining('action must be'),
    });
    expect(JSON.stringify(world.topology)).toBe(before);
    expect(world.lock).toBeUndefined();
    expect(world.log).toEqual([]);
    expect(world.metrics).toEqual(['MigrationFailed']);
  });

  test('given a launch already handled, when the same event is delivered again, then nothing moves and the duplicate succeeds', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    const event = lifecycleEvent('launch', D);
    expect(await runLocal(definition, world, event)).toEqual(succeeded);
    const after = JSON.stringify(world.topology);
    const logLength = world.log.length;
    const duplicate = await runLocal(definition, world, event);
    expect(duplicate).toEqual(succeeded);
    expect(JSON.stringify(world.topology)).toBe(after);
    expect(world.log.length).toBe(logLength);
    // D is InService now: the event no longer matches the group, so no lifecycle call is even tried.
    expect(world.completed).toEqual([{ instanceId: D, result: 'CONTINUE' }]);
    expect(world.metrics).toEqual([]);
    expect((duplicate as unknown as { output: { plan: { ignored?: string } } }).output.plan.ignored).toMatch(
      /launch event for i-0000000d, which is InService, not Pending:Wait: nothing changed/,
    );
  });

  test('given a terminate event for an instance that is InService (replayed or forged), when it runs, then nothing changes, no action is completed, and it says so', async () => {
    const world = new FakeWorld([A, B, C]);
    const before = JSON.stringify(world.topology);
    const run = await runLocal(definition, world, lifecycleEvent('terminate', B));
    expect(run).toEqual(succeeded);
    expect(JSON.stringify(world.topology)).toBe(before);
    expect(ids(world)).toEqual([A, B, C]);
    expect(world.completed).toEqual([]);
    expect(world.lock).toBeUndefined();
    expect((run as unknown as { output: { plan: { ignored?: string } } }).output.plan.ignored).toMatch(
      /terminate event for i-0000000b, which is InService, not Terminating:Wait/,
    );
  });

  test('given a server that vanished from the group without a lifecycle action, when a resync runs, then the migration records it gone so no agent waits on it', async () => {
    const world = new FakeWorld([A, B, C]);
    world.members.splice(
      world.members.findIndex((m) => m.instanceId === C),
      1,
    );
    const run = await runLocal(definition, world, { cluster: CLUSTER, action: 'resync' });
    expect(run).toEqual(succeeded);
    expect(ids(world)).toEqual([A, B]);
    expect(world.log.some((l) => / new=/.test(l) && l.includes(`gone=${C}`))).toBe(true);
  });

  test('given two instances launching within a second, when both executions run, then the second waits, both end in the topology and each continues only after its data is in place', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    world.launch(E);
    const [first, second] = await Promise.all([
      runLocal(definition, world, lifecycleEvent('launch', D)),
      runLocal(definition, world, lifecycleEvent('launch', E, '99999999-2222-3333-4444-555555555555')),
    ]);
    expect(first).toEqual(succeeded);
    expect(second).toEqual(succeeded);
    expect(ids(world).sort()).toEqual([A, B, C, D, E]);
    expect(world.lock).toBeUndefined();
    for (const id of [D, E])
      expect(world.log.indexOf(`CONTINUE ${id}`)).toBeGreaterThan(committedWith(world, id));
    // One migration moved the data of both; the other found nothing left to move.
    expect(world.log.filter((l) => l.includes(' new=')).length).toBe(1);
    expect(world.heartbeats.length).toBeGreaterThan(0);
  });

  test('given a scale-out in progress, when a scale-in arrives, then it waits, and both end with correct membership and completed actions', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    const slowAgent = world.agent;
    world.agent = async (req) => {
      await new Promise((r) => setTimeout(r, 100));
      return slowAgent(req);
    };
    const launch = runLocal(definition, world, lifecycleEvent('launch', D));
    await new Promise((r) => setTimeout(r, 30));
    world.terminate(B);
    const terminate = runLocal(definition, world, lifecycleEvent('terminate', B));
    expect(await launch).toEqual(succeeded);
    expect(await terminate).toEqual(succeeded);
    expect(ids(world).sort()).toEqual([A, C, D]);
    expect(world.completed.map((c) => `${c.result} ${c.instanceId}`).sort()).toEqual([
      `CONTINUE ${B}`,
      `CONTINUE ${D}`,
    ]);
    expect(world.log.indexOf(`CONTINUE ${D}`)).toBeGreaterThan(committedWith(world, D));
  });

  test('given an agent that fails, when a launch runs, then the old topology is restored, the lock released, the launch ABANDONed and the execution fails', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    world.agent = async () => {
      throw Object.assign(new Error('vbuckets 3, 9 had no source'), { name: 'ResyncFailed' });
    };
    const run = await runLocal(definition, world, lifecycleEvent('launch', D));
    expect(run).toEqual({ status: 'FAILED', error: 'ResyncFailed', cause: 'vbuckets 3, 9 had no source' });
    expect(ids(world)).toEqual([A, B, C]);
    expect(world.topology!.newServers).toBeUndefined();
    expect(world.topology!.epoch).toBe(3);
    expect(world.lock).toBeUndefined();
    expect(world.completed).toEqual([{ instanceId: D, result: 'ABANDON' }]);
    expect(world.metrics).toEqual(['MigrationFailed']);
    // A scale-out moves vbuckets onto the new node only: no staying node pulled, none cleans up.
    expect(world.sendCommands.filter((c) => c.Parameters.mode[0] === 'cleanup')).toEqual([]);
  });

  /** 4 servers, C vanished from the group, E launching: A, B and D pull C's vbuckets; E's agent fails last. */
  const launchFailingAfterStayersPulled = () => {
    const world = new FakeWorld([A, B, C, D]);
    world.members.splice(
      world.members.findIndex((m) => m.instanceId === C),
      1,
    );
    world.launch(E);
    const agent = world.agent;
    world.agent = async (req) => {
      if (req.Parameters.node[0] !== E) return agent(req);
      await new Promise((r) => setTimeout(r, 100));
      throw Object.assign(new Error('vbuckets 3, 9 had no source'), { name: 'ResyncFailed' });
    };
    return world;
  };

  test('given a launch whose agent fails after staying nodes pulled, when it rolls back, then each staying node that pulled cleans up against the restored topology before the lock is released, and the launch is ABANDONed', async () => {
    const world = launchFailingAfterStayersPulled();
    const run = await runLocal(definition, world, lifecycleEvent('launch', E));
    expect(run).toEqual({ status: 'FAILED', error: 'ResyncFailed', cause: 'vbuckets 3, 9 had no source' });
    expect(ids(world)).toEqual([A, B, C, D]);
    expect(world.topology!.newServers).toBeUndefined();
    const restoredAt = world.log.indexOf(`topology@3 servers=${[A, B, C, D].join(',')}`);
    expect(restoredAt).toBeGreaterThan(-1);
    const stayersThatPulled = world.sendCommands
      .filter((c) => c.Parameters.mode[0] === 'receive' && c.InstanceIds[0] !== E)
      .map((c) => c.InstanceIds[0]!)
      .sort();
    expect(stayersThatPulled.length).toBeGreaterThan(0);
    for (const id of stayersThatPulled) expect(world.log).toContain(`resynced ${id}@2`);
    const cleanups = world.sendCommands.filter((c) => c.Parameters.mode[0] === 'cleanup');
    // Only the staying nodes that were planned to pull; never E (terminated by the ABANDON) nor C.
    expect(cleanups.map((c) => c.InstanceIds[0]).sort()).toEqual(stayersThatPulled);
    expect(cleanups.map((c) => c.Parameters.epoch[0])).toEqual(stayersThatPulled.map(() => '3'));
    for (const id of stayersThatPulled)
      expect(world.log.indexOf(`cleaned ${id}@3 locked`)).toBeGreaterThan(restoredAt);
    expect(world.completed).toEqual([{ instanceId: E, result: 'ABANDON' }]);
    expect(world.lock).toBeUndefined();
    expect(world.metrics).toEqual(['MigrationFailed']);
  });

  test('given a rollback whose cleanup fails, then the failure is counted, the launch is still ABANDONed, the lock released and the execution fails with the migration error', async () => {
    const world = launchFailingAfterStayersPulled();
    let failing: string | undefined;
    world.cleanupAgent = async (req) => {
      failing ??= req.Parameters.node[0];
      if (req.Parameters.node[0] === failing)
        throw Object.assign(new Error(`cleanup of ${failing}: local memcached unreachable`), {
          name: 'CleanupFailed',
        });
      return world.succeedingCleanup(req);
    };
    const run = await runLocal(definition, world, lifecycleEvent('launch', E));
    expect(failing).toBeDefined();
    expect(run).toEqual({ status: 'FAILED', error: 'ResyncFailed', cause: 'vbuckets 3, 9 had no source' });
    expect(world.sendCommands.some((c) => c.Parameters.mode[0] === 'cleanup')).toBe(true);
    expect(ids(world)).toEqual([A, B, C, D]);
    expect(world.completed).toEqual([{ instanceId: E, result: 'ABANDON' }]);
    expect(world.lock).toBeUndefined();
    expect(world.metrics).toEqual(['CleanupFailed', 'MigrationFailed']);
  });

  test('given a failure before the plan was written (no topology), when it rolls back, then nothing is cleaned and the lock is released', async () => {
    const world = new FakeWorld([A, B, C]);
    world.topology = undefined;
    world.launch(D);
    const run = await runLocal(definition, world, lifecycleEvent('launch', D));
    expect(run).toEqual(expect.objectContaining({ status: 'FAILED', error: 'TopologyNotFoundError' }));
    expect(world.sendCommands).toEqual([]);
    expect(world.lock).toBeUndefined();
    expect(world.metrics).toEqual(['MigrationFailed']);
  });

  test('given SSM rejects the command while the agent registers, when it then succeeds, then the retry carries the launch through', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    let rejections = 2;
    const agent = world.agent;
    world.agent = async (req) => {
      if (rejections-- > 0)
        throw Object.assign(new Error('instance not registered'), { name: 'Ssm.InvalidInstanceIdException' });
      return agent(req);
    };
    expect(await runLocal(definition, world, lifecycleEvent('launch', D))).toEqual(succeeded);
    expect(ids(world)).toEqual([A, B, C, D]);
  });

  test('given SSM keeps rejecting the command, when the retries run out, then the launch is rolled back and ABANDONed', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    let calls = 0;
    world.agent = async () => {
      calls++;
      throw Object.assign(new Error('instance not registered'), { name: 'Ssm.InvalidInstanceIdException' });
    };
    const run = await runLocal(definition, world, lifecycleEvent('launch', D));
    expect(run).toEqual({
      status: 'FAILED',
      error: 'Ssm.InvalidInstanceIdException',
      cause: 'instance not registered',
    });
    expect(calls).toBe(13); // the first attempt and 12 retries
    expect(ids(world)).toEqual([A, B, C]);
    expect(world.topology!.newServers).toBeUndefined();
    expect(world.completed).toEqual([{ instanceId: D, result: 'ABANDON' }]);
  });

  test('given the launch hook expired during the move, when the workflow completes the action, then the execution still succeeds and the miss is counted', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    const agent = world.agent;
    world.agent = async (req) => {
      world.pendingActions.delete(D); // the hook timed out meanwhile
      return agent(req);
    };
    expect(await runLocal(definition, world, lifecycleEvent('launch', D))).toEqual(succeeded);
    expect(ids(world)).toEqual([A, B, C, D]);
    expect(world.metrics).toEqual(['LifecycleActionGone']);
    expect(world.completed).toEqual([]);
  });

  test('given a lock left by an execution that died, when a launch runs, then it breaks the lock, rolls back the dead migration and proceeds', async () => {
    const world = new FakeWorld([A, B, C]);
    world.topology = {
      ...world.topology!,
      epoch: 2,
      newServers: [...world.topology!.servers, { id: E, address: '10.9.9.9:11211' }],
      migration: { executionId: 'dead', startedAt: '2024-12-31T00:00:00Z' },
    };
    world.lock = { owner: 'dead', acquiredAt: '2024-12-31T00:00:00Z', expiresAt: '2025-01-01T06:00:00Z' };
    world.launch(D);
    expect(await runLocal(definition, world, lifecycleEvent('launch', D))).toEqual(succeeded);
    expect(ids(world)).toEqual([A, B, C, D]);
    expect(world.completed).toEqual([{ instanceId: D, result: 'CONTINUE' }]);
  });

  const lockError = (name: string) => Object.assign(new Error(`the lock table said ${name}`), { name });

  test('given the lock store failing twice (an SDK TimeoutError), when a launch runs, then TakeLock is retried and the launch continues with its data', async () => {
    const world = new FakeWorld([A, B, C]);
    world.lockErrors = [lockError('TimeoutError'), lockError('TimeoutError')];
    world.launch(D);
    expect(await runLocal(definition, world, lifecycleEvent('launch', D))).toEqual(succeeded);
    expect(world.lockErrors).toEqual([]);
    expect(ids(world)).toEqual([A, B, C, D]);
    expect(world.completed).toEqual([{ instanceId: D, result: 'CONTINUE' }]);
    expect(world.lock).toBeUndefined();
    expect(world.metrics).toEqual([]);
  });

  test('given the lock store failing on every attempt, when a launch runs, then the execution fails with that error, counted, and nothing is restored or ABANDONed', async () => {
    const world = new FakeWorld([A, B, C]);
    world.lockErrors = Array.from({ length: 50 }, () => lockError('TimeoutError'));
    world.launch(D);
    const before = JSON.stringify(world.topology);
    const run = await runLocal(definition, world, lifecycleEvent('launch', D));
    expect(run).toEqual({
      status: 'FAILED',
      error: 'TimeoutError',
      cause: 'the lock table said TimeoutError',
    });
    // Retried, within a bound: neither given up at once nor forever.
    expect(50 - world.lockErrors.length).toBeGreaterThan(3);
    expect(world.lockErrors.length).toBeGreaterThan(0);
    expect(JSON.stringify(world.topology)).toBe(before);
    expect(world.completed).toEqual([]);
    expect(world.pendingActions.has(D)).toBe(true);
    expect(world.metrics).toEqual(['MigrationFailed']);
  });

  test('given the lock table denying access (a permanent error), when a launch runs, then it fails at once without retries, and nothing is ABANDONed', async () => {
    const world = new FakeWorld([A, B, C]);
    world.lockErrors = Array.from({ length: 5 }, () => lockError('AccessDeniedException'));
    world.launch(D);
    const run = await runLocal(definition, world, lifecycleEvent('launch', D));
    expect(run).toMatchObject({ status: 'FAILED', error: 'AccessDeniedException' });
    expect(world.lockErrors).toHaveLength(4);
    expect(world.completed).toEqual([]);
    expect(world.metrics).toEqual(['MigrationFailed']);
  });

  test('given the keep-alive failing after the commit (Lambda TooManyRequests), when a launch runs, then the committed instance is never ABANDONed: it continues', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    world.heartbeatAfterCommitError = Object.assign(new Error('Rate exceeded'), {
      name: 'Lambda.TooManyRequestsException',
    });
    const run = await runLocal(definition, world, lifecycleEvent('launch', D));
    expect(ids(world)).toEqual([A, B, C, D]);
    expect(world.completed).toEqual([{ instanceId: D, result: 'CONTINUE' }]);
    expect(run).toEqual(succeeded);
  });

  test('given a launch whose data move failed but whose instance a committed topology already lists, when it would be abandoned, then it continues instead', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    // An operator's manual resync committed D meanwhile; this execution's own agent then fails.
    world.topology = {
      ...world.topology!,
      servers: [...world.topology!.servers, { id: D, address: `${ipOf(D)}:11211` }],
    };
    world.agent = async () => {
      throw Object.assign(new Error('agent down'), { name: 'ResyncFailed' });
    };
    world.members.push({ instanceId: E, lifecycleState: 'InService' });
    await runLocal(definition, world, lifecycleEvent('launch', D));
    expect(world.completed).toEqual([{ instanceId: D, result: 'CONTINUE' }]);
    expect(world.log.some((l) => l.startsWith('ABANDON'))).toBe(false);
  });

  test('given one node failing its resync while others still pull, when the workflow rolls back, then it asks SSM to cancel the resync commands of that migration sent by this execution', async () => {
    const world = new FakeWorld([A, B, C, D]);
    world.members.splice(
      world.members.findIndex((m) => m.instanceId === C),
      1,
    );
    world.launch(E);
    const agent = world.agent;
    world.agent = async (req) => {
      if (req.Parameters.node[0] === E)
        throw Object.assign(new Error('vbuckets 3, 9 had no source'), { name: 'ResyncFailed' });
      await new Promise((r) => setTimeout(r, 200));
      return agent(req);
    };
    const run = await runLocal(definition, world, lifecycleEvent('launch', E));
    expect(run).toMatchObject({ status: 'FAILED', error: 'ResyncFailed' });
    const receive = world.sendCommands.find((c) => c.Parameters.mode[0] === 'receive')!;
    expect(receive.Comment).toBe('astaire receive of local e2');
    expect(world.cancelRequests).toEqual([
      {
        comments: [receive.Comment, 'astaire push of local e2'],
        since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
    ]);
    // The cancel comes before the rollback: the restore does not wait on agents that still pull.
    expect(world.completed).toEqual([{ instanceId: E, result: 'ABANDON' }]);
  });

  test('given a migration that succeeds, then nothing is cancelled', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    expect(await runLocal(definition, world, lifecycleEvent('launch', D))).toEqual(succeeded);
    expect(world.cancelRequests).toEqual([]);
  });

  test('given SSM refusing the command with its generic Ssm.SsmException (a permanent error, e.g. a bad document), when a launch runs, then it is not retried: the launch is rolled back at once', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    let calls = 0;
    world.agent = async () => {
      calls++;
      throw Object.assign(new Error('document astaire-local-resync is not valid'), {
        name: 'Ssm.SsmException',
      });
    };
    const run = await runLocal(definition, world, lifecycleEvent('launch', D));
    expect(run).toMatchObject({ status: 'FAILED', error: 'Ssm.SsmException' });
    expect(calls).toBe(1);
    expect(ids(world)).toEqual([A, B, C]);
    expect(world.completed).toEqual([{ instanceId: D, result: 'ABANDON' }]);
  });

  test('given SSM throttling SendCommand, when it then accepts, then the retry carries the launch through', async () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    let rejections = 2;
    const agent = world.agent;
    world.agent = async (req) => {
      if (rejections-- > 0)
        throw Object.assign(new Error('Rate exceeded'), { name: 'Ssm.ThrottlingException' });
      return agent(req);
    };
    expect(await runLocal(definition, world, lifecycleEvent('launch', D))).toEqual(succeeded);
    expect(ids(world)).toEqual([A, B, C, D]);
  });

  test('given a launch waiting for the lock, when its lifecycle heartbeat fails, then it keeps waiting (nothing restored or ABANDONed) and continues once the lock is free', async () => {
    const world = new FakeWorld([A, B, C]);
    const other = 'arn:aws:states:us-east-1:123456789012:execution:astaire-local:other';
    world.running.add(other);
    world.lock = { owner: other, acquiredAt: '2025-01-01T00:00:00Z', expiresAt: '2025-01-01T06:00:00Z' };
    world.launch(D);
    world.heartbeatErrors = [
      Object.assign(new Error('not authorized to perform RecordLifecycleActionHeartbeat'), {
        name: 'AccessDenied',
      }),
    ];
    // The lock is freed just after the heartbeat failed.
    world.onHeartbeatError = () => {
      world.lock = undefined;
      world.running.delete(other);
    };
    const run = await runLocal(definition, world, lifecycleEvent('launch', D));
    expect(run).toEqual(succeeded);
    expect(world.completed).toEqual([{ instanceId: D, result: 'CONTINUE' }]);
    expect(world.log.some((l) => l.startsWith('ABANDON'))).toBe(false);
    expect(world.metrics).toEqual([]);
  });

  test('given 1000 nodes joining an empty cluster, when the workflow runs, then every state it passes stays within the 256 KB payload limit', async () => {
    const world = new FakeWorld([]);
    const joining = Array.from({ length: 1000 }, (_, i) => `i-${(0x10000000 + i).toString(16)}`);
    for (const id of joining) world.members.push({ instanceId: id, lifecycleState: 'InService' });
    world.agent = (req) => world.succeedingAgent(req);
    const run = await runLocal(definition, world, { cluster: CLUSTER, action: 'resync' });
    expect(run).toEqual(succeeded);
    expect(world.sendCommands.filter((c) => c.Parameters.mode[0] === 'receive')).toHaveLength(1000);
    const bytes = Buffer.byteLength(JSON.stringify((run as { output: unknown }).output));
    // The final state holds everything the execution kept (the plan's 1000 pulls included).
    expect(bytes).toBeLessThan(256 * 1024);
  }, 120_000);

  test('given the synthesized definition, when asl-validator checks it, then it reports no error', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const validator = require('asl-validator') as (d: unknown) => { isValid: boolean; errors: unknown[] };
    const result = validator(definition);
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });
});
