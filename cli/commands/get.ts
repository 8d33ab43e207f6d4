import { UsageError } from '../args';
import { Command, EXIT_FAILED, EXIT_OK } from '../command';
import { CLIENT_OPTIONS, isBadInput, openClient } from '../open-client';

export const command: Command = {
  name: 'get',
  summary: 'Read a key from the cluster (new replicas first during a migration)',
  usage: 'astaire get (--topology FILE | --parameter NAME [--region R]) [--json] KEY',
  details: 'Prints the value (UTF-8) on stdout; a missing key says "not found" on stderr and exits 1.',
  failureHint: 'check that the servers answer (astaire locate KEY names them), then run it again',
  options: {
    ...CLIENT_OPTIONS,
    json: {
      short: 'j',
      description: 'print {"key","flags","ttl","value"} (value base64 as "valueBase64" when not UTF-8)',
    },
  },
  async run({ options, positionals }, io) {
    if (positionals.length !== 1) throw new UsageError('exactly one KEY is required');
    const [key] = positionals;
    const client = await openClient(options);
    try {
      const item = await client.get(key);
      if (!item) {
        io.err(`astaire get: ${key}: not found`);
        return EXIT_FAILED;
      }
      if (!options.json) io.out(item.value.toString('utf8'));
      else {
        const text = item.value.toString('utf8');
        const utf8 = Buffer.from(text, 'utf8').equals(item.value);
        io.out(
          JSON.stringify({
            key,
            flags: item.flags,
            ttl: item.ttl,
            ...(utf8 ? { value: text } : { valueBase64: item.value.toString('base64') }),
          }),
        );
      }
      return EXIT_OK;
    } catch (error) {
      if (isBadInput(error)) throw new UsageError((error as Error).message);
      throw error;
    } finally {
      await client.close();
    }
  },
};
