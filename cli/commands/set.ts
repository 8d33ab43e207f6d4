import { intOption, UsageError } from '../args';
import { Command, EXIT_OK } from '../command';
import { CLIENT_OPTIONS, isBadInput, openClient } from '../open-client';

export const command: Command = {
  name: 'set',
  summary: 'Write a key on every replica (old and new during a migration)',
  usage: 'astaire set (--topology FILE | --parameter NAME [--region R]) [--ttl S] [--flags N] KEY VALUE',
  details:
    'VALUE is stored as UTF-8. Succeeds when at least one replica stored it; failed replicas are named on stderr.',
  failureHint: 'check that the servers answer (astaire locate KEY names them), then run it again',
  options: {
    ...CLIENT_OPTIONS,
    ttl: { value: true, valueName: 'S', description: 'seconds until it expires (default 0: never)' },
    flags: { value: true, valueName: 'N', description: 'client flags, 0 to 4294967294 (default 0)' },
  },
  async run({ options, positionals }, io) {
    if (positionals.length !== 2) throw new UsageError('KEY and VALUE are required');
    const ttl = intOption(options.ttl, 'ttl');
    const flags = intOption(options.flags, 'flags', { max: 0xfffffffe });
    const [key, value] = positionals;
    const client = await openClient(options);
    client.on('serverError', (e) => io.err(`astaire set: warning: ${e.message}`));
    try {
      await client.set(key, value, { ttl, flags });
      io.out('stored');
      return EXIT_OK;
    } catch (error) {
      if (isBadInput(error)) throw new UsageError((error as Error).message);
      throw error;
    } finally {
      await client.close();
    }
  },
};
