/** A tiny, strict argument parser: unknown options and missing values are usage errors, never ignored. */

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface OptionSpec {
  /** Takes a value (`--name VALUE` or `--name=VALUE`); otherwise a boolean flag. */
  readonly value?: boolean;
  /** May be given several times; values are collected in order. */
  readonly repeat?: boolean;
  readonly description: string;
  /** Shown in help as the value's name. @default 'VALUE' */
  readonly valueName?: string;
}

export interface ParsedArgs {
  readonly options: Record<string, string | string[] | boolean | undefined>;
  readonly positionals: string[];
}

export function parseArgs(argv: readonly string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const options: Record<string, string | string[] | boolean | undefined> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const option = spec[name];
    if (!option) throw new UsageError(`unknown option --${name}`);
    if (!option.value) {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      options[name] = true;
      continue;
    }
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      value = argv[++i];
    }
    if (option.repeat) options[name] = [...((options[name] as string[] | undefined) ?? []), value];
    else if (options[name] !== undefined) throw new UsageError(`--${name} is given twice`);
    else options[name] = value;
  }
  return { options, positionals };
}

export function optionHelp(spec: Record<string, OptionSpec>): string {
  const rows = Object.entries(spec).map(([name, o]) => [
    `--${name}${o.value ? ` ${o.valueName ?? 'VALUE'}` : ''}`,
    o.description,
  ]);
  const width = Math.max(0, ...rows.map(([l]) => l.length));
  return rows.map(([l, d]) => `  ${l.padEnd(width)}  ${d}`).join('\n');
}

/** Parses a non-negative integer option, or throws a UsageError naming it. */
export function intOption(
  value: unknown,
  name: string,
  options: { min?: number; max?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const min = options.min ?? 0;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}
