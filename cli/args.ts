import { parseArgs as parseNodeArgs } from 'node:util';
import { UsageError } from './errors';

/** Strict arguments (node:util parseArgs): unknown options, missing values and repeats are usage errors. */

export { UsageError };

export interface OptionSpec {
  /** Takes a value (`--name VALUE` or `--name=VALUE`); otherwise a boolean flag. */
  readonly value?: boolean;
  /** May be given several times; values are collected in order. */
  readonly repeat?: boolean;
  readonly description: string;
  /** Shown in help as the value's name. @default 'VALUE' */
  readonly valueName?: string;
  /** A one-letter alias (`-j` for `--json`). */
  readonly short?: string;
}

export interface ParsedArgs {
  readonly options: Record<string, string | string[] | boolean | undefined>;
  readonly positionals: string[];
}

export function parseArgs(argv: readonly string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const shorts = new Map(Object.entries(spec).flatMap(([n, o]) => (o.short ? [[o.short, n]] : [])));
  let parsed;
  try {
    parsed = parseNodeArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      tokens: true,
      options: Object.fromEntries(
        Object.entries(spec).map(([name, o]) => [
          name,
          {
            type: o.value ? ('string' as const) : ('boolean' as const),
            multiple: o.repeat ?? false,
            ...(o.short ? { short: o.short } : {}),
          },
        ]),
      ),
    });
  } catch (error) {
    throw new UsageError(parseErrorMessage(error as Error & { code?: string }, spec, shorts));
  }
  const seen = new Set<string>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option') continue;
    if (!spec[token.name].repeat && seen.has(token.name))
      throw new UsageError(`--${token.name} is given twice`);
    seen.add(token.name);
  }
  return {
    options: parsed.values as Record<string, string | string[] | boolean | undefined>,
    positionals: parsed.positionals,
  };
}

/** node:util's parse errors, said in this CLI's words. */
function parseErrorMessage(
  error: Error & { code?: string },
  spec: Record<string, OptionSpec>,
  shorts: Map<string, string>,
): string {
  const quoted = /'(-[^' ,]+)/.exec(error.message)?.[1] ?? '';
  const long = /'(?:-[A-Za-z], )?--([A-Za-z0-9-]+)/.exec(error.message)?.[1] ?? shorts.get(quoted.slice(1));
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return quoted.startsWith('--')
        ? `unknown option ${quoted.split('=')[0]}`
        : `unknown option ${quoted || '?'} (put -- before an argument that starts with -)`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (long && spec[long]?.value) return `--${long} needs a value`;
      if (long) return `--${long} takes no value`;
      return 'an option has a bad value';
    default:
      return error.message;
  }
}

export function optionHelp(spec: Record<string, OptionSpec>): string {
  const rows = Object.entries(spec).map(([name, o]) => [
    `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.valueName ?? 'VALUE'}` : ''}`,
    o.description,
  ]);
  const width = Math.max(0, ...rows.map(([l]) => l.length));
  return rows.map(([l, d]) => `  ${l.padEnd(width)}  ${d}`).join('\n');
}

/**
 * Parses a whole number, or throws a UsageError naming it: `label` is how the operator wrote it
 * (`--items` for an option, `N` for a positional). Without a max the message gives only the minimum.
 */
export function intOption(
  value: unknown,
  label: string,
  options: { min?: number; max?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const min = options.min ?? 0;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  const n = Number(value);
  const name = /^[a-z]/.test(label) ? `--${label}` : label;
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value) || n < min || n > max)
    throw new UsageError(
      `${name} must be a whole number ${options.max === undefined ? `of at least ${min}` : `from ${min} to ${max}`}, got ${JSON.stringify(value)}`,
    );
  return n;
}
