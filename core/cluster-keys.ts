import { murmur3Uint32, crc32Utf8 } from './hash';
import { RESERVED_KEY_PREFIX } from './reserved-keys';

/**
 * The topology as the cluster serves it to its clients (docs/client-protocol.md). The workflow writes
 * the same two keys on every member (servers and newServers) whenever the topology changes; a client
 * polls one node for the epoch and fetches the document only when the epoch moved. Each client
 * acknowledges the epoch it uses in a short-lived key on the node it polls, and lists its id once in
 * that node's roster, so the workflow can enumerate acknowledgements without crawling.
 */
export const TOPOLOGY_KEY = `${RESERVED_KEY_PREFIX}topology`;
/** The epoch of TOPOLOGY_KEY's document, decimal: written after the document, so it never runs ahead. */
export const EPOCH_KEY = `${RESERVED_KEY_PREFIX}epoch`;
/** Client ids, one a line, appended by each client; rewritten (CAS) by the workflow to drop expired ones. */
export const ROSTER_KEY = `${RESERVED_KEY_PREFIX}clients`;
const ACK_PREFIX = `${RESERVED_KEY_PREFIX}client:`;

/** A client id: what the roster and the acknowledgement key carry, and what a timeout names. */
const CLIENT_ID = /^[A-Za-z0-9._-]{1,120}$/;

export function isClientId(id: string): boolean {
  return CLIENT_ID.test(id);
}

/** The acknowledgement key of a client: its value is the epoch the client uses, decimal. */
export function ackKey(clientId: string): string {
  return `${ACK_PREFIX}${clientId}`;
}

/**
 * A decimal epoch as a node stores it (EPOCH_KEY, an acknowledgement), or undefined when the text is
 * not one: a client or the workflow treats it as absent rather than trusting it.
 */
export function parseEpoch(text: string): number | undefined {
  if (!/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

/** The ids a roster lists, each once, in first-seen order; lines that are not ids are skipped. */
export function parseRoster(text: string): string[] {
  const ids = new Set<string>();
  for (const line of text.split('\n')) if (isClientId(line)) ids.add(line);
  return [...ids];
}

/** A roster's value: one id a line, each line ended by `\n` (what a client appends). */
export function formatRoster(ids: readonly string[]): string {
  return ids.map((id) => `${id}\n`).join('');
}

/**
 * The members a client polls, in the order it tries them: rendezvous hashing of the client id over
 * the member ids, so clients spread evenly over the nodes (each serves about clients / N) and a
 * client keeps its node while the node stays a member.
 */
export function pollOrder<T extends { readonly id: string }>(clientId: string, members: readonly T[]): T[] {
  const seed = crc32Utf8(clientId);
  return members
    .map((m) => ({ m, score: murmur3Uint32(crc32Utf8(m.id), seed) }))
    .sort((a, b) => b.score - a.score || (a.m.id < b.m.id ? -1 : 1))
    .map((s) => s.m);
}
