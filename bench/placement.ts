import { Placement, Routing, vbucketOf } from '../core';
import { median } from './stats';

const RUNS = 15;

/** Time to compute a 64-server cluster's full placement (target < 50 ms; clients cache it per epoch). */
export async function runPlacementBench(): Promise<void> {
  const ids = Array.from(
    { length: 65 },
    (_, i) =>
      `i-0${(0x1a2b3c4d + i * 0x9e37).toString(16)}${((i * 2654435761) >>> 0).toString(16).padStart(8, '0')}`,
  );
  const servers = ids.map((id, i) => ({ id, address: `10.0.${i >> 8}.${i & 255}:11211` }));
  const times: number[] = [];
  const migrating: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let t = process.hrtime.bigint();
    new Placement(ids.slice(0, 64), 16384, 2);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    t = process.hrtime.bigint();
    new Routing({
      cluster: 'bench',
      epoch: 1,
      vbuckets: 16384,
      replicas: 2,
      servers: servers.slice(0, 64),
      newServers: servers,
    });
    migrating.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const keys = 1_000_000;
  const t = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < keys; i++) sink += vbucketOf(`user:${i}:session`, 16384);
  const keyNs = Number(process.hrtime.bigint() - t) / keys;
  console.log(
    `placement: 64 servers x 16384 vbuckets x 2 replicas: median ${median(times).toFixed(2)} ms over ${RUNS} runs (target < 50 ms)`,
  );
  console.log(
    `placement: routing during a 64 -> 65 migration (two placements): median ${median(migrating).toFixed(2)} ms`,
  );
  console.log(`placement: key -> vbucket: ${keyNs.toFixed(0)} ns per key (${keys} keys, checksum ${sink})`);
}
