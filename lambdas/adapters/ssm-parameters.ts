import { createHash } from 'node:crypto';
import {
  DeleteParameterCommand,
  GetParameterCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { parameterTier, parseTopology, serializeTopology, type Topology } from '../../core';
import { TopologyNotFoundError } from '../errors';
import type { LockRecord, LockStore, TopologyStore } from '../ports';

type SsmLike = Pick<SSMClient, 'send'>;

/** The topology document in Parameter Store, validated on every read. */
export class SsmTopologyStore implements TopologyStore {
  constructor(
    private readonly ssm: SsmLike,
    /** The parameter of a cluster (the workflow serves one: its configured name). */
    private readonly nameOf: (cluster: string) => string,
  ) {}

  async read(cluster: string): Promise<Topology> {
    const name = this.nameOf(cluster);
    const value = await getValue(this.ssm, name);
    if (value === undefined) throw new TopologyNotFoundError(name);
    return parseTopology(value, `parameter ${name}`);
  }

  async write(topology: Topology): Promise<void> {
    const json = serializeTopology(topology);
    await this.ssm.send(
      new PutParameterCommand({
        Name: this.nameOf(topology.cluster),
        Value: json,
        Type: 'String',
        Overwrite: true,
        // An advanced parameter can never go back to standard: let a small document keep
        // whatever tier the parameter has.
        Tier: parameterTier(json) === 'Advanced' ? 'Advanced' : 'Intelligent-Tiering',
      }),
    );
  }
}

/**
 * The cluster lock as a parameter. Parameter Store has no compare-and-set, but PutParameter
 * with Overwrite=false is an atomic create: exactly one of concurrent creators wins. A dead
 * owner's lock is broken through a second atomic create, of a marker named after the stale
 * record (`<lock>-break/<hash>`), so that of several breakers of one stale lock only one wins.
 * Markers are left behind (one per broken lock, which only a crashed execution leaves).
 */
export class SsmLockStore implements LockStore {
  constructor(
    private readonly ssm: SsmLike,
    private readonly nameOf: (cluster: string) => string,
  ) {}

  async create(cluster: string, lock: LockRecord): Promise<boolean> {
    return putIfAbsent(this.ssm, this.nameOf(cluster), encodeLock(lock));
  }

  async read(cluster: string): Promise<LockRecord | undefined> {
    const value = await getValue(this.ssm, this.nameOf(cluster));
    return value === undefined ? undefined : decodeLock(value);
  }

  async replaceStale(cluster: string, stale: LockRecord, fresh: LockRecord): Promise<boolean> {
    const name = this.nameOf(cluster);
    const digest = createHash('sha256').update(encodeLock(stale)).digest('hex').slice(0, 32);
    const won = await putIfAbsent(
      this.ssm,
      `${name}-break/${digest}`,
      JSON.stringify({ breaker: fresh.owner, at: fresh.acquiredAt }),
    );
    if (!won) return false;
    await this.ssm.send(
      new PutParameterCommand({ Name: name, Value: encodeLock(fresh), Type: 'String', Overwrite: true }),
    );
    return true;
  }

  async delete(cluster: string): Promise<void> {
    try {
      await this.ssm.send(new DeleteParameterCommand({ Name: this.nameOf(cluster) }));
    } catch (error) {
      if (!(error instanceof ParameterNotFound)) throw error;
    }
  }
}

/** Field order fixed: the stale record's text names its break marker. */
export function encodeLock(lock: LockRecord): string {
  return JSON.stringify({ owner: lock.owner, acquiredAt: lock.acquiredAt, expiresAt: lock.expiresAt });
}

/** An unreadable lock counts as expired (owner unknown), so it can be broken rather than block forever. */
export function decodeLock(value: string): LockRecord {
  try {
    const d = JSON.parse(value) as Record<string, unknown>;
    if (typeof d.owner === 'string' && typeof d.acquiredAt === 'string' && typeof d.expiresAt === 'string')
      return { owner: d.owner, acquiredAt: d.acquiredAt, expiresAt: d.expiresAt };
  } catch {
    // fall through
  }
  return {
    owner: `unreadable lock ${value.slice(0, 64)}`,
    acquiredAt: new Date(0).toISOString(),
    expiresAt: new Date(0).toISOString(),
  };
}

async function getValue(ssm: SsmLike, name: string): Promise<string | undefined> {
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: name }));
    return out.Parameter?.Value;
  } catch (error) {
    if (error instanceof ParameterNotFound) return undefined;
    throw error;
  }
}

async function putIfAbsent(ssm: SsmLike, name: string, value: string): Promise<boolean> {
  try {
    await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'String', Overwrite: false }));
    return true;
  } catch (error) {
    if (error instanceof ParameterAlreadyExists) return false;
    throw error;
  }
}
