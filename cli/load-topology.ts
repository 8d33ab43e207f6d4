import { readFile } from 'node:fs/promises';
import { parseTopology, Topology } from '../core';
import { UsageError } from './args';
import { errnoWords } from './errors';

/** Reads and validates a topology file; a missing or malformed file is a usage error naming the file. */
export async function loadTopologyFile(path: unknown): Promise<Topology> {
  if (typeof path !== 'string' || path === '') throw new UsageError('--topology FILE is required');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new UsageError(
      `cannot read topology file ${path}: ${errnoWords(e.code) ?? e.message}; check the path (--topology FILE)`,
    );
  }
  try {
    return parseTopology(text, path);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
