#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { optionHelp, parseArgs } from './args';
import { describeError } from './errors';
import { Command, CommandIo, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './command';

/** Every subcommand, loaded on demand so `astaire get` does not load the CDK. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  plan: async () => (await import('./commands/plan')).command,
  locate: async () => (await import('./commands/locate')).command,
  resync: async () => (await import('./commands/resync')).command,
  'wait-sync': async () => (await import('./commands/wait-sync')).command,
  local: async () => (await import('./commands/local')).command,
  get: async () => (await import('./commands/get')).command,
  set: async () => (await import('./commands/set')).command,
  delete: async () => (await import('./commands/delete')).command,
};

const HELP_FLAGS = new Set(['-h', '--help', 'help']);

export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || HELP_FLAGS.has(name)) {
    io.out(await overview());
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version') {
    io.out(packageVersion());
    return EXIT_OK;
  }
  const load = COMMANDS[name];
  if (!load) {
    io.err(`astaire: unknown command ${JSON.stringify(name)}; see astaire --help`);
    return EXIT_USAGE;
  }
  const command = await load();
  if (rest.some((a) => a === '-h' || a === '--help')) {
    io.out(commandHelp(command));
    return EXIT_OK;
  }
  const label = commandLabel(name, rest, command);
  try {
    return await command.run(parseArgs(rest, command.options), io);
  } catch (error) {
    const missing = missingModule(error as Error);
    if (missing) {
      io.err(
        `astaire ${name}: needs ${missing}, an optional peer dependency of astaire-aws; run npm install ${LOCAL_MODE_PACKAGES.join(' ')}`,
      );
      return EXIT_USAGE;
    }
    const { message, badInput } = describeError(error, name, command.failureHint);
    io.err(`astaire ${label}: ${message}`);
    return badInput ? EXIT_USAGE : EXIT_FAILED;
  }
}

/** `local scale` rather than `local` in messages, when the command has subcommands and one was given. */
function commandLabel(name: string, rest: readonly string[], command: Command): string {
  let sub: string | undefined;
  for (let i = 0; i < rest.length && sub === undefined; i++) {
    const a = rest[i];
    if (!a.startsWith('-')) sub = a;
    else if (a.startsWith('--') && !a.includes('=') && command.options[a.slice(2)]?.value) i++;
  }
  return command.subcommands && sub && command.subcommands.includes(sub) ? `${name} ${sub}` : name;
}

/** Optional peer dependencies of the package that `astaire local` loads (an app using only the client skips them). */
const LOCAL_MODE_PACKAGES = [
  '@aws-sdk/client-auto-scaling',
  '@aws-sdk/client-cloudwatch',
  '@aws-sdk/client-ec2',
];

/** The package a failed require named, when it is one of the optional ones. */
function missingModule(error: Error & { code?: string }): string | undefined {
  if (error.code !== 'MODULE_NOT_FOUND') return undefined;
  return LOCAL_MODE_PACKAGES.find((p) => error.message.includes(`'${p}'`));
}

/** The version in package.json: one level up from cli/, two from dist/cli/ (nothing is copied into dist/). */
function packageVersion(): string {
  for (const manifest of [join(__dirname, '..', 'package.json'), join(__dirname, '..', '..', 'package.json')])
    if (existsSync(manifest))
      return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
  return 'unknown';
}

export function commandHelp(command: Command): string {
  return [
    `Usage: ${command.usage}`,
    '',
    command.summary,
    ...(Object.keys(command.options).length ? ['', 'Options:', optionHelp(command.options)] : []),
    ...(command.details ? ['', command.details] : []),
  ].join('\n');
}

async function overview(): Promise<string> {
  const commands = await Promise.all(Object.values(COMMANDS).map((load) => load()));
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'astaire: elastic memcached clusters that keep their data when they scale',
    '',
    'Usage: astaire COMMAND [OPTIONS]   (astaire COMMAND --help for more)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `Exit codes: ${EXIT_OK} success, ${EXIT_FAILED} the operation failed, ${EXIT_USAGE} bad usage or input.`,
  ].join('\n');
}

if (require.main === module) {
  main(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    write: (text) => process.stdout.write(text),
    isTTY: process.stdout.isTTY && process.env.TERM !== 'dumb',
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`astaire: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
      process.exitCode = EXIT_FAILED;
    },
  );
}
