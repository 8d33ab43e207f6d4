/**
 * The lock table's attributes, shared by the DynamoDB adapter and the construct that creates the
 * table (no SDK import: the construct's users need not install the DynamoDB client).
 */
export const LockAttr = {
  /** The partition key: one item per cluster. */
  cluster: 'cluster',
  owner: 'owner',
  acquiredAt: 'acquiredAt',
  expiresAt: 'expiresAt',
  /** Epoch seconds of `expiresAt`, the table's TTL attribute: DynamoDB removes a dead owner's lock some time after. */
  leaseExpiry: 'leaseExpiry',
} as const;
