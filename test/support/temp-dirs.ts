import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const registry = globalThis as { __astaireTempDirs?: string[] };

/**
 * A fresh directory in the temp directory, removed when the test file is done, after all its
 * hooks (by scripts/jest-environment.js, the testEnvironment of jest.config.js).
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  (registry.__astaireTempDirs ??= []).push(dir);
  return dir;
}
