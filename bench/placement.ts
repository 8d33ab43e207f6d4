import {
  beginMigration,
  commitMigration,
  emptyTopology,
  placementOf,
  planMigration,
  planPushes,
  Routing,
  serializeTopology,
  Server,
  splitTopology,
  Topology,
  vbucketOf,
} from '../core';
import { migrationHistoryEvents } from '../lambdas/history-budget';
import { median } from './stats';

const RUNS = 15;
const owner = { executionId: 'bench', startedAt: '2026-11-27T00:00:00Z' };

/** `n` EC2-like servers spread over 3 zones. */
function fleet(n: number): Server[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `i-0${(0x1a2b3c4d + i * 0x9e37).toString(16)}${((i * 2654435761) >>> 0).toString(16).padStart(8, '0')}`,
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:11211`,
    zone: `eu-west-1${'abc'[i % 3]}`,
  }));
}

function timed<T>(f: () => T): [T, number] {
  const t = process.hrtime.bigint();
  const out = f();
  return [out, Number(process.hrtime.bigint() - t) / 1e6];
}

function medianOf(f: () => unknown): number {
  return median(Array.from({ length: RUNS }, () => timed(f)[1]));
}

/**
 * What the workflow runs for one migration (docs/scale.md): the agent commands (receivers that pull,
 * sources that push, nodes that clean up after the commit; each one SendCommand and one Map iteration)
 * and the history events PlanMigration counts for it against the execution's budget.
 */
function workflowLoad(migrating: Topology, added: number): string {
  const plan = planMigration(migrating);
  const pushes = planPushes(plan, migrating).pushes.length;
  const commands = plan.pulls.length + pushes + plan.cleanups.length;
  const events = migrationHistoryEvents({
    pulls: plan.pulls.length,
    cleanups: plan.cleanups.length,
    added,
    pushes,
  });
  return `${plan.pulls.length} receivers, ${pushes} pushers, ${plan.cleanups.length} cleanups = ${commands} agent commands, ${events} history events`;
}

/**
 * Client routing time (what a client computes once per epoch: target < 200 ms at 1000 servers), the
 * planner's time, and the topology's size in Parameter Store, at 64, 1000 and 10000 servers.
 */
export async function runPlacementBench(): Promise<void> {
  for (const n of [64, 1000, 10_000]) {
    const all = fleet(n + 1);
    const [stable, fresh] = timed(() =>
      commitMigration(beginMigration(emptyTopology('bench'), all.slice(0, n), owner)),
    );
    const [migrating, plan] = timed(() => beginMigration(stable, all, owner));
    const runs = n > 1000 ? 3 : RUNS;
    const routing = median(Array.from({ length: runs }, () => timed(() => new Routing(stable))[1]));
    const both = median(Array.from({ length: runs }, () => timed(() => new Routing(migrating))[1]));
    const rendezvous: Topology = { ...stable, map: undefined };
    const hashed = n > 1000 ? NaN : medianOf(() => placementOf(rendezvous));
    const json = serializeTopology(migrating);
    const parts = splitTopology(json, migrating.cluster, migrating.epoch).parts.length;
    console.log(
      `placement: ${n} servers in 3 zones, 16384 vbuckets x 2: client routing ${routing.toFixed(1)} ms (map), ${both.toFixed(1)} ms during a migration (two maps)` +
        `${Number.isNaN(hashed) ? '' : `, rendezvous without a map ${hashed.toFixed(1)} ms`} (target < 200 ms at 1000)`,
    );
    console.log(
      `placement: ${n} servers: planner ${fresh.toFixed(0)} ms for a new cluster, ${plan.toFixed(0)} ms for ${n} -> ${n + 1}; map ${stable.map!.length} chars; ` +
        `topology ${Buffer.byteLength(serializeTopology(stable))} bytes stable, ${Buffer.byteLength(json)} bytes migrating = ${parts} parameter parts (of 100)`,
    );
  }
  // A leaving server's slots (2 x 16384 / N) go to as many receivers, at most N - 1: the most near 181.
  for (const n of [10, 100, 181, 1000, 10_000]) {
    const all = fleet(n + 1);
    const stable = commitMigration(beginMigration(emptyTopology('bench'), all.slice(0, n), owner));
    const growing = beginMigration(stable, all, owner);
    const shrinking = beginMigration(commitMigration(growing), all.slice(0, n), owner);
    console.log(
      `placement: workflow for ${n} -> ${n + 1}: ${workflowLoad(growing, 1)}; for ${n + 1} -> ${n}: ${workflowLoad(shrinking, 0)}`,
    );
  }
  const keys = 1_000_000;
  const t = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < keys; i++) sink += vbucketOf(`user:${i}:session`, 16384);
  const keyNs = Number(process.hrtime.bigint() - t) / keys;
  console.log(`placement: key -> vbucket: ${keyNs.toFixed(0)} ns per key (${keys} keys, checksum ${sink})`);
}
