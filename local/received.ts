import type { ResyncReport } from '../core';

/** A node that received data in an execution, and how much. */
export interface Received {
  readonly node: string;
  readonly items: number;
  readonly bytes: number;
}

/** The nodes that received data (a report with vbuckets to pull), with the items and bytes each received. */
export function receivers(reports: readonly ResyncReport[]): Received[] {
  return reports.filter((r) => r.vbuckets > 0).map((r) => ({ node: r.node, items: r.items, bytes: r.bytes }));
}
