import { UsageError } from '../args';
import { Command, EXIT_FAILED, EXIT_OK } from '../command';
import { CLIENT_OPTIONS, isBadInput, openClient } from '../open-client';

export const command: Command = {
  name: 'delete',
  summary: 'Delete a key from every replica (tombstones on new replicas during a migration)',
  usage: 'astaire delete (--topology FILE | --parameter NAME [--region R]) KEY',
  details: 'A key no replica held says "not found" on stderr and exits 1.',
  failureHint: 'check that the servers answer (astaire locate KEY names them), then run it again',
  options: { ...CLIENT_OPTIONS },
  async run({ options, positionals }, io) {
    if (positionals.length !== 1) throw new UsageError('exactly one KEY is required');
    const [key] = positionals;
    const client = await openClient(options);
    client.on('serverError', (e) => io.err(`astaire delete: warning: ${e.message}`));
    try {
      if (await client.delete(key)) {
        io.out('deleted');
        return EXIT_OK;
      }
      io.err(`astaire delete: ${key}: not found`);
      return EXIT_FAILED;
    } catch (error) {
      if (isBadInput(error)) throw new UsageError((error as Error).message);
      throw error;
    } finally {
      await client.close();
    }
  },
};
