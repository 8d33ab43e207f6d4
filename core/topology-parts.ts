import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { TopologyTooLargeError, TopologyValidationError } from './errors';
import { ADVANCED_PARAMETER_BYTES } from './topology';

/**
 * A topology document too large for one parameter is stored in parts: the document's JSON, gzipped,
 * base64-encoded and cut into chunks of at most 8192 characters, each an advanced parameter under a
 * versioned name. The head parameter `/astaire/<cluster>/topology` then holds a small JSON object
 * naming them, and writing the head switches readers from one version to the next atomically:
 *
 *   {"cluster":"c","epoch":12,"encoding":"gzip+base64","sha256":"<hex of the document JSON>",
 *    "parts":["/astaire/c/topology-parts/12-0123456789ab/0", ...]}
 *
 * A reader reads the head; when it has `parts`, reads them (GetParameters, at most 10 names a call),
 * joins them in order, decodes, checks the sha256, and re-reads the head once if a part is missing
 * (a writer replaced the version meanwhile). Writers delete a version's parts only once a newer one
 * has replaced it in turn, so a reader always has a whole write interval to finish.
 */
export interface TopologyHead {
  readonly cluster: string;
  readonly epoch: number;
  readonly encoding: 'gzip+base64';
  /** sha256 (hex) of the document's JSON (UTF-8). */
  readonly sha256: string;
  readonly parts: readonly string[];
}

/** At most this many parts (10 GetParameters calls): the largest document is 100 x 8192 characters. */
export const MAX_TOPOLOGY_PARTS = 100;

/** Parts of a cluster's topology live under this path (one sub-path per version). */
export function topologyPartsPath(cluster: string): string {
  return `/astaire/${cluster}/topology-parts`;
}

/** The version (`<epoch>-<first 12 hex digits of sha256>`) a part name belongs to, or undefined. */
export function partVersion(cluster: string, name: string): string | undefined {
  const prefix = `${topologyPartsPath(cluster)}/`;
  if (!name.startsWith(prefix)) return undefined;
  const version = name.slice(prefix.length).split('/')[0];
  return /^[0-9]+-[0-9a-f]{12}$/.test(version) ? version : undefined;
}

/** The head and the parts (name, value) of a serialized document. Throws TopologyTooLargeError above MAX_TOPOLOGY_PARTS. */
export function splitTopology(
  json: string,
  cluster: string,
  epoch: number,
): { head: TopologyHead; parts: { name: string; value: string }[] } {
  const sha256 = createHash('sha256').update(json, 'utf8').digest('hex');
  const encoded = gzipSync(Buffer.from(json, 'utf8'), { level: 9 }).toString('base64');
  const count = Math.ceil(encoded.length / ADVANCED_PARAMETER_BYTES);
  if (count > MAX_TOPOLOGY_PARTS)
    throw new TopologyTooLargeError(
      cluster,
      encoded.length,
      MAX_TOPOLOGY_PARTS * ADVANCED_PARAMETER_BYTES,
      `${MAX_TOPOLOGY_PARTS} parts of ${ADVANCED_PARAMETER_BYTES} characters, gzipped`,
    );
  const version = `${topologyPartsPath(cluster)}/${epoch}-${sha256.slice(0, 12)}`;
  const parts = Array.from({ length: count }, (_, i) => ({
    name: `${version}/${i}`,
    value: encoded.slice(i * ADVANCED_PARAMETER_BYTES, (i + 1) * ADVANCED_PARAMETER_BYTES),
  }));
  return {
    head: { cluster, epoch, encoding: 'gzip+base64', sha256, parts: parts.map((p) => p.name) },
    parts,
  };
}

/** The head a parameter value holds, or undefined when it holds an inline document. */
export function parseTopologyHead(value: string, source: string): TopologyHead | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch {
    return undefined; // parseTopology names the error
  }
  if (typeof doc !== 'object' || doc === null || !('parts' in doc)) return undefined;
  const h = doc as Record<string, unknown>;
  const fail = (field: string, reason: string): never => {
    throw new TopologyValidationError(source, field, h[field], reason);
  };
  if (!Array.isArray(h.parts) || h.parts.length === 0 || !h.parts.every((p) => typeof p === 'string'))
    fail('parts', 'must be a non-empty list of parameter names');
  if ((h.parts as string[]).length > MAX_TOPOLOGY_PARTS)
    fail('parts', `must name at most ${MAX_TOPOLOGY_PARTS}`);
  if (h.encoding !== 'gzip+base64') fail('encoding', 'must be "gzip+base64"');
  if (typeof h.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(h.sha256))
    fail('sha256', 'must be 64 hex digits');
  return h as unknown as TopologyHead;
}

/** The document JSON from the head's parts (values in the head's order); checks the sha256. */
export function joinTopologyParts(head: TopologyHead, values: readonly string[], source: string): string {
  let json: string;
  try {
    json = gunzipSync(Buffer.from(values.join(''), 'base64')).toString('utf8');
  } catch (cause) {
    throw new TopologyValidationError(source, 'parts', head.parts.length, 'do not decode (gzip+base64)', {
      cause,
    });
  }
  const sha256 = createHash('sha256').update(json, 'utf8').digest('hex');
  if (sha256 !== head.sha256)
    throw new TopologyValidationError(source, 'sha256', head.sha256, `does not match the parts (${sha256})`);
  return json;
}
