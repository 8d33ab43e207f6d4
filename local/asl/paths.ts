import { StatesError, StatesErrors } from './errors';

/**
 * JSONPath as the Amazon States Language uses it (https://states-language.net/spec.html#path):
 * `$` is the state's input, `$$` the context object. This interpreter takes the Reference Path
 * subset (https://states-language.net/spec.html#ref-paths): `.name`, `['name']` and `[index]`
 * segments, each selecting one node. Wildcards, filters, slices and `..` are refused when the
 * definition is loaded, so a definition that needs them fails at once instead of running wrongly.
 */
export interface ParsedPath {
  readonly text: string;
  /** `$$...`: the context object, not the input. */
  readonly context: boolean;
  readonly segments: readonly (string | number)[];
}

const cache = new Map<string, ParsedPath>();

/** Parses a path; throws an Error naming the unsupported part. */
export function parsePath(text: string): ParsedPath {
  const cached = cache.get(text);
  if (cached) return cached;
  if (!text.startsWith('$')) throw new Error(`path ${JSON.stringify(text)} must start with $`);
  const context = text.startsWith('$$');
  let i = context ? 2 : 1;
  const segments: (string | number)[] = [];
  while (i < text.length) {
    const c = text[i];
    if (c === '.') {
      if (text[i + 1] === '.') throw new Error(`path ${JSON.stringify(text)}: '..' is not supported`);
      let j = i + 1;
      while (j < text.length && text[j] !== '.' && text[j] !== '[') j++;
      const name = text.slice(i + 1, j);
      if (!name || name === '*')
        throw new Error(`path ${JSON.stringify(text)}: bad or wildcard segment at ${i}`);
      segments.push(name);
      i = j;
    } else if (c === '[') {
      const end = text.indexOf(']', i);
      if (end < 0) throw new Error(`path ${JSON.stringify(text)}: unclosed [`);
      const inner = text.slice(i + 1, end).trim();
      const quoted = /^'([^']*)'$/.exec(inner) ?? /^"([^"]*)"$/.exec(inner);
      if (quoted) segments.push(quoted[1]!);
      else if (/^\d+$/.test(inner)) segments.push(Number(inner));
      else
        throw new Error(
          `path ${JSON.stringify(text)}: [${inner}] is not supported (only [index] and ['name'])`,
        );
      i = end + 1;
    } else throw new Error(`path ${JSON.stringify(text)}: unexpected ${JSON.stringify(c)} at ${i}`);
  }
  const parsed = { text, context, segments };
  cache.set(text, parsed);
  return parsed;
}

/** The node a path selects, if any (a missing key or index is "not found", never undefined data). */
export function readPath(
  path: ParsedPath,
  input: unknown,
  context: unknown,
): { found: true; value: unknown } | { found: false } {
  let node = path.context ? context : input;
  for (const segment of path.segments) {
    if (typeof segment === 'number') {
      if (!Array.isArray(node) || segment >= node.length) return { found: false };
      node = node[segment];
    } else {
      if (!isObject(node) || !Object.prototype.hasOwnProperty.call(node, segment)) return { found: false };
      node = node[segment];
    }
  }
  return { found: true, value: node };
}

/**
 * The node a path selects; a path that selects nothing fails the state with States.Runtime, as
 * the AWS developer guide says of InputPath, Parameters and OutputPath that do not match.
 */
export function selectPath(text: string, input: unknown, context: unknown, field: string): unknown {
  const result = readPath(parsePath(text), input, context);
  if (!result.found)
    throw new StatesError(
      StatesErrors.Runtime,
      `${field}: the JSONPath ${text} could not be found in the input ${preview(text.startsWith('$$') ? context : input)}`,
    );
  return result.value;
}

/**
 * ResultPath (https://states-language.net/spec.html#filters): where the state's result goes in its
 * raw input. `null` discards the result (the output is the raw input), `$` replaces the input, and a
 * deeper path is set on a copy of the input, creating the objects it names that are missing; a path through a
 * value that is not an object fails with States.ResultPathMatchFailure.
 */
export function applyResultPath(
  rawInput: unknown,
  resultPath: string | null | undefined,
  result: unknown,
): unknown {
  if (resultPath === null) return rawInput;
  const path = parsePath(resultPath ?? '$');
  if (path.context)
    throw new StatesError(StatesErrors.Runtime, `ResultPath ${resultPath} may not name the context`);
  if (path.segments.length === 0) return result;
  const fail = () =>
    new StatesError(
      StatesErrors.ResultPathMatchFailure,
      `Unable to apply ResultPath ${resultPath} to input ${preview(rawInput)}`,
    );
  // Copy only the objects along the path: the interpreter never mutates state data, so the rest is shared.
  const set = (node: unknown, k: number): unknown => {
    const segment = path.segments[k]!;
    const last = k === path.segments.length - 1;
    if (typeof segment === 'number') {
      if (!Array.isArray(node) || segment >= node.length) throw fail();
      const copy = [...(node as unknown[])];
      copy[segment] = last ? result : descend(copy[segment], k);
      return copy;
    }
    if (!isObject(node)) throw fail();
    return {
      ...node,
      [segment]: last ? result : descend(node[segment] === undefined ? {} : node[segment], k),
    };
  };
  const descend = (child: unknown, k: number): unknown => {
    if (!isObject(child) && !Array.isArray(child)) throw fail();
    return set(child, k + 1);
  };
  return set(rawInput, 0);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value for a message, cut short. */
export function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}
