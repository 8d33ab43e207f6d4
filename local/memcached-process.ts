import { ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { delimiter, join } from 'node:path';

/** memcached is not installed, or would not start. */
export class MemcachedUnavailableError extends Error {
  override readonly name = 'MemcachedUnavailableError';
}

export interface MemcachedOptions {
  /** Loopback address to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** Port; a free one is picked when absent. */
  readonly port?: number;
  /** Cache size in MiB (-m). @default 64 */
  readonly memoryMb?: number;
  /** Largest item (-I), e.g. '1m'. @default memcached's own (1 MiB) */
  readonly maxItemSize?: string;
  /** Worker threads (-t). @default 2 */
  readonly threads?: number;
  /**
   * `-L`: the cache as one allocation on transparent huge pages, as the AWS nodes run it, when the kernel
   * allows them (memcached 1.6.18 refuses to start with `-L` otherwise; see largePagesAvailable). Filling
   * a fresh memcached then costs ~1k page faults instead of ~150k per 500 MB. It also reserves one 1 MB
   * page per slab class at start, so leave it off for small test caches. @default false
   */
  readonly largePages?: boolean;
  /** How long to wait for it to answer. @default 5000 */
  readonly startTimeoutMs?: number;
  /** Directories to look for the memcached binary in. @default defaultSearchPath() */
  readonly searchPath?: readonly string[];
  /**
   * Outlive this process (`astaire local up`): its own process group, no pipes, and not killed
   * when this process exits. Stop it later by pid with {@link stopPid}.
   * @default false
   */
  readonly detached?: boolean;
}

/**
 * Whether memcached's `-L` can work here: 1.6.18 checks the kernel's transparent huge page setting and
 * exits at once when it is missing or `[never]`.
 */
export function largePagesAvailable(
  setting = '/sys/kernel/mm/transparent_hugepage/enabled',
  read: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): boolean {
  try {
    return !read(setting).includes('[never]');
  } catch {
    return false;
  }
}

/** Where memcached is looked for: PATH, then where Debian and source installs put it. */
export function defaultSearchPath(): string[] {
  return [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin', '/usr/sbin'];
}

/** Finds the memcached binary; throws a one-line install instruction when absent. */
export function memcachedBinary(dirs: readonly string[] = defaultSearchPath()): string {
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'memcached');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new MemcachedUnavailableError(
    'memcached is not installed: run `apt-get install -y memcached` (Debian) and try again',
  );
}

/** A free TCP port on `host`, as the kernel hands it out. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** One real memcached process, listening on loopback (TCP only, UDP off). */
export class MemcachedProcess {
  private child?: ChildProcess;
  private exited?: Promise<void>;

  private constructor(
    readonly host: string,
    readonly port: number,
    private readonly options: MemcachedOptions,
  ) {}

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts memcached and resolves once it answers `version`. Retries on a port taken meanwhile. */
  static async start(options: MemcachedOptions = {}): Promise<MemcachedProcess> {
    memcachedBinary(options.searchPath); // fail at once, with the install instruction, when it is missing
    const host = options.host ?? '127.0.0.1';
    // A port picked by us can be taken before memcached binds it: pick another, a few times.
    const attempts = options.port === undefined ? 5 : 1;
    for (let attempt = 1; ; attempt++) {
      const proc = new MemcachedProcess(host, options.port ?? (await freePort(host)), options);
      try {
        await proc.spawn();
        return proc;
      } catch (error) {
        await proc.stop();
        if (attempt >= attempts) throw error;
      }
    }
  }

  /** Starts it again on the same port (empty, as a restarted memcached is). */
  async restart(): Promise<void> {
    await this.stop();
    await this.spawn();
  }

  private async spawn(): Promise<void> {
    const args = [
      '-l',
      this.host,
      '-p',
      String(this.port),
      '-U',
      '0',
      '-m',
      String(this.options.memoryMb ?? 64),
    ];
    args.push('-t', String(this.options.threads ?? 2));
    if (this.options.largePages && largePagesAvailable()) args.push('-L');
    if (this.options.maxItemSize) args.push('-I', this.options.maxItemSize);
    if (process.getuid?.() === 0) args.push('-u', 'root');
    const detached = this.options.detached ?? false;
    const child = spawn(memcachedBinary(this.options.searchPath), args, {
      stdio: ['ignore', 'ignore', detached ? 'ignore' : 'pipe'],
      detached,
    });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 4096) stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (e) =>
        reject(new MemcachedUnavailableError(`memcached failed to start: ${e.message}`)),
      );
      child.once('exit', (code, signal) =>
        reject(
          new MemcachedUnavailableError(
            `memcached on ${this.address} exited (${signal ?? code}) while starting: ${stderr.trim() || 'no output'}`,
          ),
        ),
      );
    });
    failed.catch(() => undefined);
    await Promise.race([this.waitUntilAnswering(this.options.startTimeoutMs ?? 5000), failed]);
    if (detached) child.unref();
    else liveProcesses.add(this);
  }

  private async waitUntilAnswering(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await answersVersion(this.host, this.port)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new MemcachedUnavailableError(`memcached on ${this.address} did not answer within ${timeoutMs} ms`);
  }

  /** Stops it (SIGTERM, then SIGKILL after 2 s) and waits for the exit. */
  async stop(): Promise<void> {
    liveProcesses.delete(this);
    const child = this.child;
    if (!child) return;
    if (!this.running) return void (await this.exited);
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Kills it at once, as a crash would. */
  async kill(): Promise<void> {
    liveProcesses.delete(this);
    if (!this.child || !this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Stops a memcached by pid (SIGTERM, then SIGKILL after 2 s); true when it was running. */
export async function stopPid(pid: number): Promise<boolean> {
  if (!isAlive(pid)) return false;
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < 2000; waited += 50) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  return true;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (dead, not yet reaped by its parent) still answers signal 0.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** True when something answers memcached's `version` on host:port. */
export function answersVersion(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => socket.write('version\r\n'));
    socket.on('data', (d: Buffer) => done(d.toString().startsWith('VERSION')));
  });
}

// Never leave a memcached behind when this process exits, whatever the reason.
const liveProcesses = new Set<MemcachedProcess>();
process.once('exit', () => {
  for (const p of liveProcesses)
    if (p.pid)
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
});
