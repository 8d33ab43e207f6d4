import { SSMClient } from '@aws-sdk/client-ssm';
import { AstaireClient, AstaireClientOptions } from './astaire-client';
import { FlushRefusedError } from './errors';
import { ClusterTopologySource } from './cluster-source';
import { ParameterStoreTopologySource } from './parameter-store-source';

/**
 * A drop-in for the memjs calls applications use, routed through the cluster's topology:
 * replace `import * as memjs from 'memjs'` with `import * as memjs from 'astaire-aws/memjs'`
 * and give `Client.create` the cluster name instead of a server list.
 *
 * Each method takes a callback (memjs' `(err, ...results)` order) or returns a promise of
 * memjs' result shape. Differences: `flush` is refused (FlushRefusedError); counters are exact
 * up to 2^53 (memjs garbles those from 2^32); client flags written by other clients are returned
 * as memjs returns them, 4 bytes big-endian.
 */

type Callback<T extends unknown[]> = (err: Error | null, ...results: T) => void;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCallback = (err: Error | null, ...results: any[]) => void;
type Input = string | Buffer;

export interface InsertOptions {
  /** Seconds until it expires; 0 never. @default the client's `expires` */
  readonly expires?: number;
}
export interface IncrementDecrementOptions extends InsertOptions {
  /** The value a missing key is created with (the amount is not applied then). @default 0 */
  readonly initial?: number;
}
export interface ClientOptions extends Partial<Omit<AstaireClientOptions, 'source'>> {
  /** Default expiry of every write, as memjs' `expires`. @default 0 (never) */
  readonly expires?: number;
  /**
   * Where the topology comes from. @default the cluster's nodes, bootstrapped once from Parameter Store
   * (`/astaire/<cluster>/topology`)
   */
  readonly source?: AstaireClientOptions['source'];
}

export class Client {
  private readonly opening: Promise<AstaireClient>;
  private readonly expires: number;

  /**
   * `Client.create('sessions')`: the cluster's topology from its nodes, bootstrapped from Parameter Store
   * (region from the environment) once, and again only when no node answers.
   */
  static create(cluster?: string, options: ClientOptions = {}): Client {
    const source =
      options.source ??
      new ClusterTopologySource({
        bootstrap: new ParameterStoreTopologySource({ ssm: new SSMClient({}), cluster: cluster ?? '' }),
      });
    return new Client(source, options);
  }

  private constructor(source: AstaireClientOptions['source'], options: ClientOptions) {
    const { expires, ...clientOptions } = options;
    this.expires = expires ?? 0;
    this.opening = AstaireClient.open({ ...clientOptions, source });
    // Failures reach the first call; no unhandled rejection in between.
    this.opening.catch(() => undefined);
  }

  get(key: string): Promise<{ value: Buffer | null; flags: Buffer | null }>;
  get(key: string, callback: Callback<[Buffer | null, Buffer | null]>): void;
  get(key: string, callback?: AnyCallback): Promise<unknown> | void {
    const result = this.with(async (c) => {
      const item = await c.get(key);
      if (!item) return { value: null, flags: null };
      const flags = Buffer.alloc(4);
      flags.writeUInt32BE(item.flags);
      return { value: item.value, flags };
    });
    return this.settle(result, callback, (r) => [r.value, r.flags]);
  }

  set(key: string, value: Input, options?: InsertOptions): Promise<boolean>;
  set(key: string, value: Input, callback: Callback<[boolean | null]>): void;
  set(key: string, value: Input, options: InsertOptions, callback: Callback<[boolean | null]>): void;
  set(key: string, value: Input, ...rest: unknown[]): Promise<unknown> | void {
    const [options, callback] = split<InsertOptions>(rest);
    return this.settle(
      this.with(async (c) => (await c.set(key, value, { ttl: this.ttl(options) }), true)),
      callback,
      (r) => [r],
    );
  }

  add(key: string, value: Input, options?: InsertOptions): Promise<boolean>;
  add(key: string, value: Input, callback: Callback<[boolean | null]>): void;
  add(key: string, value: Input, options: InsertOptions, callback: Callback<[boolean | null]>): void;
  add(key: string, value: Input, ...rest: unknown[]): Promise<unknown> | void {
    const [options, callback] = split<InsertOptions>(rest);
    return this.settle(
      this.with((c) => c.add(key, value, { ttl: this.ttl(options) })),
      callback,
      (r) => [r],
    );
  }

  replace(key: string, value: Input, options?: InsertOptions): Promise<boolean>;
  replace(key: string, value: Input, callback: Callback<[boolean | null]>): void;
  replace(key: string, value: Input, options: InsertOptions, callback: Callback<[boolean | null]>): void;
  replace(key: string, value: Input, ...rest: unknown[]): Promise<unknown> | void {
    const [options, callback] = split<InsertOptions>(rest);
    return this.settle(
      this.with((c) => c.replace(key, value, { ttl: this.ttl(options) })),
      callback,
      (r) => [r],
    );
  }

  delete(key: string): Promise<boolean>;
  delete(key: string, callback: Callback<[boolean | null]>): void;
  delete(key: string, callback?: AnyCallback): Promise<unknown> | void {
    return this.settle(
      this.with((c) => c.delete(key)),
      callback,
      (r) => [r],
    );
  }

  touch(key: string, expires?: number): Promise<boolean>;
  touch(key: string, expires: number, callback: Callback<[boolean | null]>): void;
  touch(key: string, expires?: number, callback?: AnyCallback): Promise<unknown> | void {
    return this.settle(
      this.with((c) => c.touch(key, this.ttl({ expires }))),
      callback,
      (r) => [r],
    );
  }

  increment(
    key: string,
    amount: number,
    options?: IncrementDecrementOptions,
  ): Promise<{ success: boolean; value?: number | null }>;
  increment(key: string, amount: number, callback: Callback<[boolean | null, number | null]>): void;
  increment(
    key: string,
    amount: number,
    options: IncrementDecrementOptions,
    callback: Callback<[boolean | null, number | null]>,
  ): void;
  increment(key: string, amount: number, ...rest: unknown[]): Promise<unknown> | void {
    return this.arithmetic('increment', key, amount, rest);
  }

  decrement(
    key: string,
    amount: number,
    options?: IncrementDecrementOptions,
  ): Promise<{ success: boolean; value?: number | null }>;
  decrement(key: string, amount: number, callback: Callback<[boolean | null, number | null]>): void;
  decrement(
    key: string,
    amount: number,
    options: IncrementDecrementOptions,
    callback: Callback<[boolean | null, number | null]>,
  ): void;
  decrement(key: string, amount: number, ...rest: unknown[]): Promise<unknown> | void {
    return this.arithmetic('decrement', key, amount, rest);
  }

  /** Refused: flushing would empty every node of the cluster, for every application using it. */
  flush(): Promise<Record<string, boolean>>;
  flush(callback: (err: Error | null, results: Record<string, boolean | Error>) => void): void;
  flush(
    callback?: (err: Error | null, results: Record<string, boolean | Error>) => void,
  ): Promise<unknown> | void {
    const error = new FlushRefusedError(
      'astaire-aws/memjs: flush is refused: it would empty every node of the cluster for every application; delete the keys you own, or let them expire',
    );
    if (!callback) return Promise.reject(error);
    queueMicrotask(() => callback(error, {}));
  }

  /** Closes every connection (memjs' close; pending requests fail). */
  close(): void {
    void this.opening.then((c) => c.close()).catch(() => undefined);
  }

  /** memjs' quit: the same as close here. */
  quit(): void {
    this.close();
  }

  private arithmetic(direction: 'increment' | 'decrement', key: string, amount: number, rest: unknown[]) {
    const [options, callback] = split<IncrementDecrementOptions>(rest);
    const result = this.with(async (c) => {
      const value = await c[direction](key, amount, {
        initial: options?.initial ?? 0,
        ttl: this.ttl(options),
      });
      return { success: true, value: value === undefined ? null : Number(value) };
    });
    return this.settle(result, callback, (r) => [r.success, r.value]);
  }

  private ttl(options: InsertOptions | undefined): number {
    return options?.expires || this.expires;
  }

  private async with<T>(op: (client: AstaireClient) => Promise<T>): Promise<T> {
    return op(await this.opening);
  }

  /** The promise, or (with a callback) memjs' `callback(err, ...results)` and undefined. */
  private settle<T>(
    result: Promise<T>,
    callback: AnyCallback | undefined,
    spread: (value: T) => unknown[],
  ): Promise<T> | undefined {
    if (!callback) return result;
    result.then(
      (value) => callback(null, ...spread(value)),
      (error: Error) => callback(error, null, null),
    );
    return undefined;
  }
}

/** memjs' optional `options` before an optional callback. */
function split<O>(rest: unknown[]): [O | undefined, AnyCallback | undefined] {
  const [first, second] = rest;
  if (typeof first === 'function') return [undefined, first as AnyCallback];
  return [first as O | undefined, second as AnyCallback | undefined];
}
