import { Socket } from 'node:net';
import { parseAddress } from '../core';
import { ConnectionError, ConnectionTimeoutError } from './errors';

export interface ConnectionOptions {
  /** Give up connecting after this long. @default 3000 */
  readonly connectTimeoutMs?: number;
  /** Fail when the peer sends nothing for this long while an answer is awaited. @default 10000 */
  readonly ioTimeoutMs?: number;
}

/**
 * One TCP connection to memcached with timeouts on connect and on every awaited
 * answer, so a dead or hung peer becomes an error instead of a hang. Bytes go to
 * `onData`; the owner decides (through `awaiting`) when silence is a failure,
 * because a connection we paused ourselves is silent on purpose.
 */
export class MemcachedConnection {
  /** Set by the owner while it waits for an answer; silence then counts as a timeout. */
  awaiting: () => boolean = () => true;
  private failure: Error | undefined;
  private readonly failHandlers: ((error: Error) => void)[] = [];
  private closedByUs = false;

  private constructor(
    readonly address: string,
    private readonly socket: Socket,
    private readonly ioTimeoutMs: number,
  ) {}

  static connect(address: string, options: ConnectionOptions = {}): Promise<MemcachedConnection> {
    const parsed = parseAddress(address);
    if (!parsed) return Promise.reject(new ConnectionError(address, 'address is not host:port'));
    const connectTimeoutMs = options.connectTimeoutMs ?? 3000;
    const ioTimeoutMs = options.ioTimeoutMs ?? 10000;
    return new Promise((resolve, reject) => {
      const socket = new Socket();
      const conn = new MemcachedConnection(address, socket, ioTimeoutMs);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectionTimeoutError(address, `no connection within ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(new ConnectionError(address, `cannot connect: ${error.message}`, { cause: error }));
      });
      socket.connect(parsed.port, parsed.host, () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        // Node arms this timer once per silence (only I/O re-arms it), and setTimeout's callback is a
        // once-listener: listen for good, and re-arm a silence we excused (we had paused, or awaited
        // nothing) so that it is still caught if it goes on once we await again.
        socket.setTimeout(ioTimeoutMs);
        socket.on('timeout', () => {
          if (conn.awaiting() && !socket.isPaused())
            conn.fail(new ConnectionTimeoutError(address, `no answer within ${ioTimeoutMs} ms`));
          else socket.setTimeout(ioTimeoutMs);
        });
        socket.on('error', (error) =>
          conn.fail(new ConnectionError(address, error.message, { cause: error })),
        );
        socket.on('close', () => {
          if (!conn.closedByUs) conn.fail(new ConnectionError(address, 'connection closed by the server'));
        });
        resolve(conn);
      });
    });
  }

  onData(handler: (chunk: Buffer) => void): void {
    this.socket.on('data', (chunk: Buffer) => {
      if (this.failure) return;
      try {
        handler(chunk);
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /** Called once with the first failure (never after `close`). */
  onFail(handler: (error: Error) => void): void {
    if (this.failure) handler(this.failure);
    else this.failHandlers.push(handler);
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  /**
   * Queues bytes; false when the kernel buffer is full (wait for `drain`). `written` runs once the socket
   * is done with `data` (sent, or failed): only then may its bytes change. Never called when the
   * connection has already failed or been closed.
   */
  write(data: Buffer | string, written?: () => void): boolean {
    if (this.failure || this.closedByUs) return false;
    return written ? this.socket.write(data, () => written()) : this.socket.write(data);
  }

  /** Between cork and uncork, writes are gathered into one writev: one syscall instead of one per buffer. */
  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  onDrain(handler: () => void): void {
    this.socket.on('drain', handler);
  }

  pause(): void {
    this.socket.pause();
  }

  /** Resumes reading; the peer's silence counts from now (it may have been waiting for us). */
  resume(): void {
    this.socket.resume();
    this.socket.setTimeout(this.ioTimeoutMs);
  }

  get paused(): boolean {
    return this.socket.isPaused();
  }

  fail(error: Error): void {
    if (this.failure || this.closedByUs) return;
    this.failure = error;
    this.socket.destroy();
    for (const h of this.failHandlers.splice(0)) h(error);
  }

  close(): void {
    this.closedByUs = true;
    this.socket.destroy();
  }
}

/** Sends one request and collects the answer until `done(text)` says it is complete. */
export async function request(
  address: string,
  command: string,
  done: (text: string) => boolean,
  options: ConnectionOptions = {},
): Promise<string> {
  const conn = await MemcachedConnection.connect(address, options);
  try {
    return await new Promise<string>((resolve, reject) => {
      let text = '';
      conn.onFail(reject);
      conn.onData((chunk) => {
        text += chunk.toString('latin1');
        if (done(text)) resolve(text);
      });
      conn.write(command);
    });
  } finally {
    conn.close();
  }
}
