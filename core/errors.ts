/**
 * Errors of the core domain. Step Functions Retry/Catch and the CLIs match on
 * `name`, so every name is set explicitly (minifiers rename classes) and is a contract.
 */
export class AstaireError extends Error {
  override readonly name: string = 'AstaireError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A topology document that does not match the schema. `field` is a JSON path such as `servers[2].address`. */
export class TopologyValidationError extends AstaireError {
  override readonly name = 'TopologyValidationError';
  constructor(
    readonly source: string,
    readonly field: string,
    readonly value: unknown,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${source}: ${field} ${reason} (got ${describeValue(value)})`, options);
  }
}

/** A topology document too large for Parameter Store (even in parts). */
export class TopologyTooLargeError extends AstaireError {
  override readonly name = 'TopologyTooLargeError';
  constructor(
    readonly cluster: string,
    readonly bytes: number,
    readonly limit: number,
    what = 'an advanced Parameter Store parameter',
  ) {
    super(`topology of cluster ${cluster} is ${bytes} bytes, over the ${limit}-byte limit of ${what}`);
  }
}

/** A topology could not be read from its file or parameter (missing, access denied, network). */
export class TopologySourceError extends AstaireError {
  override readonly name = 'TopologySourceError';
  constructor(
    readonly source: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${source}: ${message}`, options);
  }
}

/** Arguments to a core function that break its preconditions (for example an empty key). */
export class InvalidArgumentError extends AstaireError {
  override readonly name = 'InvalidArgumentError';
}

export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
