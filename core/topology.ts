import { InvalidArgumentError, TopologyValidationError } from './errors';
import { decodePlacementMap, planPlacementMap } from './placement-map';

/** One memcached node: `id` is the EC2 instance id (or a local node id), `address` is `host:port`. */
export interface Server {
  readonly id: string;
  readonly address: string;
  /** Availability Zone (or any failure domain); a vbucket's replicas go to distinct zones. */
  readonly zone?: string;
}

/** Who owns the migration in progress. */
export interface MigrationInfo {
  /** The Step Functions execution (ARN or name) that owns the change. */
  readonly executionId: string;
  /** ISO 8601 time the migration started. */
  readonly startedAt: string;
  /**
   * Old servers that are gone from the group (terminated without a lifecycle action, or lost):
   * no source for any vbucket. A vbucket whose every old replica is gone is declared lost.
   */
  readonly gone?: readonly string[];
}

/** The document kept in `/astaire/<cluster>/topology`. */
export interface Topology {
  readonly cluster: string;
  /** +1 on every change. */
  readonly epoch: number;
  /** A power of two. */
  readonly vbuckets: number;
  readonly replicas: number;
  readonly servers: readonly Server[];
  /**
   * The explicit vbucket map of `servers` (see placement-map.ts for the format); when absent the
   * placement is rendezvous over the server ids.
   */
  readonly map?: string;
  /** Present only while a migration runs: the target members. */
  readonly newServers?: readonly Server[];
  /** The explicit vbucket map of `newServers` (only with newServers). */
  readonly newMap?: string;
  /** Present only while a migration runs. */
  readonly migration?: MigrationInfo;
}

export const DEFAULT_VBUCKETS = 16384;
export const DEFAULT_REPLICAS = 2;
export const MAX_VBUCKETS = 65536;
export const MAX_REPLICAS = 8;
/** Parameter Store limits: standard and advanced tier. */
export const STANDARD_PARAMETER_BYTES = 4096;
export const ADVANCED_PARAMETER_BYTES = 8192;

const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Safe in SSM parameters, shell arguments and Parameter Store paths. */
const SERVER_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const ZONE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const IPV6 = /^\[[0-9A-Fa-f:.]{2,45}\]$/;

export function parameterName(cluster: string): string {
  return `/astaire/${cluster}/topology`;
}

export function isValidClusterName(name: string): boolean {
  return CLUSTER_NAME.test(name);
}

export function isValidServerId(id: string): boolean {
  return SERVER_ID.test(id);
}

/** Splits `host:port` (host may be `[v6]`); undefined when malformed. */
export function parseAddress(address: string): { host: string; port: number } | undefined {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  if (IPV6.test(host)) return { host: host.slice(1, -1), port };
  if (!HOSTNAME.test(host)) return undefined;
  return { host, port };
}

/**
 * Parses and validates a topology document (a JSON string or an already parsed value).
 * `source` names where it came from (a file or a parameter) and prefixes every error.
 * Unknown fields are ignored so that an older reader survives a newer writer.
 */
export function parseTopology(input: string | unknown, source: string): Topology {
  let doc: unknown = input;
  if (typeof input === 'string') {
    try {
      doc = JSON.parse(input);
    } catch (cause) {
      throw new TopologyValidationError(source, 'document', input, 'is not valid JSON', { cause });
    }
  }
  const fail = (field: string, value: unknown, reason: string): never => {
    throw new TopologyValidationError(source, field, value, reason);
  };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    fail('document', doc, 'must be a JSON object');
  const d = doc as Record<string, unknown>;

  const cluster = d.cluster;
  if (typeof cluster !== 'string' || !CLUSTER_NAME.test(cluster))
    fail(
      'cluster',
      cluster,
      'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
    );
  const epoch = d.epoch;
  if (!Number.isSafeInteger(epoch) || (epoch as number) < 0)
    fail('epoch', epoch, 'must be a non-negative integer');
  const vbuckets = d.vbuckets ?? DEFAULT_VBUCKETS;
  if (!isPowerOfTwo(vbuckets) || (vbuckets as number) > MAX_VBUCKETS)
    fail('vbuckets', vbuckets, `must be a power of two from 1 to ${MAX_VBUCKETS}`);
  const replicas = d.replicas ?? DEFAULT_REPLICAS;
  if (!Number.isInteger(replicas) || (replicas as number) < 1 || (replicas as number) > MAX_REPLICAS)
    fail('replicas', replicas, `must be an integer from 1 to ${MAX_REPLICAS}`);

  const servers = parseServers(d.servers, 'servers', fail);
  const result: { -readonly [K in keyof Topology]: Topology[K] } = {
    cluster: cluster as string,
    epoch: epoch as number,
    vbuckets: vbuckets as number,
    replicas: replicas as number,
    servers,
  };
  if (d.map !== undefined) result.map = parseMap(d.map, 'map', servers, result, fail);
  if (d.newServers !== undefined) result.newServers = parseServers(d.newServers, 'newServers', fail);
  if (d.newMap !== undefined) {
    if (result.newServers === undefined) fail('newMap', '(a map)', 'must come with newServers');
    result.newMap = parseMap(d.newMap, 'newMap', result.newServers!, result, fail);
  }
  if (d.migration !== undefined) {
    const m = d.migration as Record<string, unknown>;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) fail('migration', m, 'must be an object');
    if (typeof m.executionId !== 'string' || m.executionId.length === 0 || m.executionId.length > 256)
      fail('migration.executionId', m.executionId, 'must be a string of 1-256 characters');
    if (typeof m.startedAt !== 'string' || Number.isNaN(Date.parse(m.startedAt)))
      fail('migration.startedAt', m.startedAt, 'must be an ISO 8601 time');
    if (result.newServers === undefined)
      fail('newServers', undefined, 'must be present while a migration runs');
    const ids = new Set(servers.map((s) => s.id));
    if (
      m.gone !== undefined &&
      (!Array.isArray(m.gone) || !m.gone.every((id) => typeof id === 'string' && ids.has(id)))
    )
      fail('migration.gone', m.gone, 'must be a list of ids from servers');
    result.migration = {
      executionId: m.executionId as string,
      startedAt: m.startedAt as string,
      ...(Array.isArray(m.gone) && m.gone.length > 0 ? { gone: m.gone as string[] } : {}),
    };
  }
  return result;
}

function parseServers(
  value: unknown,
  field: string,
  fail: (field: string, value: unknown, reason: string) => never,
): Server[] {
  if (!Array.isArray(value)) return fail(field, value, 'must be an array of {"id", "address"}');
  const ids = new Set<string>();
  const addresses = new Set<string>();
  return value.map((entry: unknown, i) => {
    const at = `${field}[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      fail(at, entry, 'must be an object {"id", "address"}');
    const { id, address, zone } = entry as Record<string, unknown>;
    if (typeof id !== 'string' || !SERVER_ID.test(id))
      fail(`${at}.id`, id, 'must be 1-64 letters, digits, ".", "_", ":" or "-"');
    if (typeof address !== 'string' || parseAddress(address) === undefined)
      fail(`${at}.address`, address, 'must be host:port');
    if (ids.has(id as string)) fail(`${at}.id`, id, `is listed twice in ${field}`);
    if (addresses.has(address as string)) fail(`${at}.address`, address, `is listed twice in ${field}`);
    if (zone !== undefined && (typeof zone !== 'string' || !ZONE.test(zone)))
      fail(`${at}.zone`, zone, 'must be 1-64 letters, digits, ".", "_" or "-"');
    ids.add(id as string);
    addresses.add(address as string);
    return server(id as string, address as string, zone as string | undefined);
  });
}

function server(id: string, address: string, zone: string | undefined): Server {
  return zone === undefined ? { id, address } : { id, address, zone };
}

function parseMap(
  value: unknown,
  field: string,
  servers: readonly Server[],
  t: { vbuckets: number; replicas: number },
  fail: (field: string, value: unknown, reason: string) => never,
): string {
  if (typeof value !== 'string') return fail(field, value, 'must be a base64 string');
  try {
    decodePlacementMap(value, servers, t.vbuckets, t.replicas);
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    fail(field, value, error.message);
  }
  return value;
}

function isPowerOfTwo(n: unknown): boolean {
  return Number.isInteger(n) && (n as number) >= 1 && ((n as number) & ((n as number) - 1)) === 0;
}

/**
 * The compact JSON of the document, with fields in a fixed order. A document larger than one
 * parameter is stored in parts (see topology-parts.ts).
 */
export function serializeTopology(topology: Topology): string {
  const doc: Record<string, unknown> = {
    cluster: topology.cluster,
    epoch: topology.epoch,
    vbuckets: topology.vbuckets,
    replicas: topology.replicas,
    servers: topology.servers.map(({ id, address, zone }) => server(id, address, zone)),
  };
  if (topology.map !== undefined) doc.map = topology.map;
  if (topology.newServers)
    doc.newServers = topology.newServers.map(({ id, address, zone }) => server(id, address, zone));
  if (topology.newMap !== undefined) doc.newMap = topology.newMap;
  if (topology.migration) {
    const { executionId, startedAt, gone } = topology.migration;
    doc.migration = { executionId, startedAt, ...(gone && gone.length > 0 ? { gone } : {}) };
  }
  return JSON.stringify(doc);
}

/** The Parameter Store tier a serialized topology needs. */
export function parameterTier(json: string): 'Standard' | 'Advanced' {
  return new TextEncoder().encode(json).length <= STANDARD_PARAMETER_BYTES ? 'Standard' : 'Advanced';
}

/** A new, empty cluster. */
export function emptyTopology(
  cluster: string,
  options: { vbuckets?: number; replicas?: number } = {},
): Topology {
  return parseTopology(
    {
      cluster,
      epoch: 0,
      vbuckets: options.vbuckets ?? DEFAULT_VBUCKETS,
      replicas: options.replicas ?? DEFAULT_REPLICAS,
      servers: [],
    },
    'new topology',
  );
}

/** True while a migration is in progress. */
export function isMigrating(topology: Topology): boolean {
  return topology.newServers !== undefined;
}

/**
 * Starts a migration towards `newServers`, owned by `migration`. Every change bumps the epoch:
 * clients cache routing per epoch, and must see `newServers` to start writing to both member sets.
 * `newMap` is the balanced, zone-aware map of the new members, derived from the current placement.
 */
export function beginMigration(
  topology: Topology,
  newServers: readonly Server[],
  migration: MigrationInfo,
): Topology {
  const target = parseServers(newServers, 'newServers', (field, value, reason) => {
    throw new TopologyValidationError(`topology of cluster ${topology.cluster}`, field, value, reason);
  });
  const newMap = planPlacementMap(topology, target);
  return parseTopology(
    { ...topology, epoch: topology.epoch + 1, newServers: target, newMap, migration },
    `topology of cluster ${topology.cluster}`,
  );
}

/** Commits the migration: servers := newServers, map := newMap, epoch + 1. */
export function commitMigration(topology: Topology): Topology {
  return topology.newServers ? settled(topology, topology.newServers, topology.newMap) : topology;
}

/** Abandons the migration: the old members stay (epoch + 1, as for every change). */
export function abortMigration(topology: Topology): Topology {
  return topology.newServers ? settled(topology, topology.servers, topology.map) : topology;
}

/** The document after a migration ends with `servers` (placed by `map`) as the members. */
function settled(topology: Topology, servers: readonly Server[], map: string | undefined): Topology {
  const { cluster, epoch, vbuckets, replicas } = topology;
  return { cluster, epoch: epoch + 1, vbuckets, replicas, servers, ...(map !== undefined ? { map } : {}) };
}
