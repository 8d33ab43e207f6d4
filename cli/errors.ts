/**
 * The CLI's errors and how any error reads to an operator: one line, `<what is wrong>; <what to do>`,
 * with no class names and no errno codes. Exit 2 for bad input (flags, files, state, configuration),
 * 1 for an operation that ran and failed.
 */

/** Bad usage or bad input: exit 2. The message says what is wrong and, after "; ", what to do. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** What an errno code means, in words. */
const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'does not exist',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'already exists',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory, not a file',
  ENOTEMPTY: 'directory is not empty',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'name too long',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'timed out',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  EHOSTUNREACH: 'host unreachable',
  ENOTFOUND: 'host not found',
};

/** Errno codes that mean the operator's input (a path, a directory) is wrong rather than an operation failing. */
const BAD_INPUT_ERRNO = new Set(['ENOENT', 'EACCES', 'EPERM', 'EEXIST', 'ENOTDIR', 'EISDIR', 'EROFS']);

/** `code` in words, or undefined when it is not an errno code we know. */
export function errnoWords(code: unknown): string | undefined {
  return typeof code === 'string' ? ERRNO_WORDS[code] : undefined;
}

/** `path: permission denied` for a Node.js system error, else the message without its errno prefix. */
export function describeSystemError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  const words = errnoWords(e?.code);
  if (words && e.path) return `${e.path}: ${words}`;
  if (words) return words;
  return stripPrefixes(e instanceof Error ? e.message : String(error));
}

/**
 * Removes `SomeError: ` and `EEXIST: ` prefixes that name a class or a code instead of the problem,
 * and says the errno codes inside the message (`connect ECONNREFUSED 127.0.0.1:9`) in words.
 */
export function stripPrefixes(message: string): string {
  let m = message;
  for (;;) {
    const match = /^([A-Z][A-Za-z]*Error|E[A-Z]{2,}): /.exec(m);
    if (!match) break;
    m = m.slice(match[0].length);
  }
  return m
    .replace(
      /\b(?:connect |read |write |getaddrinfo )?(E[A-Z]{3,})\b/g,
      (all, code: string) => ERRNO_WORDS[code] ?? all,
    )
    .replace(/\b[A-Z][A-Za-z]+Error: /g, '');
}

/** Names of errors whose message already reads well and that mean bad input (exit 2). */
const BAD_INPUT_NAMES = new Set([
  'UsageError',
  'NoLocalClusterError',
  'LocalStateError',
  'TopologyValidationError',
  'TopologySourceError',
  'TopologyNotFoundError',
  'InvalidKeyError',
  'KeyTooLongError',
  'ValueTooLargeError',
  'InvalidOptionError',
  'MemcachedUnavailableError',
]);

export interface DescribedError {
  /** One line: `<what is wrong>; <what to do>` (without the `astaire <command>: ` prefix). */
  readonly message: string;
  readonly badInput: boolean;
}

/** How `error` reads to an operator, and whether it was bad input (exit 2) or a failed operation (exit 1). */
export function describeError(error: unknown, command: string, failureHint?: string): DescribedError {
  const e = (error ?? {}) as Error & { code?: string; path?: string; $metadata?: unknown };
  const name = e.name ?? '';
  const message = typeof e.message === 'string' ? e.message : String(error);
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(message))
    return {
      message:
        'no AWS credentials found; configure them (aws configure, AWS_PROFILE, or an instance role) or, for a cluster on this machine, use astaire local',
      badInput: true,
    };
  if (/Region is missing/i.test(message))
    return {
      message: 'no AWS region is configured; pass --region R or set AWS_REGION',
      badInput: true,
    };
  if (name === 'ExpiredTokenException' || name === 'UnrecognizedClientException')
    return {
      message: 'the AWS credentials were refused (expired or not valid); refresh them and run it again',
      badInput: true,
    };
  if (name === 'AccessDeniedException' || name === 'AccessDenied')
    return {
      message: `AWS denied the request (${stripPrefixes(message)}); use credentials allowed to do it`,
      badInput: true,
    };
  if (errnoWords(e.code))
    return {
      message: `${describeSystemError(e)}; check the path and its permissions`,
      badInput: BAD_INPUT_ERRNO.has(e.code!),
    };
  const text = stripPrefixes(message).replace(/\s+/g, ' ').trim();
  if (BAD_INPUT_NAMES.has(name))
    return { message: text.includes('; ') ? text : `${text}; see astaire ${command} --help`, badInput: true };
  return {
    message: text.includes('; ') ? text : `${text}; ${failureHint ?? `see astaire ${command} --help`}`,
    badInput: false,
  };
}
