import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { redirectConsole } from '../../../local/runtime';
import { tempDir } from '../../support/temp-dirs';

describe('redirectConsole (the local runtime sends handler logs to workflow.log)', () => {
  it('given the log file, then lines go there', () => {
    const file = join(tempDir('astaire-redirect-'), 'workflow.log');
    const restore = redirectConsole(file);
    try {
      console.log('hello %d', 42);
    } finally {
      restore();
    }
    expect(readFileSync(file, 'utf8')).toMatch(/ log hello 42\n$/);
  });

  it('given its directory removed under a late handler, when it logs, then nothing throws and the line goes to the console it replaced', () => {
    const dir = tempDir('astaire-redirect-');
    const saved = console.warn;
    const seen: unknown[] = [];
    console.warn = (...args: unknown[]) => void seen.push(...args);
    const restore = redirectConsole(join(dir, 'workflow.log'));
    try {
      rmSync(dir, { recursive: true, force: true });
      expect(() => console.warn('late line')).not.toThrow();
    } finally {
      restore();
      console.warn = saved;
    }
    expect(seen).toEqual([expect.stringMatching(/ warn late line$/)]);
  });
});
