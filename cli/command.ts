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
  /** Raw stdout, for progress redrawn in place; absent in tests that collect lines. */
  readonly write?: (text: string) => void;
  /** stdout is a terminal (progress is redrawn in place). */
  readonly isTTY?: boolean;
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
  /** What to do when the operation fails (the part after "; "). @default see astaire NAME --help */
  readonly failureHint?: string;
  /** Subcommand names (`local scale`), used to name the command in error messages. */
  readonly subcommands?: readonly string[];
  run(args: ParsedArgs, io: CommandIo): Promise<number>;
}
