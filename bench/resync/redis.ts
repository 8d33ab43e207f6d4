import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../local/memcached-process';

/** CRC16-XMODEM, Redis Cluster's key -> slot hash (hash tags are not used by our keys). */
function crc16(data: Buffer): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

export function slotOf(key: Buffer): number {
  return crc16(key) % 16384;
}

/** Every redis-server this process started and has not stopped: killed on exit, whatever happens. */
const live = new Set<RedisNode>();
process.once('exit', () => {
  for (const n of live) n.stop();
});

export class RedisNode {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisNode> {
    const port = await freePort();
    // The bus port defaults to port + 10000, which may be taken (or above 65535): pick a free one too.
    const busPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'astaire-bench-redis-'));
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, 'nodes.conf'),
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'no',
        '--loglevel',
        'warning',
        // 2 cores shared by 4 servers and the loader: a generous failure-detection timeout so busy nodes are not marked failed.
        '--cluster-node-timeout',
        '15000',
        '--cluster-port',
        String(busPort),
        // Otherwise a master whose last slot moves away becomes a replica, and slots cannot be moved back to it.
        '--cluster-allow-replica-migration',
        'no',
      ],
      { stdio: 'ignore' },
    );
    const node = new RedisNode(port, child, dir);
    live.add(node);
    for (let i = 0; i < 100; i++) {
      // redis-cli exits non-zero while the server is not listening yet: that is "not yet".
      const r = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' });
      if (r.status === 0 && r.stdout.trim() === 'PONG') return node;
      await new Promise((r) => setTimeout(r, 50));
    }
    node.stop();
    throw new Error(`redis-server on ${port} did not start`);
  }

  stop(): void {
    live.delete(this);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function cli(args: string[]): string {
  const r = spawnSync('redis-cli', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Pipelined SETs over RESP to one node; resolves when every +OK arrived. */
export function loadRedis(port: number, keys: Buffer[], value: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    let ok = 0;
    let tail = '';
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      const text = tail + d.toString('latin1');
      // Answers are +OK or -ERR...: any '-' is an error (MOVED included: the loader routes by slot).
      if (text.includes('-')) {
        s.destroy();
        return reject(new Error(`redis answered ${text.slice(text.indexOf('-'), 200)}`));
      }
      ok += text.split('+OK\r\n').length - 1;
      tail = text.slice(-4);
      if (ok >= keys.length) {
        s.destroy();
        resolve();
      }
    });
    s.connect(port, '127.0.0.1', () => {
      const parts: Buffer[] = [];
      let bytes = 0;
      for (const k of keys) {
        parts.push(
          Buffer.from(`*3\r\n$3\r\nSET\r\n$${k.length}\r\n`),
          k,
          Buffer.from(`\r\n$${value.length}\r\n`),
          value,
          Buffer.from('\r\n'),
        );
        bytes += value.length + 40;
        if (bytes > 4 * 1024 * 1024) {
          s.write(Buffer.concat(parts.splice(0)));
          bytes = 0;
        }
      }
      if (parts.length > 0) s.write(Buffer.concat(parts));
      if (keys.length === 0) resolve();
    });
  });
}

/** Starts n nodes; if any fails to start, stops the ones that did. */
export async function startRedisNodes(n: number): Promise<RedisNode[]> {
  const results = await Promise.allSettled(Array.from({ length: n }, () => RedisNode.start()));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    for (const r of results) if (r.status === 'fulfilled') r.value.stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  return results.map((r) => (r as PromiseFulfilledResult<RedisNode>).value);
}

/** True when the node itself says cluster_state:ok (a node that is not ok answers CLUSTERDOWN, also to MIGRATE's RESTORE-ASKING). */
export function clusterOk(port: number): boolean {
  return cli(['-p', String(port), 'cluster', 'info']).includes('cluster_state:ok');
}

/** The node id of each node and the slot ranges each master serves, from CLUSTER NODES. */
export function clusterNodes(
  port: number,
): { id: string; port: number; flags: string; slots: [number, number][] }[] {
  return cli(['-p', String(port), 'cluster', 'nodes'])
    .trim()
    .split('\n')
    .map((line) => {
      const f = line.split(' ');
      const p = Number(f[1].split(':')[1].split('@')[0]);
      // Skip "[slot->-id]" migration markers: only plain slots and ranges.
      const slots = f
        .slice(8)
        .filter((s) => /^\d+(-\d+)?$/.test(s))
        .map((s) => {
          const [a, b] = s.split('-').map(Number);
          return [a, b ?? a] as [number, number];
        });
      return { id: f[0], port: p, flags: f[2], slots };
    });
}
