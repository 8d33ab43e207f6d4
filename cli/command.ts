import { OptionSpec, ParsedArgs } from './args';

/** Exit codes scripts can trust. */
export const EXIT_OK = 0;
/** The operation ran and failed (a resync failed, a verification found misses, a key is missing). */
export const EXIT_FAILED = 1;
/** Bad usage or bad input (unknown option, malformed topology file). */
export const EXIT_USAGE = 2;

export interface CommandIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export interface Command {
  readonly name: string;
  /** One line, for `astaire --help`. */
  readonly summary: string;
  /** `astaire NAME ...` synopsis lines. */
  readonly usage: string;
  /** More help, printed under the options. */
  readonly details?: string;
  readonly options: Record<string, OptionSpec>;
  run(args: ParsedArgs, io: CommandIo): Promise<number>;
}
