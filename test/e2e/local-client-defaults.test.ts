import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { AstaireClient, ClusterTopologySource, FileTopologySource } from '../../client';
import { tempDir } from '../support/temp-dirs';

// Issue 11, case 7: a client left at its defaults must not miss a local migration. The workflow
// waits before the agents start; a client that had not seen the new topology by then writes to the
// old replicas only, and the new ones keep the value the agent copied (stale) or a deleted key.
jest.setTimeout(180_000);
const run = promisify(execFile);
const cli = resolve(__dirname, '..', '..', 'dist', 'cli', 'astaire.js');
const stateDir = tempDir('astaire-local-defaults-');
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
const KEYS = 3000;

async function astaire(...args: string[]): Promise<number> {
  try {
    await run(process.execPath, [cli, 'local', ...args, '--state-dir', stateDir], { env, timeout: 120_000 });
    return 0;
  } catch (error) {
    return (error as { code: number }).code;
  }
}

afterAll(async () => {
  if (existsSync(join(stateDir, 'session.json'))) await astaire('down');
});

it('given a client at its defaults writing and deleting during a local 3 -> 4, then after it no value is stale and no delete is undone', async () => {
  expect(await astaire('up', '--nodes', '3')).toBe(0);
  const file = new FileTopologySource(join(stateDir, 'local.topology.json'));
  // Every option at its default: the topology from the nodes, the local Parameter Store file to bootstrap.
  const client = await AstaireClient.open({ source: new ClusterTopologySource({ bootstrap: file }) });
  const key = (i: number) => `defaults:${i}`;
  /** The last operation on each key: its value, or null once deleted. */
  const last = new Map<string, string | null>();
  try {
    for (let i = 0; i < KEYS; i += 100)
      await Promise.all(
        Array.from({ length: 100 }, async (_, j) => {
          await client.set(key(i + j), 'v0');
          last.set(key(i + j), 'v0');
        }),
      );

    const scale = spawn(process.execPath, [cli, 'local', 'scale', '4', '--state-dir', stateDir], {
      env,
      stdio: 'ignore',
    });
    let scaling = true;
    const scaled = new Promise<number | null>((ok) =>
      scale.once('close', (code) => {
        scaling = false;
        ok(code);
      }),
    );
    // Rounds over every key while the scaling runs (bounded: 120 s), each key's operations in order.
    const deadline = Date.now() + 120_000;
    for (let round = 1; scaling && Date.now() < deadline; round++)
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
    expect(await scaled).toBe(0);
  } finally {
    await client.close();
  }

  const reader = await AstaireClient.open({ source: file, pollIntervalMs: 0 });
  let stale = 0;
  let resurrected = 0;
  try {
    expect(reader.topology.servers).toHaveLength(4);
    for (const [k, want] of last) {
      const got = await reader.get(k);
      if (want === null && got) resurrected++;
      else if (want !== null && got?.value.toString() !== want) stale++;
    }
  } finally {
    await reader.close();
  }
  expect({ stale, resurrected }).toEqual({ stale: 0, resurrected: 0 });
});
