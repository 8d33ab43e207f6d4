import { resolve } from 'node:path';
import { UsageError, intOption } from '../args';
import { Command, EXIT_FAILED, EXIT_OK } from '../command';

const SUBCOMMANDS = ['scenario'] as const;

export const command: Command = {
  name: 'local',
  summary: 'Run the elastic-scaling workflow on this machine (real memcached nodes and agents)',
  usage: 'astaire local scenario [--items N] [--json] [--state-dir DIR]',
  details: [
    'scenario: the main job (npm start). Starts 3 memcached nodes on loopback, loads N items through the',
    'client, launches 2 instances at once (3 -> 5) and then terminates one (5 -> 4) while the client keeps',
    'reading and writing; each scaling event runs the state machine CDK synthesizes, in-process, with the',
    'real agent as a child process per node. Ends with a summary table; exits 0 only when every key written',
    'before or during the scaling reads back with its value and flags, every execution succeeded and every',
    'lifecycle action was completed. Needs Debian\'s memcached (apt-get install -y memcached).',
  ].join('\n'),
  options: {
    items: { value: true, valueName: 'N', description: 'items to load before scaling (default 200000)' },
    json: { description: 'print the summary as one JSON object (progress goes to stderr)' },
    'state-dir': { value: true, valueName: 'DIR', description: 'where the local topology and lock live (default .astaire)' },
  },
  async run({ options, positionals }, io) {
    const [sub, ...rest] = positionals;
    if (!sub) throw new UsageError(`a subcommand is required: ${SUBCOMMANDS.join(', ')}`);
    if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}`);
    if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
    const items = intOption(options.items, 'items', { min: 1, max: 5_000_000 }) ?? 200_000;
    const stateDir = resolve(typeof options['state-dir'] === 'string' ? options['state-dir'] : '.astaire');
    const { memcachedBinary } = await import('../../local/memcached-process');
    memcachedBinary(); // a one-line install instruction before anything starts
    const { runScenario, formatSummary } = await import('../../local/scenario');
    const { synthesizeWorkflowDefinition } = await import('../../cdk/definition');
    const log = options.json ? io.err : io.out;
    log('synthesizing the workflow definition with CDK');
    const definition = synthesizeWorkflowDefinition({ clusterName: 'local' });
    const stopOnSignal = () => {
      io.err('interrupted: stopping every memcached and agent process');
      process.exit(130);
    };
    process.once('SIGINT', stopOnSignal);
    process.once('SIGTERM', stopOnSignal);
    try {
      const summary = await runScenario({ items, stateDir, definition, log });
      if (options.json) io.out(JSON.stringify(summary));
      else io.out(`\n${formatSummary(summary)}`);
      return summary.ok ? EXIT_OK : EXIT_FAILED;
    } finally {
      process.removeListener('SIGINT', stopOnSignal);
      process.removeListener('SIGTERM', stopOnSignal);
    }
  },
};
