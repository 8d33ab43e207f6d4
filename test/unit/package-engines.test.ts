import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// semver is npm's own engine check (a dependency of several of ours); it ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const semver = require('semver') as {
  satisfies(version: string, range: string): boolean;
  minVersion(range: string): { version: string } | null;
};

const ROOT = join(__dirname, '..', '..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
};
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
};

describe('the engines of what npm ci installs (issue #16: no EBADENGINE)', () => {
  test('given the lock file, when each package is checked against the oldest Node.js we support and the one running, then every package accepts both', () => {
    const oldest = semver.minVersion(manifest.engines.node)!.version;
    const refusing = Object.entries(lock.packages)
      .filter(([path]) => path !== '')
      .flatMap(([path, entry]) => {
        const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
        if (!range) return [];
        return [oldest, process.versions.node]
          .filter((node) => !semver.satisfies(node, range))
          .map(
            (node) =>
              `${path.replace(/^.*node_modules\//, '')}@${entry.version} needs node ${range}, not ${node}`,
          );
      });
    expect({ oldest, refusing }).toEqual({ oldest: '20.19.0', refusing: [] });
  });
});
