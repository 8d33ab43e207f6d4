import { MetaConnection } from './connection';
import { ServerProtocolError, ServerRef } from './errors';
import { MetaReply } from './meta-parser';

/**
 * The few meta-protocol requests that carry the cluster-served topology and the clients'
 * acknowledgements (docs/client-protocol.md). Keys here are Astaire's own, plain ASCII.
 */
const CRLF = Buffer.from('\r\n');

/** `mg <key> v [c] [T<ttl>]`: the value (and CAS), touching the TTL when given; EN when absent. */
export function getText(key: string, options: { cas?: boolean; touchTtl?: number } = {}): Buffer[] {
  const touch = options.touchTtl === undefined ? '' : ` T${options.touchTtl}`;
  return [Buffer.from(`mg ${key} v${options.cas ? ' c' : ''}${touch}\r\n`, 'latin1')];
}

export type TextSetMode = 'set' | 'add' | 'append';

/** `ms <key> <len> T<ttl> M<S|E|A> [C<cas>]`: HD stored, NS not stored, EX CAS mismatch. */
export function setText(
  key: string,
  value: string,
  options: { ttl?: number; mode?: TextSetMode; cas?: string } = {},
): Buffer[] {
  const bytes = Buffer.from(value, 'utf8');
  const mode = { set: 'S', add: 'E', append: 'A' }[options.mode ?? 'set'];
  const cas = options.cas === undefined ? '' : ` C${options.cas}`;
  return [Buffer.from(`ms ${key} ${bytes.length} T${options.ttl ?? 0} M${mode}${cas}\r\n`), bytes, CRLF];
}

/** `md <key> q`-less delete: HD or NF. */
export function deleteText(key: string): Buffer[] {
  return [Buffer.from(`md ${key}\r\n`, 'latin1')];
}

/** The value of a VA reply as text, undefined for EN; anything else is a protocol error. */
export function textOf(server: ServerRef, reply: MetaReply, what: string): string | undefined {
  if (reply.type === 'EN') return undefined;
  if (reply.type === 'VA') return reply.value.toString('utf8');
  throw new ServerProtocolError(server, `unexpected reply ${reply.type} to ${what}`);
}

/** The CAS token of a reply (`c<n>` flag). */
export function casOf(reply: MetaReply): string | undefined {
  if (reply.type !== 'VA' && reply.type !== 'HD') return undefined;
  return reply.flags.find((f) => f.startsWith('c'))?.slice(1);
}

/** HD, NS or EX; anything else is a protocol error. */
export function stored(server: ServerRef, reply: MetaReply, what: string): 'HD' | 'NS' | 'EX' | 'NF' {
  if (reply.type === 'HD' || reply.type === 'NS' || reply.type === 'EX' || reply.type === 'NF')
    return reply.type;
  throw new ServerProtocolError(
    server,
    `unexpected reply ${reply.type}${'message' in reply ? ` ${reply.message}` : ''} to ${what}`,
  );
}

/**
 * Appends `line` to a list kept under `key` (never expiring): memcached 1.6.18 does not create a key on
 * append, so a miss adds it, and an add that loses a race appends again (bounded).
 */
export async function appendLine(connection: MetaConnection, key: string, line: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const append = stored(
      connection.server,
      await connection.request(setText(key, line, { mode: 'append' })),
      'append',
    );
    if (append === 'HD') return;
    const add = stored(
      connection.server,
      await connection.request(setText(key, line, { mode: 'add' })),
      'add',
    );
    if (add === 'HD') return;
  }
  throw new ServerProtocolError(connection.server, `append to ${key}: the key kept appearing and vanishing`);
}
