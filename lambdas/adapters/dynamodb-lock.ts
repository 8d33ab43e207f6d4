import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { LockAttr } from '../lock-table';
import type { LockRecord, LockStore } from '../ports';

type DynamoLike = Pick<DynamoDBClient, 'send'>;

// `cluster` and `owner` are DynamoDB reserved words: every expression names attributes through these.
const names = {
  '#cluster': LockAttr.cluster,
  '#owner': LockAttr.owner,
  '#acquiredAt': LockAttr.acquiredAt,
  '#expiresAt': LockAttr.expiresAt,
};

/**
 * The cluster lock as one DynamoDB item per cluster, changed only by conditional writes:
 * create is a PutItem on an absent item, a dead owner's lock is replaced by a PutItem conditional
 * on that very record (owner, acquiredAt and expiresAt), and release is a DeleteItem conditional on
 * the owner. Unlike a parameter, an item may be deleted and created again at once.
 */
export class DynamoLockStore implements LockStore {
  constructor(
    private readonly dynamodb: DynamoLike,
    private readonly tableName: string,
  ) {}

  async create(cluster: string, lock: LockRecord): Promise<boolean> {
    return this.putIf(cluster, lock, 'attribute_not_exists(#cluster)', {});
  }

  async read(cluster: string): Promise<LockRecord | undefined> {
    const out = await this.dynamodb.send(
      new GetItemCommand({ TableName: this.tableName, Key: key(cluster), ConsistentRead: true }),
    );
    return out.Item === undefined ? undefined : decodeItem(out.Item);
  }

  async replaceStale(cluster: string, stale: LockRecord, fresh: LockRecord): Promise<boolean> {
    if (stale.owner.startsWith(UNREADABLE))
      // The record read was not a lock this code wrote: replace it only while it still is not one.
      return this.putIf(
        cluster,
        fresh,
        'attribute_exists(#cluster) AND NOT (attribute_type(#owner, :s) AND attribute_type(#acquiredAt, :s) AND attribute_type(#expiresAt, :s))',
        { ':s': { S: 'S' } },
      );
    return this.putIf(
      cluster,
      fresh,
      '#owner = :staleOwner AND #acquiredAt = :staleAcquiredAt AND #expiresAt = :staleExpiresAt',
      {
        ':staleOwner': { S: stale.owner },
        ':staleAcquiredAt': { S: stale.acquiredAt },
        ':staleExpiresAt': { S: stale.expiresAt },
      },
    );
  }

  async release(cluster: string, owner: string): Promise<boolean> {
    try {
      await this.dynamodb.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: key(cluster),
          ConditionExpression: '#owner = :me',
          ExpressionAttributeNames: { '#owner': LockAttr.owner },
          ExpressionAttributeValues: { ':me': { S: owner } },
        }),
      );
      return true;
    } catch (error) {
      // Free, or someone else's: not ours to delete.
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  private async putIf(
    cluster: string,
    lock: LockRecord,
    condition: string,
    values: Record<string, AttributeValue>,
  ): Promise<boolean> {
    const used = Object.fromEntries(Object.entries(names).filter(([n]) => condition.includes(n)));
    try {
      await this.dynamodb.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: encodeItem(cluster, lock),
          ConditionExpression: condition,
          ExpressionAttributeNames: used,
          ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

const UNREADABLE = 'unreadable lock ';

function key(cluster: string): Record<string, AttributeValue> {
  return { [LockAttr.cluster]: { S: cluster } };
}

function encodeItem(cluster: string, lock: LockRecord): Record<string, AttributeValue> {
  const expiry = Math.ceil(Date.parse(lock.expiresAt) / 1000);
  return {
    [LockAttr.cluster]: { S: cluster },
    [LockAttr.owner]: { S: lock.owner },
    [LockAttr.acquiredAt]: { S: lock.acquiredAt },
    [LockAttr.expiresAt]: { S: lock.expiresAt },
    ...(Number.isFinite(expiry) ? { [LockAttr.leaseExpiry]: { N: String(expiry) } } : {}),
  };
}

/** An unreadable item counts as expired (owner unknown), so it can be broken rather than block forever. */
function decodeItem(item: Record<string, AttributeValue>): LockRecord {
  const owner = item[LockAttr.owner]?.S;
  const acquiredAt = item[LockAttr.acquiredAt]?.S;
  const expiresAt = item[LockAttr.expiresAt]?.S;
  if (owner !== undefined && acquiredAt !== undefined && expiresAt !== undefined)
    return { owner, acquiredAt, expiresAt };
  return {
    owner: `${UNREADABLE}${JSON.stringify(item).slice(0, 64)}`,
    acquiredAt: new Date(0).toISOString(),
    expiresAt: new Date(0).toISOString(),
  };
}
