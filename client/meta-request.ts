import { Key, keyBytes, TOMBSTONE_FLAGS, TOMBSTONE_VALUE } from '../core';
import { InvalidKeyError, KeyTooLongError } from './errors';

/**
 * Meta-protocol requests, as bytes. Pure: no sockets here.
 *
 * Keys: memcached's limit is 250 bytes. A key of printable bytes (no space, no
 * control byte, no DEL; UTF-8 is fine) is sent as it is. Any other key is sent
 * base64-encoded with the `b` flag; memcached 1.6.18 checks the *encoded* length
 * against 250, so such keys are limited to 186 bytes. Either way the stored key is
 * the same bytes, so the agent's copies (which use `b`) find the same items.
 */
export const MAX_KEY_BYTES = 250;
export const MAX_BASE64_KEY_BYTES = 186;
/** memcached reads a TTL above 30 days as an absolute unix time. */
export const MAX_RELATIVE_TTL = 30 * 24 * 3600;

export interface EncodedKey {
  /** The key's bytes, one latin1 character per byte: safe to put in a request line. */
  readonly token: string;
  readonly base64: boolean;
  /** The key for messages: the string given, or `0x...` for a binary key. */
  readonly display: string;
}

const CRLF = Buffer.from('\r\n');
const TOMBSTONE = Buffer.from(TOMBSTONE_VALUE);

export function encodeKey(key: Key): EncodedKey {
  const bytes = keyBytes(key);
  const display = typeof key === 'string' ? key : `0x${Buffer.from(bytes).toString('hex')}`;
  if (bytes.length === 0) throw new InvalidKeyError('key is empty', 0);
  if (bytes.length > MAX_KEY_BYTES) throw new KeyTooLongError(bytes.length, MAX_KEY_BYTES, '');
  let plain = true;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b <= 0x20 || b === 0x7f) {
      plain = false;
      break;
    }
  }
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (plain) return { token: buffer.toString('latin1'), base64: false, display: shorten(display) };
  if (bytes.length > MAX_BASE64_KEY_BYTES)
    throw new KeyTooLongError(
      bytes.length,
      MAX_BASE64_KEY_BYTES,
      'a key with spaces or control bytes is sent base64-encoded, and memcached accepts at most 250 encoded characters',
    );
  return { token: buffer.toString('base64'), base64: true, display: shorten(display) };
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * The TTL to send for `ttlSeconds` from now (0: never expires). Above 30 days memcached
 * wants an absolute unix time, so that is what is sent.
 */
export function wireTtl(ttlSeconds: number, nowSeconds: number): number {
  if (ttlSeconds <= MAX_RELATIVE_TTL) return ttlSeconds;
  return Math.floor(nowSeconds) + ttlSeconds;
}

/** The largest TTL that still fits memcached's signed 32-bit time once made absolute. */
export function maxTtl(nowSeconds: number): number {
  return 0x7fffffff - Math.floor(nowSeconds);
}

function line(verb: string, key: EncodedKey, rest: string): Buffer {
  return Buffer.from(`${verb} ${key.token}${rest}${key.base64 ? ' b' : ''}\r\n`, 'latin1');
}

/** Get value, client flags and remaining TTL: replies `VA <size> f<flags> t<ttl>` or `EN`. */
export function getRequest(key: EncodedKey): Buffer[] {
  return [line('mg', key, ' v f t')];
}

/** Flags, size and CAS without the value (to see whether an item is a tombstone): `HD f s c` or `EN`. */
export function peekRequest(key: EncodedKey): Buffer[] {
  return [line('mg', key, ' f s c')];
}

export type SetMode = 'set' | 'add';

/** Meta set: `HD` stored, `NS` not stored (add over an existing key), `EX` CAS mismatch. */
export function setRequest(
  key: EncodedKey,
  value: Buffer,
  flags: number,
  wireTtlSeconds: number,
  mode: SetMode,
  cas?: string,
): Buffer[] {
  const casFlag = cas === undefined ? '' : ` C${cas}`;
  const m = mode === 'add' ? 'E' : 'S';
  return [line('ms', key, ` ${value.length} F${flags} T${wireTtlSeconds} M${m}${casFlag}`), value, CRLF];
}

/** A tombstone for `key`, replacing whatever is there (only if its CAS is still `cas`, when given). */
export function tombstoneRequest(key: EncodedKey, ttlSeconds: number, cas?: string): Buffer[] {
  return setRequest(key, TOMBSTONE, TOMBSTONE_FLAGS, ttlSeconds, 'set', cas);
}

/**
 * Meta arithmetic: `VA <len>` then the new value. With `autovivifyTtl`, a missing key is created
 * holding `initial` (the delta is not applied, as memcached's binary incr does); without it a
 * missing key answers `NF`. A non-numeric value answers `CLIENT_ERROR`.
 */
export function arithmeticRequest(
  key: EncodedKey,
  direction: 'increment' | 'decrement',
  delta: bigint,
  initial: bigint,
  autovivifyTtl: number | undefined,
): Buffer[] {
  const create = autovivifyTtl === undefined ? '' : ` N${autovivifyTtl} J${initial}`;
  return [line('ma', key, ` D${delta} M${direction === 'increment' ? 'I' : 'D'}${create} v`)];
}

/** Meta delete: `HD` deleted, `NF` not found. */
export function deleteRequest(key: EncodedKey): Buffer[] {
  return [line('md', key, '')];
}

/** Touch (new TTL) and return flags, size and CAS: `HD f s c` or `EN`. */
export function touchRequest(key: EncodedKey, wireTtlSeconds: number): Buffer[] {
  return [line('mg', key, ` T${wireTtlSeconds} f s c`)];
}

/**
 * Read-repair skips an item with fewer seconds left than this: memcached's `t` is whole
 * seconds on a clock that ticks once a second, so 0 or 1 may mean it is already gone.
 */
export const MIN_REPAIR_TTL_SECONDS = 2;

/**
 * The wire TTL for copying an item whose read gave `remaining` seconds (`t`; -1 never
 * expires), or undefined when it is about to expire and is not worth copying. Over
 * 30 days it becomes an absolute time on `nowSeconds`' clock (the caller's wall clock,
 * which may differ from the target memcached's clock by a few seconds).
 */
export function repairTtl(remaining: number, nowSeconds: number): number | undefined {
  if (remaining === -1) return 0;
  if (!Number.isInteger(remaining) || remaining < MIN_REPAIR_TTL_SECONDS) return undefined;
  return wireTtl(remaining, nowSeconds);
}
