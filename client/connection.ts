import { Socket } from 'node:net';
import { parseAddress } from '../core';
import {
  ClientClosedError,
  MetaProtocolError,
  RequestTimeoutError,
  ServerError,
  ServerProtocolError,
  ServerRef,
  ServerUnavailableError,
} from './errors';
import { MetaParser, MetaReply } from './meta-parser';

export interface ConnectionOptions {
  /** A request not answered this long after it was written fails with RequestTimeoutError. */
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** After a connection fails, requests fail at once for this long instead of reconnecting each time. */
  readonly retryDelayMs: number;
  /** Requests written and not yet answered; the rest wait in memory (their timeout has not started). */
  readonly maxInFlight: number;
}

interface Pending {
  readonly parts: Buffer[];
  readonly resolve: (reply: MetaReply) => void;
  readonly reject: (error: Error) => void;
  deadline: number;
  /** Timed out: its reply, when it comes, is read and dropped, so later replies still match. */
  abandoned: boolean;
}

/** A FIFO with O(1) shift. */
class Queue<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  peek(i = 0): T | undefined {
    return this.items[this.head + i];
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    (this.items as (T | undefined)[])[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  drain(): T[] {
    const all = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return all;
  }
}

/**
 * One pipelined meta-protocol connection to one memcached server.
 *
 * Requests made in the same tick go out in one write; replies come back in order and
 * are matched first in, first out (no `q` flag is used, so every request gets exactly
 * one reply). Unlike memjs, a timeout fails only the request that timed out: its late
 * reply is read and dropped. A server that stays silent for a further timeout after
 * that is taken as hung: the socket is dropped and everything pending fails.
 * ERROR/CLIENT_ERROR or unparsable bytes also drop the socket, since memcached may have
 * read part of a request as a command and the stream can no longer be trusted.
 */
/** memcached's CLIENT_ERROR text for arithmetic on a value that is not a counter. */
const NON_NUMERIC = 'cannot increment or decrement non-numeric value';

export class MetaConnection {
  private socket?: Socket;
  private connected = false;
  private parser = new MetaParser();
  private readonly waiting = new Queue<Pending>();
  private readonly inFlight = new Queue<Pending>();
  private flushScheduled = false;
  private timer?: NodeJS.Timeout;
  private downUntil = 0;
  private downCause?: Error;
  private closed = false;
  private idle?: () => void;

  constructor(
    readonly server: ServerRef,
    private readonly options: ConnectionOptions,
  ) {}

  /** Pending requests (waiting and in flight). */
  get pending(): number {
    return this.waiting.length + this.inFlight.length;
  }

  request(parts: Buffer[]): Promise<MetaReply> {
    if (this.closed) return Promise.reject(new ClientClosedError());
    if (Date.now() < this.downUntil)
      return Promise.reject(
        new ServerUnavailableError(
          this.server,
          `marked down: ${this.downCause?.message ?? 'connection failed'}`,
          {
            cause: this.downCause,
          },
        ),
      );
    return new Promise((resolve, reject) => {
      this.waiting.push({ parts, resolve, reject, deadline: 0, abandoned: false });
      if (!this.socket) this.connect();
      else this.scheduleFlush();
    });
  }

  /** Stops taking requests, lets pending ones finish (or time out), then closes the socket. */
  close(): Promise<void> {
    this.closed = true;
    if (this.pending === 0) {
      this.destroy();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.idle = () => {
        this.destroy();
        resolve();
      };
    });
  }

  private connect(): void {
    const address = parseAddress(this.server.address);
    if (!address) {
      const error = new ServerUnavailableError(this.server, 'address is not host:port');
      this.downUntil = Date.now() + this.options.retryDelayMs;
      this.downCause = error;
      for (const p of this.waiting.drain()) p.reject(error);
      return;
    }
    const socket = new Socket();
    this.socket = socket;
    this.connected = false;
    this.parser = new MetaParser();
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    // Checked after the poll phase (setImmediate): when the event loop was blocked longer than the
    // timeout, a connection that did succeed is seen before it is declared timed out.
    const connectTimer = setTimeout(
      () =>
        setImmediate(() => {
          if (this.socket === socket && !this.connected)
            this.fail(
              new ServerUnavailableError(
                this.server,
                `connect timed out after ${this.options.connectTimeoutMs} ms`,
              ),
              socket,
            );
        }),
      this.options.connectTimeoutMs,
    );
    socket.once('connect', () => {
      clearTimeout(connectTimer);
      if (this.socket !== socket) return;
      this.connected = true;
      this.scheduleFlush();
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk, socket));
    socket.on('error', (cause) => {
      clearTimeout(connectTimer);
      this.fail(
        new ServerUnavailableError(this.server, `connection failed: ${cause.message}`, { cause }),
        socket,
      );
    });
    socket.on('close', () => {
      clearTimeout(connectTimer);
      this.fail(new ServerUnavailableError(this.server, 'connection closed by the server'), socket);
    });
    socket.connect(address.port, address.host);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || !this.connected) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const socket = this.socket;
    if (!socket || !this.connected) return;
    const parts: Buffer[] = [];
    const deadline = Date.now() + this.options.requestTimeoutMs;
    while (this.waiting.length > 0 && this.inFlight.length < this.options.maxInFlight) {
      const p = this.waiting.shift() as Pending;
      p.deadline = deadline;
      this.inFlight.push(p);
      for (const part of p.parts) parts.push(part);
    }
    if (parts.length === 0) return;
    socket.write(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    this.ensureTimer();
  }

  private onData(chunk: Buffer, socket: Socket): void {
    if (this.socket !== socket) return;
    try {
      this.parser.feed(chunk, (reply) => this.onReply(reply, socket));
    } catch (error) {
      const cause = error as Error;
      const wrapped =
        error instanceof MetaProtocolError
          ? new ServerProtocolError(this.server, cause.message, { cause })
          : new ServerError(this.server, cause.message, { cause });
      this.fail(wrapped, socket);
    }
    if (this.waiting.length > 0) this.scheduleFlush();
  }

  private onReply(reply: MetaReply, socket: Socket): void {
    if (this.socket !== socket) return;
    const p = this.inFlight.shift();
    if (!p) throw new MetaProtocolError(`reply ${reply.type} to no request`);
    // memcached read the whole `ma` line before refusing a non-counter: the stream is intact.
    const nonNumeric = reply.type === 'CLIENT_ERROR' && reply.message.startsWith(NON_NUMERIC);
    if ((reply.type === 'ERROR' || reply.type === 'CLIENT_ERROR') && !nonNumeric) {
      const text = reply.type === 'ERROR' ? 'ERROR' : `CLIENT_ERROR ${reply.message}`;
      if (!p.abandoned) p.reject(new ServerProtocolError(this.server, `server answered ${text}`));
      this.fail(new ServerProtocolError(this.server, `connection reset after ${text}`), socket, false);
      return;
    }
    if (!p.abandoned) p.resolve(reply);
    this.ensureTimer();
    this.checkIdle();
  }

  private ensureTimer(): void {
    if (this.timer || this.inFlight.length === 0) return;
    const head = this.inFlight.peek() as Pending;
    this.startTimer(head.deadline - Date.now());
  }

  private startTimer(ms: number): void {
    // onTimer runs after the poll phase, so replies that arrived while the event loop was
    // blocked are read before anything is declared timed out.
    this.timer = setTimeout(
      () =>
        setImmediate(() => {
          this.timer = undefined;
          this.onTimer();
        }),
      Math.max(1, ms),
    );
    this.timer.unref();
  }

  /** Times out overdue requests; drops the socket when the oldest stays unanswered a further timeout. */
  private onTimer(): void {
    const head = this.inFlight.peek();
    if (!head) return;
    const now = Date.now();
    const hungAt = head.deadline + this.options.requestTimeoutMs;
    if (head.abandoned && now >= hungAt) {
      this.fail(
        new ServerUnavailableError(
          this.server,
          `no reply for ${2 * this.options.requestTimeoutMs} ms; connection reset`,
        ),
      );
      return;
    }
    let next = hungAt;
    for (let i = 0; i < this.inFlight.length; i++) {
      const p = this.inFlight.peek(i) as Pending;
      if (p.abandoned) continue;
      if (p.deadline > now) {
        next = Math.min(next, p.deadline);
        break;
      }
      p.abandoned = true;
      p.reject(new RequestTimeoutError(this.server, this.options.requestTimeoutMs));
    }
    this.startTimer(next - now);
  }

  /**
   * Drops the socket and fails every pending request with `error`.
   * `markDown`: refuse requests for retryDelayMs (connection failures, not protocol errors).
   */
  private fail(error: ServerError, socket: Socket | undefined = this.socket, markDown = true): void {
    if (socket !== this.socket || !socket) return;
    if (markDown) {
      this.downUntil = Date.now() + this.options.retryDelayMs;
      this.downCause = error;
    }
    this.destroy();
    for (const p of [...this.inFlight.drain(), ...this.waiting.drain()]) if (!p.abandoned) p.reject(error);
    this.checkIdle();
  }

  private destroy(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    this.connected = false;
    socket?.destroy();
  }

  private checkIdle(): void {
    if (this.idle && this.pending === 0) {
      const idle = this.idle;
      this.idle = undefined;
      idle();
    }
  }
}
