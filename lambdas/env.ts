import { ConfigurationError } from './errors';

/** Reads a required environment variable; a missing or empty one is a clear configuration error. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '')
    throw new ConfigurationError(`environment variable ${name} is not set (the workflow construct sets it)`);
  return value;
}

/** A required environment variable holding a positive integer. */
export function requirePositiveInt(name: string, env: NodeJS.ProcessEnv = process.env): number {
  const text = requireEnv(name, env);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new ConfigurationError(
      `environment variable ${name} must be a positive integer (got ${JSON.stringify(text)})`,
    );
  return n;
}

/**
 * A parameter name taken from the environment, as a `(cluster) => name` function for the stores.
 * The workflow serves one cluster, so the name is configured by the construct, not derived here.
 */
export function configuredName(
  variable: string,
  env: NodeJS.ProcessEnv = process.env,
): (cluster: string) => string {
  const name = requireEnv(variable, env);
  return () => name;
}
