import { runPlacementBench } from './placement';

/** `npm run bench [-- NAME...]`: every benchmark, or the named ones. Not run by CI. */
const BENCHES: Record<string, () => Promise<void>> = {
  placement: runPlacementBench,
  client: async () => (await import('./client')).runClientBench(200_000, 1000, 1000),
  resync: async () => (await import('./resync')).runResyncBench(),
  'resync-live': async () => (await import('./resync-live')).runResyncLiveBench(),
  clients: async () => (await import('./clients')).runClientsBench(),
  scale: async () => (await import('./scale')).runScaleBench(),
};

async function main(names: string[]): Promise<number> {
  const unknown = names.filter((n) => !BENCHES[n]);
  if (unknown.length) {
    console.error(`unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')}`);
    return 2;
  }
  for (const name of names.length ? names : Object.keys(BENCHES)) {
    console.log(`== ${name}`);
    await BENCHES[name]();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  // A benchmark that found a fault (an incomplete resync) has set exitCode 1 already: keep it.
  (code) => (process.exitCode = code || process.exitCode),
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
